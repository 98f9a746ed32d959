from hypothesis import given
from hypothesis import strategies as st

from streamapp.windows.assign import WindowRange, closes_at_ms, window_at, windows_for
from streamapp.windows.declare import Hopping, Tumbling

times = st.integers(min_value=-(10**13), max_value=10**13)
sizes = st.integers(min_value=1, max_value=86_400)


@st.composite
def hopping(draw: st.DrawFn) -> Hopping:
    step = draw(st.integers(min_value=1, max_value=3600))
    hops = draw(st.integers(min_value=1, max_value=24))
    return Hopping(size_s=step * hops, step_s=step)


@given(times, sizes)
def test_tumbling_returns_exactly_one_aligned_window_containing_the_time(t: int, size: int) -> None:
    (w,) = windows_for(t, Tumbling(size_s=size))
    assert w.start_ms <= t < w.end_ms
    assert w.start_ms % (size * 1000) == 0
    assert w.end_ms - w.start_ms == size * 1000


@given(times, hopping())
def test_hopping_returns_size_over_step_windows_all_containing_the_time(
    t: int, window: Hopping
) -> None:
    ranges = windows_for(t, window)
    assert len(ranges) == window.size_s // window.step_s
    assert ranges == sorted(ranges)
    for w in ranges:
        assert w.start_ms <= t < w.end_ms
        assert w.start_ms % window.step_ms == 0
        assert w == window_at(w.start_ms, window)


@given(times, hopping())
def test_hopping_misses_no_window_that_contains_the_time(t: int, window: Hopping) -> None:
    ranges = windows_for(t, window)
    before = WindowRange(ranges[0].start_ms - window.step_ms, ranges[0].end_ms - window.step_ms)
    after = WindowRange(ranges[-1].start_ms + window.step_ms, ranges[-1].end_ms + window.step_ms)
    assert not before.start_ms <= t < before.end_ms
    assert not after.start_ms <= t < after.end_ms


def test_boundaries_are_half_open() -> None:
    assert windows_for(60_000, Tumbling(size_s=60)) == [WindowRange(60_000, 120_000)]
    assert windows_for(59_999, Tumbling(size_s=60)) == [WindowRange(0, 60_000)]
    assert windows_for(-1, Tumbling(size_s=60)) == [WindowRange(-60_000, 0)]
    assert windows_for(3_600_000, Hopping(size_s=3600, step_s=900)) == [
        WindowRange(900_000, 4_500_000),
        WindowRange(1_800_000, 5_400_000),
        WindowRange(2_700_000, 6_300_000),
        WindowRange(3_600_000, 7_200_000),
    ]


def test_closes_at_is_end_plus_grace() -> None:
    assert closes_at_ms(WindowRange(0, 60_000), 30_000) == 90_000
