"""Dedupe entries expire after twice the horizon; the sweep walks a partition a slice at a time."""

from __future__ import annotations

from streamapp.identify.dedupe import Seen
from streamapp.identify.sweep import sweep
from streamapp.state.fence import Position

HOUR_MS = 3_600_000


def entry(seen_at_ms: int) -> bytes:
    return Seen(0, Position(1, 0), seen_at_ms).to_bytes()


def test_only_entries_older_than_the_retention_are_deleted() -> None:
    now = 100 * HOUR_MS
    entries = [
        (b"msg:a", entry(now - 49 * HOUR_MS)),
        (b"msg:b", entry(now - 47 * HOUR_MS)),
        (b"msg:c", entry(now - 2 * HOUR_MS)),
        (b"msg:d", entry(now - 100 * HOUR_MS)),
    ]
    result = sweep(entries, now_ms=now, retain_ms=48 * HOUR_MS, limit=100)
    assert result.expired == [b"msg:a", b"msg:d"]
    assert result.next_from is None and result.examined == 4


def test_a_slice_stops_at_the_limit_and_says_where_to_go_on() -> None:
    entries = [(f"msg:{i:03d}".encode(), entry(0)) for i in range(10)]
    first = sweep(entries, now_ms=10 * HOUR_MS, retain_ms=HOUR_MS, limit=4)
    assert first.expired == [b"msg:000", b"msg:001", b"msg:002", b"msg:003"]
    assert first.next_from == b"msg:004"
    rest = [e for e in entries if e[0] >= first.next_from]
    second = sweep(rest, now_ms=10 * HOUR_MS, retain_ms=HOUR_MS, limit=100)
    assert len(second.expired) == 6 and second.next_from is None


def test_an_undecodable_entry_is_kept() -> None:
    result = sweep([(b"msg:x", b"not json")], now_ms=10 * HOUR_MS, retain_ms=1, limit=10)
    assert result.expired == [] and result.examined == 1
