"""The pure arithmetic of a backfill: ranges, the idle cut, --from and the progress bar."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamapp.replay.plan import (
    OffsetRange,
    all_cuts,
    backfill_range,
    idle_cut,
    parse_from,
    progress,
    render_bar,
)

NOW = 1_800_000_000_000


def test_earliest_reads_from_the_log_start_to_the_cut() -> None:
    assert backfill_range(log_start=0, from_offset=None, cut=500) == OffsetRange(0, 500)
    assert backfill_range(log_start=120, from_offset=None, cut=500) == OffsetRange(120, 500)


def test_a_from_time_starts_at_its_offset_but_never_before_the_log_start() -> None:
    assert backfill_range(log_start=0, from_offset=300, cut=500) == OffsetRange(300, 500)
    assert backfill_range(log_start=400, from_offset=300, cut=500) == OffsetRange(400, 500)


def test_a_from_time_after_the_cut_backfills_nothing() -> None:
    r = backfill_range(log_start=0, from_offset=900, cut=500)
    assert r.size == 0 and r.stop == 500


@given(st.integers(0, 1000), st.one_of(st.none(), st.integers(0, 2000)), st.integers(0, 2000))
def test_backfill_and_live_cover_every_offset_once(
    log_start: int, from_offset: int | None, cut: int
) -> None:
    """[start, cut) backfilled + [cut, end) live: each retained offset >= start exactly once."""
    cut = max(cut, log_start)
    r = backfill_range(log_start=log_start, from_offset=from_offset, cut=cut)
    end = cut + 50
    backfilled = set(range(r.start, r.stop))
    live = set(range(cut, end))
    assert not backfilled & live
    start = log_start if from_offset is None else max(log_start, from_offset)
    assert backfilled | live == set(range(min(start, cut), end))


def test_an_idle_partition_is_cut_at_its_end_only_when_nothing_is_in_flight() -> None:
    assert idle_cut(committed=40, log_start=0, end=40) == 40
    assert idle_cut(committed=39, log_start=0, end=40) is None
    assert idle_cut(committed=None, log_start=7, end=7) == 7  # never consumed, empty
    assert idle_cut(committed=None, log_start=0, end=3) is None


def test_all_cuts_needs_every_partition() -> None:
    assert all_cuts({0: 1, 1: 5, 2: 0}, 3)
    assert not all_cuts({0: 1, 2: 0}, 3)
    assert all_cuts({}, 0)


def test_from_accepts_earliest_iso_dates_and_spans() -> None:
    assert parse_from("earliest", now_ms=NOW) is None
    assert parse_from("EARLIEST", now_ms=NOW) is None
    assert parse_from("2027-01-15T10:00:00Z", now_ms=NOW) == 1_800_007_200_000
    assert parse_from("2d", now_ms=NOW) == NOW - 2 * 86_400_000
    with pytest.raises(ValueError, match="ISO-8601"):
        parse_from("yesterday", now_ms=NOW)


def test_progress_rate_and_time_left() -> None:
    view = progress(2_000, 5_000, 4.0)
    assert view.rate_per_s == 500.0
    assert view.left_s == 6.0
    assert view.fraction == 0.4
    line = render_bar(view, width=10)
    assert line.startswith("[####......]  40%")
    assert "2,000/5,000 events" in line and "500 ev/s" in line and "00:06 left" in line


def test_progress_before_any_rate_and_when_done() -> None:
    assert progress(0, 100, 0.0).left_s is None
    assert "--:-- left" in render_bar(progress(0, 100, 0.0))
    done = progress(100, 100, 2.0)
    assert done.left_s == 0.0 and done.fraction == 1.0
    empty = progress(0, 0, 0.0)
    assert empty.fraction == 1.0 and empty.left_s == 0.0
    assert "1:01:40 left" in render_bar(progress(1, 3_701, 1.0))
