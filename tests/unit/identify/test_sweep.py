"""Dedupe entries expire after twice the horizon; the sweep walks a partition a slice at a time."""

from __future__ import annotations

from streamapp.identify.dedupe import Seen
from streamapp.identify.sweep import SweepPass, sweep
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


def test_a_slice_reports_the_oldest_entry_it_kept() -> None:
    now = 100 * HOUR_MS
    entries = [
        (b"msg:a", entry(now - 49 * HOUR_MS)),  # expired: not kept
        (b"msg:b", entry(now - 30 * HOUR_MS)),
        (b"msg:c", entry(now - 2 * HOUR_MS)),
    ]
    result = sweep(entries, now_ms=now, retain_ms=48 * HOUR_MS, limit=100)
    assert result.oldest_kept_ms == now - 30 * HOUR_MS


def test_after_a_pass_the_next_waits_until_its_oldest_entry_can_expire() -> None:
    start = 100 * HOUR_MS
    retain = 48 * HOUR_MS
    sweep_pass = SweepPass(started_ms=start)
    first = sweep(
        [(b"msg:a", entry(start - 30 * HOUR_MS))], now_ms=start, retain_ms=retain, limit=1
    )
    assert first.next_from is None
    assert sweep_pass.add(first, retain) == start - 30 * HOUR_MS + retain  # 18 h from now


def test_a_pass_that_kept_nothing_waits_one_retention_for_entries_added_since() -> None:
    start = 100 * HOUR_MS
    sweep_pass = SweepPass(started_ms=start)
    result = sweep([(b"msg:old", entry(0))], now_ms=start, retain_ms=HOUR_MS, limit=10)
    assert result.expired == [b"msg:old"]
    assert sweep_pass.add(result, HOUR_MS) == start + HOUR_MS


def test_a_pass_goes_on_slice_by_slice_and_keeps_the_oldest_over_all_slices() -> None:
    now = 100 * HOUR_MS
    retain = 48 * HOUR_MS
    entries = [(f"msg:{i:02d}".encode(), entry(now - i * HOUR_MS)) for i in range(10)]
    sweep_pass = SweepPass(started_ms=now)
    first = sweep(entries, now_ms=now, retain_ms=retain, limit=6)
    assert sweep_pass.add(first, retain) is None and sweep_pass.next_from == b"msg:06"
    rest = [e for e in entries if e[0] >= b"msg:06"]
    second = sweep(rest, now_ms=now, retain_ms=retain, limit=6)
    assert sweep_pass.add(second, retain) == now - 9 * HOUR_MS + retain
