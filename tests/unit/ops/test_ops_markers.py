from __future__ import annotations

import pytest

from streamapp.ops.markers import Marker, MarkerState, first_claims, read_markers
from streamapp.ops.records import Record

PENDING = Marker(MarkerState.PENDING, "run-a", 1000, "t1.events", 2, 40)


def rec(offset: int, key: str | None, value: bytes | None) -> Record:
    return Record(
        "t1.streamapp.dlq-retries", 0, offset, 0, None if key is None else key.encode(), value
    )


def test_a_marker_survives_the_round_trip() -> None:
    assert Marker.from_bytes(PENDING.to_bytes()) == PENDING
    done = PENDING.done(offset=44, at_ms=2000)
    assert (done.state, done.offset, done.at_ms, done.from_offset) == (
        MarkerState.DONE,
        44,
        2000,
        40,
    )
    assert Marker.from_bytes(done.to_bytes()) == done


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"{",
        b"[]",
        b'{"state":"maybe"}',
        b'{"state":"done","run":"r","at_ms":"1"}',
        b'{"state":"done","run":"r","at_ms":1,"topic":"t","partition":true,"from_offset":0}',
    ],
)
def test_anything_else_is_not_a_marker(raw: bytes) -> None:
    with pytest.raises(ValueError, match="not a retry marker"):
        Marker.from_bytes(raw)


def test_the_latest_value_of_a_key_wins_and_a_tombstone_forgets() -> None:
    done = PENDING.done(offset=44, at_ms=2000)
    log = read_markers(
        [
            rec(0, "0:1", PENDING.to_bytes()),
            rec(1, "0:2", PENDING.to_bytes()),
            rec(2, "0:1", done.to_bytes()),
            rec(3, "0:2", None),
            rec(4, "0:3", b"garbage"),
            rec(5, None, PENDING.to_bytes()),
        ]
    )
    assert log.get("0:1") == done
    assert log.get("0:2") is None
    assert log.get("0:3") is None and log.unreadable == {"0:3"}


def test_a_claim_belongs_to_the_first_marker_written_for_the_key() -> None:
    mine = PENDING
    theirs = Marker(MarkerState.PENDING, "run-b", 1000, "t1.events", 2, 41)
    claims = first_claims(
        [
            rec(7, "0:1", theirs.to_bytes()),
            rec(8, "0:1", mine.to_bytes()),
            rec(9, "0:2", mine.to_bytes()),
            rec(10, "0:2", theirs.to_bytes()),
            rec(11, "0:3", b"junk"),
            rec(12, "0:3", mine.to_bytes()),
        ]
    )
    assert claims == {"0:1": "run-b", "0:2": "run-a", "0:3": ""}
