from __future__ import annotations

import pytest
from aiokafka.partitioner import DefaultPartitioner

from streamapp.ops.markers import Marker, MarkerLog, MarkerState
from streamapp.ops.retry import _partition
from streamapp.ops.retry_plan import (
    IN_DOUBT_AFTER_MS,
    Copy,
    Planned,
    RetryReport,
    Selector,
    Skip,
    destination,
    plan_retry,
    report_lines,
)
from tests.unit.ops.helpers import NAMES, T0, letter

NOW = T0 + 3_600_000
BY_REASON = Selector(reason="too_large")


def test_exactly_one_way_of_choosing_letters() -> None:
    assert Selector.from_options(reason="late", correlation_id=None, everything=False).late_asked
    assert Selector.from_options(reason=None, correlation_id="c", everything=False).correlation_id
    assert Selector.from_options(reason=None, correlation_id=None, everything=True).everything
    for options in (
        {"reason": None, "correlation_id": None, "everything": False},
        {"reason": "x", "correlation_id": "c", "everything": False},
        {"reason": "x", "correlation_id": None, "everything": True},
    ):
        with pytest.raises(ValueError, match="exactly one of --reason, --cid or --all"):
            Selector.from_options(**options)  # type: ignore[arg-type]


def test_a_selector_chooses_by_reason_cid_or_everything() -> None:
    a, b = letter(1, reason="not_json", cid="c1"), letter(2, reason="too_large", cid="c2")
    assert [BY_REASON.chooses(x) for x in (a, b)] == [False, True]
    assert [Selector(correlation_id="c1").chooses(x) for x in (a, b)] == [True, False]
    assert [Selector(everything=True).chooses(x) for x in (a, b)] == [True, True]


@pytest.mark.parametrize(
    ("origin", "reason", "late_asked", "expected"),
    [
        (("t1.events", 0, 1), "too_large", False, "t1.events"),
        (("t1.events.identify", 0, 1), "missing_field", False, "t1.events.identify"),
        (("t1.events.identified", 0, 1), "identity_conflict", False, Skip.IDENTIFIED),
        (("t2.events", 0, 1), "not_json", False, Skip.FOREIGN),
        (("events", 0, 1), "not_json", False, Skip.FOREIGN),
        (None, "not_json", False, Skip.NO_ORIGIN),
        (("t1.events.identified", 0, 1), "late", False, Skip.LATE),
        (("t1.events.identified", 0, 1), "late", True, "t1.events"),
    ],
)
def test_destination(
    origin: tuple[str, int, int] | None, reason: str, late_asked: bool, expected: object
) -> None:
    x = letter(1, origin=origin, reason=reason)
    assert destination(x, NAMES, late_asked=late_asked) == expected


def test_a_plan_sends_new_letters_and_counts_done_ones() -> None:
    done = Marker(MarkerState.DONE, "r", T0, "t1.events", 0, 3, 4)
    letters = [letter(1), letter(2), letter(3, reason="not_json")]
    plan = plan_retry(letters, MarkerLog({"0:1": done}), BY_REASON, NAMES, now_ms=NOW)
    assert [p.letter.dlq_offset for p in plan.send] == [2]
    assert plan.send[0] == Planned(letters[1], "t1.events", None)
    assert [x.dlq_offset for x in plan.already] == [1]
    assert plan.skipped == ()  # not_json was not chosen: neither sent nor skipped


def test_a_pending_marker_is_resumed_only_once_it_is_in_doubt() -> None:
    young = Marker(MarkerState.PENDING, "r", NOW - IN_DOUBT_AFTER_MS + 1, "t1.events", 3, 9)
    old = Marker(MarkerState.PENDING, "r", NOW - IN_DOUBT_AFTER_MS, "t1.events", 3, 9)
    letters = [letter(1), letter(2)]
    plan = plan_retry(letters, MarkerLog({"0:1": young, "0:2": old}), BY_REASON, NAMES, now_ms=NOW)
    assert plan.skipped == ((letters[0], Skip.IN_PROGRESS),)
    assert plan.send == (Planned(letters[1], "t1.events", old),)


def test_late_letters_are_skipped_unless_asked_for_by_name() -> None:
    late = letter(1, reason="late", stage="windows-x", origin=("t1.events.identified", 1, 5))
    everything = plan_retry([late], MarkerLog(), Selector(everything=True), NAMES, now_ms=NOW)
    assert everything.skipped == ((late, Skip.LATE),)
    by_cid = plan_retry([late], MarkerLog(), Selector(correlation_id="cid-1"), NAMES, now_ms=NOW)
    assert by_cid.skipped == ((late, Skip.LATE),)
    asked = plan_retry([late], MarkerLog(), Selector(reason="late"), NAMES, now_ms=NOW)
    assert asked.send == (Planned(late, "t1.events", None),)


def test_an_unreadable_marker_leaves_the_letter_alone() -> None:
    plan = plan_retry(
        [letter(1)], MarkerLog(unreadable=frozenset({"0:1"})), BY_REASON, NAMES, now_ms=NOW
    )
    assert plan.send == () and plan.skipped[0][1] is Skip.UNREADABLE


def test_the_plan_is_in_the_order_letters_failed() -> None:
    letters = [letter(1, failed_at_ms=T0 + 9), letter(0, partition=1, failed_at_ms=T0 + 1)]
    plan = plan_retry(letters, MarkerLog(), BY_REASON, NAMES, now_ms=NOW)
    assert [p.letter.marker_key for p in plan.send] == ["1:0", "0:1"]


def test_a_copy_goes_where_the_default_partitioner_puts_its_key() -> None:
    partitioner = DefaultPartitioner()
    for key in (b"user-1", b"anon-42", b"\xff\x00"):
        planned = Planned(letter(1, key=key), "t1.events")
        assert _partition(planned, {"t1.events": 8}) == partitioner(key, list(range(8)), [])


def test_a_keyless_copy_goes_to_its_origin_partition_and_a_resumed_one_where_it_went() -> None:
    keyless = Planned(letter(1, key=None, origin=("t1.events", 5, 2)), "t1.events")
    assert _partition(keyless, {"t1.events": 8}) == 5
    assert _partition(keyless, {"t1.events": 4}) == 0  # the topic shrank (re-created)
    previous = Marker(MarkerState.PENDING, "r", T0, "t1.events", 6, 100)
    resumed = Planned(letter(1, key=b"user-1"), "t1.events", previous)
    assert _partition(resumed, {}) == 6


def test_the_report_counts_and_explains() -> None:
    a, b, c = letter(1), letter(2), letter(3, reason="late")
    report = RetryReport(
        sent=(Copy(a, "t1.events", 2, 40),),
        found=(Copy(b, "t1.events", 2, 39),),
        already=3,
        skipped=((c, Skip.LATE),),
    )
    lines = report_lines(report, events_topic="t1.events")
    assert lines[0].startswith("sent  0:1") and "t1.events/2/40" in lines[0]
    assert lines[1].startswith("found 0:2") and "interrupted" in lines[1]
    assert lines[2].startswith("skipped 1 (0:3): late letters carry the event body")
    assert "--reason late" in lines[2]
    assert lines[-1] == (
        "retry: 1 sent, 4 already retried, 1 skipped (1 completed from an interrupted run)"
    )


def test_nothing_to_do_says_so_in_numbers() -> None:
    lines = report_lines(RetryReport((), (), 2, ()), events_topic="t1.events")
    assert lines == ["retry: 0 sent, 2 already retried, 0 skipped"]
