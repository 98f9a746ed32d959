"""Partials read back from ``windows.<name>``: contributions are decoded only for the slow path.

The owner merges a partial's pre-merged accumulators from its summary (origin spans, latest
event time, count); only a window that is closed or fenced needs the contributions one by one.
These tests pin that down on the wire format, and check that reading back never changes a
result: the same batches give the same windows, late events and replays as the partials that
the combiner built in memory.
"""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamapp.events import JSON
from streamapp.windows._json import WindowStateDecodeError
from streamapp.windows.accumulator import Accumulator
from streamapp.windows.combine import Partial
from streamapp.windows.declare import Aggregate
from streamapp.windows.state import Applied, PartitionWindows, WindowId
from tests.unit.windows.test_window_state import (
    HOPPING,
    TUMBLING,
    close_all,
    combine,
    ev,
)


def wire(partial: Partial) -> dict[str, JSON]:
    value = orjson.loads(orjson.dumps(partial.to_json()))
    assert isinstance(value, dict)
    return value


def read_back(partial: Partial) -> Partial:
    return Partial.from_json(wire(partial))


def with_garbage_contributions(partial: Partial) -> Partial:
    """The partial as written, but no contribution of it decodes."""
    value = wire(partial)
    value["contributions"] = ["not a contribution"] * partial.count
    return Partial.from_json(value)


def test_a_fresh_partial_is_applied_without_decoding_its_contributions() -> None:
    (partial,) = combine(TUMBLING, [ev(1_000), ev(2_000), ev(61_000)])
    state = PartitionWindows(TUMBLING)
    applied = state.apply(with_garbage_contributions(partial), now_wall_ms=0)
    assert applied.undecodable == 0 and applied.late == ()
    counts = {wid.start_ms: w.accumulator.count for wid, w in state.open_windows.items()}
    assert counts == {0: 2, 60_000: 1}
    assert state.watermark_ms is not None  # the summary's latest event time moved it


def test_a_partial_needing_the_slow_path_that_does_not_decode_is_not_applied_at_all() -> None:
    state = PartitionWindows(TUMBLING)
    for partial in combine(TUMBLING, [ev(10_000), ev(95_000)]):
        state.apply(partial, now_wall_ms=0)  # the watermark 95 000 closed [0, 60 000)
    (mixed,) = combine(TUMBLING, [ev(20_000), ev(70_000)], first_offset=2)
    applied = state.apply(with_garbage_contributions(mixed), now_wall_ms=0)
    assert applied.undecodable == 1
    assert state.open_windows[WindowId(("a",), 60_000)].accumulator.count == 1  # only 95 000


def test_a_late_event_and_fresh_events_of_one_partial() -> None:
    state = PartitionWindows(TUMBLING)
    for partial in combine(TUMBLING, [ev(10_000), ev(95_000)]):
        state.apply(partial, now_wall_ms=0)
    (mixed,) = combine(TUMBLING, [ev(20_000), ev(70_000), ev(80_000)], first_offset=2)
    applied = state.apply(read_back(mixed), now_wall_ms=0)
    (late,) = applied.late
    assert late.contribution.correlation_id == "cid-m-20000-a"
    assert state.open_windows[WindowId(("a",), 60_000)].accumulator.count == 3


def test_a_partial_written_before_the_summary_existed_is_read_in_full() -> None:
    (partial,) = combine(TUMBLING, [ev(1_000), ev(2_000)])
    value = wire(partial)
    for name in ("spans", "max_time", "n"):
        del value[name]
    old = Partial.from_json(value)
    assert old == partial
    state = PartitionWindows(TUMBLING)
    state.apply(old, now_wall_ms=0)
    assert state.open_windows[WindowId(("a",), 0)].accumulator.count == 2


def test_a_summary_that_disagrees_with_its_contributions_does_not_decode() -> None:
    (partial,) = combine(TUMBLING, [ev(1_000), ev(2_000)])
    value = wire(partial)
    value["n"] = 3
    with pytest.raises(WindowStateDecodeError, match="n differs"):
        Partial.from_json(value)


batches = st.lists(
    st.lists(
        st.tuples(st.integers(0, 400_000), st.sampled_from(["a", "b"])), min_size=1, max_size=8
    ),
    min_size=1,
    max_size=6,
)


@pytest.mark.parametrize("agg", [TUMBLING, HOPPING], ids=["tumbling", "hopping"])
@settings(max_examples=60)
@given(raw=batches, replay=st.integers(0, 5))
def test_read_back_partials_give_the_same_results_as_the_built_ones(
    agg: Aggregate, raw: list[list[tuple[int, str]]], replay: int
) -> None:
    # Event times spread over minutes, so later batches close windows and make events late;
    # one batch is delivered twice (a replay), so fenced windows take the slow path too. The
    # windows merged whole must give what applying every contribution on its own gives.
    built, back = PartitionWindows(agg), PartitionWindows(agg)
    one_by_one = EveryContributionOnItsOwn(agg)
    offset = 0
    sent: list[list[Partial]] = []
    for times in raw:
        sent.append(combine(agg, [ev(t, k) for t, k in times], first_offset=offset))
        offset += len(times)
    sent.insert(min(replay, len(sent)), sent[replay % len(sent)])
    late_built: list[tuple[str, tuple[int, ...]]] = []
    late_back: list[tuple[str, tuple[int, ...]]] = []
    late_each: list[tuple[str, tuple[int, ...]]] = []
    duplicates = [0, 0, 0]
    for partials in sent:
        a = built.apply_batch(partials, now_wall_ms=0)
        b = back.apply_batch([read_back(p) for p in partials], now_wall_ms=0)
        c = one_by_one.apply_batch(partials, now_wall_ms=0)
        late_built += _late(a)
        late_back += _late(b)
        late_each += _late(c)
        duplicates[0] += a.duplicates
        duplicates[1] += b.duplicates
        duplicates[2] += c.duplicates
    assert late_back == late_built == late_each
    assert duplicates[0] == duplicates[1] == duplicates[2]
    assert _counts(close_all(back)) == _counts(close_all(built)) == _counts(close_all(one_by_one))


class EveryContributionOnItsOwn(PartitionWindows):
    """The reference: no window merged whole, every contribution applied on its own."""

    def _split(self, partial: Partial, spans: object) -> tuple[list[int], frozenset[int]]:
        return [], frozenset(partial.windows)


def _late(applied: Applied) -> list[tuple[str, tuple[int, ...]]]:
    return [
        (x.contribution.correlation_id, tuple(w.start_ms for w in x.windows)) for x in applied.late
    ]


def _counts(windows: dict[WindowId, Accumulator]) -> dict[WindowId, tuple[int, JSON]]:
    return {wid: (acc.count, acc.to_json()) for wid, acc in windows.items()}
