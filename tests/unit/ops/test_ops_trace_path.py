from __future__ import annotations

import orjson
from aiokafka.partitioner import DefaultPartitioner

from streamapp.observability.trace import trace_line
from streamapp.ops.markers import Marker, MarkerLog, MarkerState
from streamapp.ops.records import Record
from streamapp.ops.trace import trace_partitions
from streamapp.ops.trace_path import (
    copy_correlation_id,
    describe,
    ordered,
    path_lines,
    path_of,
    step_from_retry,
)
from tests.unit.ops.helpers import T0, letter

CID = "m-1"


def line(stage: str, at_ms: int, detail: dict | None = None, cid: str = CID) -> Record:
    value = trace_line(
        correlation_id=cid,
        topic=f"t1.{stage}-in",
        stage=stage,
        processing_s=0.0005,
        occurred_at_ms=None,
        processed_at_ms=at_ms,
        host="box:6066",
        detail=detail,
    )
    return Record("t1.streamapp.traces", 0, at_ms - T0, at_ms, cid.encode(), value)


def test_the_path_is_ordered_by_processed_time_and_described() -> None:
    records = [
        line(
            "profiles", T0 + 9, {"kind": "event", "outcome": "applied", "user": "u1", "sent_to": []}
        ),
        line("validate", T0 + 1),
        line(
            "identify",
            T0 + 5,
            {"outcome": "user", "identified_as": ["u1"], "partition": 2, "offset": 17},
        ),
        line("validate", T0 + 2, cid="someone-else"),
    ]
    steps = path_of(CID, records, [], MarkerLog(), "t1.events.dlq")
    assert [s.stage for s in steps] == ["validate", "identify", "profiles"]
    assert steps[0].summary == "accepted on box:6066"
    assert steps[1].summary == "identified as u1 (user; partition 2 offset 17)"
    assert steps[2].summary == "applied to user u1"
    text = path_lines(steps)[1]
    assert text.startswith("2025-06-15T15:06:40.005Z  identify ")
    assert "t1.identify-in " in text and "0.000500s" in text
    assert len({line.index("0.000500s") for line in path_lines(steps)}) == 1  # aligned columns


def test_a_rejection_and_its_dead_letter_follow_each_other() -> None:
    rejected = line("validate", T0, {"rejected": "too_large", "why": "event larger than 600 B"})
    dead = letter(4, cid=CID, failed_at_ms=T0)
    done = Marker(MarkerState.DONE, "r", T0, "t1.events", 1, 3, 8)
    steps = path_of(
        CID, [rejected], [dead, letter(5, cid="other")], MarkerLog({"0:4": done}), "t1.events.dlq"
    )
    assert [s.stage for s in steps] == ["validate", "dlq"]
    assert steps[0].summary == "rejected too_large: event larger than 600 B"
    assert steps[1].summary.startswith("dead-lettered too_large by validate: event larger")
    assert "origin t1.events/2/7; letter 0:4, retried" in steps[1].summary
    assert path_lines(steps)[1].split()[3] == "-"  # no processing time for a letter


def test_other_details_are_described_too() -> None:
    assert describe(
        "identify", {"outcome": "duplicate", "identified_as": [], "partition": 1, "offset": 2}, "h"
    ) == ("duplicate: not forwarded (partition 1 offset 2)")
    assert (
        describe(
            "profiles", {"kind": "handoff", "outcome": "merged", "user": "u", "sent_to": ["v"]}, "h"
        )
        == "merged for user u (handoff); sent to v"
    )
    assert describe("windows", {}, "h") == "processed on h"
    assert describe("x", {"a": 1}, "h") == '{"a":1}'


def test_unreadable_trace_records_are_ignored() -> None:
    junk = Record("t1.streamapp.traces", 0, 1, T0, CID.encode(), b"{nope")
    other = Record("t1.streamapp.traces", 0, 2, T0, CID.encode(), orjson.dumps([1]))
    assert path_of(CID, [junk, other], [], MarkerLog(), "dlq") == []


def test_trace_lines_are_read_from_the_partition_the_producer_chose() -> None:
    partitioner = DefaultPartitioner()
    for cid in ("m-1", "t1.events/0/5", "ünïcode"):
        want = partitioner(cid.encode(), list(range(8)), [])
        assert trace_partitions(cid, list(range(8))) == [want]
    assert trace_partitions("m-1", [0, 2, 3]) == [0, 2, 3]  # ids not 0..n-1: scan them all


def test_a_retry_step_says_where_the_copy_went_and_which_id_to_follow() -> None:
    dead = letter(4, cid=CID, failed_at_ms=T0)
    done = Marker(MarkerState.DONE, "r", T0 + 60_000, "t1.events", 1, 3, 8)
    step = step_from_retry(dead, done, "big-m-1", sent_at_ms=T0 + 60_001)
    assert step.summary == (
        "letter 0:4 re-sent by dlq retry to t1.events/1/8; "
        "its path goes on as correlation id big-m-1"
    )
    accepted = line("validate", T0 + 60_001, cid="big-m-1")
    steps = ordered([*path_of("big-m-1", [accepted], [], MarkerLog(), "d"), step])
    assert [s.stage for s in steps] == ["retry", "validate"]
    assert step_from_retry(dead, done, None, sent_at_ms=0).summary.endswith("t1.events/1/8")


def test_the_copy_is_followed_by_its_message_id() -> None:
    assert copy_correlation_id(b'{"type":"track","messageId":"m-9"}') == "m-9"
    for value in (b'{"messageId":""}', b'{"messageId":5}', b"[1]", b"{nope", b"", None):
        assert copy_correlation_id(value) is None
