"""A worker running an older topologies/ than one started after it finds itself superseded."""

import logging

import pytest

from streamapp.observability.metrics import create_metrics
from streamapp.replay.control import (
    ControlState,
    Decision,
    Mode,
    decision_key,
    decision_value,
    start_key,
    start_value,
)
from streamapp.replay.superseded import SupersededWatch

Record = tuple[bytes | None, bytes | None]


def started(name: str, version: str, nonce: str) -> Record:
    return start_key(name, version), start_value(nonce, by="w", at_ms=1)


def test_a_later_start_of_another_version_supersedes() -> None:
    records = [started("agg", "v1", "old"), started("agg", "v2", "new")]
    state = ControlState.fold(records)
    assert state.superseded_by("agg", "v1", "old") == "v2"
    assert state.superseded_by("agg", "v2", "new") is None


def test_restarting_everyone_on_a_reverted_definition_is_not_flagged() -> None:
    # v1, then v2, then every worker back on v1: the latest start is v1's again.
    records = [started("agg", "v1", "a"), started("agg", "v2", "b"), started("agg", "v1", "c")]
    state = ControlState.fold(records)
    assert state.superseded_by("agg", "v1", "c") is None
    assert state.superseded_by("agg", "v2", "b") == "v1"  # a v2 worker left running is


def test_same_version_other_aggregates_and_unread_starts_do_not_count() -> None:
    decision = (decision_key("agg", "v2"), decision_value(Decision(Mode.LIVE), by="w", at_ms=1))
    records = [
        started("agg", "v1", "a"),
        decision,  # a decision is not a start: nobody runs v2 yet
        started("agg", "v1", "b"),
        started("other", "x9", "c"),
    ]
    state = ControlState.fold(records)
    assert state.superseded_by("agg", "v1", "a") is None
    assert state.superseded_by("other", "x9", "c") is None
    assert state.superseded_by("agg", "v1", "never-read") is None
    assert state.ignored == 0


def test_a_malformed_start_is_ignored() -> None:
    state = ControlState.fold([(start_key("agg", "v1"), b'{"start": 3}')])
    assert state.ignored == 1 and state.last_start == {}


def test_watch_sets_the_gauge_and_logs_at_most_once_a_minute(
    caplog: pytest.LogCaptureFixture,
) -> None:
    metrics = create_metrics()
    watch = SupersededWatch(metrics, ["agg", "other"])

    def gauge(name: str) -> float:
        value = metrics.registry.get_sample_value(
            "streamapp_topology_superseded", {"aggregate": name}
        )
        assert value is not None
        return value

    with caplog.at_level(logging.ERROR, logger="streamapp.replay.superseded"):
        watch.check([], now_s=0.0)
        assert gauge("agg") == 0 and gauge("other") == 0 and caplog.records == []
        watch.check([("agg", "v1", "v2")], now_s=1.0)
        watch.check([("agg", "v1", "v2")], now_s=30.0)
        assert gauge("agg") == 1 and gauge("other") == 0
        assert len(caplog.records) == 1
        assert "OUT OF DATE" in caplog.records[0].getMessage()
        assert "v1" in caplog.records[0].getMessage() and "v2" in caplog.records[0].getMessage()
        watch.check([("agg", "v1", "v2")], now_s=61.5)
        assert len(caplog.records) == 2
        watch.check([], now_s=62.0)
        assert gauge("agg") == 0
