"""The control log's fold: the first record of a key wins, anything else is skipped."""

from streamapp.replay.control import (
    ControlState,
    Decision,
    Mode,
    cut_key,
    cut_value,
    decision_key,
    decision_value,
    done_key,
    done_value,
)


def test_first_decision_wins_so_racing_writers_agree() -> None:
    live = decision_value(Decision(Mode.LIVE), by="worker", at_ms=1)
    backfill = decision_value(Decision(Mode.BACKFILL, "earliest"), by="replay", at_ms=2)
    key = decision_key("agg", "v1")
    assert ControlState.fold([(key, live), (key, backfill)]).decision("agg", "v1") == Decision(
        Mode.LIVE
    )
    state = ControlState.fold([(key, backfill), (key, live)])
    assert state.decision("agg", "v1") == Decision(Mode.BACKFILL, "earliest", None)
    assert state.decision("agg", "v2") is None


def test_cuts_first_per_partition_and_done() -> None:
    records = [
        (cut_key("agg", "v1", 0), cut_value(10, by="w1", at_ms=1)),
        (cut_key("agg", "v1", 1), cut_value(0, by="w1", at_ms=1)),
        (cut_key("agg", "v1", 0), cut_value(99, by="w2", at_ms=2)),  # a second cut never wins
        (cut_key("agg", "v2", 0), cut_value(5, by="w1", at_ms=1)),
        (done_key("agg", "v1"), done_value(7, at_ms=3)),
    ]
    state = ControlState.fold(records)
    assert state.cuts_of("agg", "v1") == {0: 10, 1: 0}
    assert state.cuts_of("agg", "v2") == {0: 5}
    assert state.is_done("agg", "v1") and not state.is_done("agg", "v2")


def test_records_not_understood_are_counted_and_skipped() -> None:
    state = ControlState.fold(
        [
            (None, b"{}"),
            (b"decision|agg|v1", b"not json"),
            (b"cut|agg|v1|0", b'{"offset": -1}'),
            (b"cut|agg|v1|x", b'{"offset": 3}'),
            (b"other|thing", b"{}"),
            (b"decision|agg|v1", b'{"mode": "sideways"}'),
        ]
    )
    assert state.ignored == 6
    assert state.decision("agg", "v1") is None and state.cuts_of("agg", "v1") == {}


def test_definitions_are_kept_with_the_first_decision() -> None:
    first = decision_value(Decision(Mode.LIVE), by="w", at_ms=1, definition={"name": "agg"})
    second = decision_value(Decision(Mode.LIVE), by="w", at_ms=2, definition={"name": "other"})
    plain = decision_value(Decision(Mode.LIVE), by="w", at_ms=1)
    records = [
        (decision_key("agg", "v1"), first),
        (decision_key("agg", "v1"), second),
        (decision_key("agg", "v2"), plain),
    ]
    state = ControlState.fold(records)
    assert state.definition("agg", "v1") == {"name": "agg"}
    assert state.definition("agg", "v2") is None
    assert state.decision("agg", "v2") == Decision(Mode.LIVE)
