import itertools
from collections import Counter

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamapp.events import JSON, Event, EventType, Origin
from streamapp.windows._json import WindowStateDecodeError
from streamapp.windows.accumulator import Accumulator
from streamapp.windows.assign import WindowRange, windows_for
from streamapp.windows.combine import Combiner, Extractor, Partial
from streamapp.windows.declare import Aggregate, Count, DistinctUsers, Hopping, Sum, Tumbling
from streamapp.windows.state import ClosedWindow, PartitionWindows, WindowId

NEVER_IDLE = 10**12
FAR = 10**12

TUMBLING = Aggregate(
    name="clicks",
    key=("properties.k",),
    window=Tumbling(size_s=60),
    grace_s=30,
    measures=(Count(), Sum("properties.v"), DistinctUsers()),
)
HOPPING = Aggregate(
    name="clicks_hopping",
    key=("properties.k",),
    window=Hopping(size_s=60, step_s=20),
    grace_s=10,
    measures=(Count(), Sum("properties.v"), DistinctUsers()),
)


def ev(t: int, key: str = "a", value: float = 1.0, user: str = "u1") -> Event:
    props: dict[str, JSON] = {"k": key, "v": value}
    return Event(
        type=EventType.TRACK,
        message_id=f"m-{t}-{key}",
        event_time_ms=t,
        received_at_ms=t,
        user_id=user,
        event="Click",
        properties=props,
        body={"type": "track", "event": "Click", "userId": user, "properties": props},
    )


def combine(
    agg: Aggregate, events: list[Event], first_offset: int | None = 0, partition: int = 0
) -> list[Partial]:
    combiner = Combiner(agg)
    for i, event in enumerate(events):
        origin = (
            None
            if first_offset is None
            else Origin("events.identified", partition, first_offset + i)
        )
        combiner.add(event, correlation_id=f"cid-{event.message_id}", size_bytes=100, origin=origin)
    return combiner.drain()


def expected_windows(agg: Aggregate, events: list[Event]) -> dict[WindowId, Accumulator]:
    ex = Extractor.of(agg)
    out: dict[WindowId, Accumulator] = {}
    for event in events:
        key = ex.key_of(event)
        assert key is not None
        for w in windows_for(event.event_time_ms, agg.window):
            out.setdefault(WindowId(key, w.start_ms), Accumulator()).add(ex.values_of(event))
    return out


def close_all(state: PartitionWindows) -> dict[WindowId, Accumulator]:
    state.advance(FAR)
    closed = state.close_due(0, NEVER_IDLE)
    ids = [c.id for c in closed]
    assert len(ids) == len(set(ids))
    assert not state.open_windows
    return {c.id: c.accumulator for c in closed}


event_lists = st.lists(
    st.tuples(
        st.integers(0, 9_999),  # a span shorter than every grace: nothing can be late
        st.sampled_from(["a", "b", "c"]),
        st.floats(-1e6, 1e6, allow_nan=False),
        st.sampled_from(["u1", "u2"]),
    ),
    max_size=40,
)


@pytest.mark.parametrize("agg", [TUMBLING, HOPPING], ids=["tumbling", "hopping"])
@settings(max_examples=50)
@given(data=st.data(), raw=event_lists)
def test_any_batching_and_partial_order_equals_one_by_one(
    agg: Aggregate, data: st.DataObject, raw: list[tuple[int, str, float, str]]
) -> None:
    events = [ev(t, k, v, u) for t, k, v, u in raw]
    shuffled = data.draw(st.permutations(events))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(events)), max_size=4)))
    bounds = [0, *cuts, len(events)]
    partials = [p for a, b in itertools.pairwise(bounds) for p in combine(agg, shuffled[a:b], None)]
    state = PartitionWindows(agg)
    for partial in data.draw(st.permutations(partials)):
        applied = state.apply(partial, now_wall_ms=0)
        assert applied.late == () and applied.duplicates == 0
    assert close_all(state) == expected_windows(agg, events)


wide_events = st.lists(
    st.tuples(st.integers(0, 600_000), st.sampled_from(["a", "b"])), min_size=1, max_size=60
)


@pytest.mark.parametrize("agg", [TUMBLING, HOPPING], ids=["tumbling", "hopping"])
@settings(max_examples=60)
@given(data=st.data(), raw=wide_events)
def test_windows_close_only_after_end_plus_grace_once_and_nothing_is_lost(
    agg: Aggregate, data: st.DataObject, raw: list[tuple[int, str]]
) -> None:
    events = [ev(t, k) for t, k in raw]
    state = PartitionWindows(agg)
    closed: list[ClosedWindow] = []
    late_slots: Counter[WindowId] = Counter()
    offset = 0
    while offset < len(events):
        size = data.draw(st.integers(1, 5))
        batch = events[offset : offset + size]
        watermark_before = state.watermark_ms
        result = state.apply_batch(combine(agg, batch, offset), now_wall_ms=0)
        assert result.duplicates == 0
        for late in result.late:
            for w in late.windows:
                assert watermark_before is not None
                assert w.end_ms + agg.grace_ms <= watermark_before
                late_slots[WindowId(late.key, w.start_ms)] += 1
        offset += size
        if data.draw(st.booleans()):
            for window in state.close_due(0, NEVER_IDLE):
                watermark = state.watermark_ms
                assert watermark is not None
                assert window.window.end_ms + agg.grace_ms <= watermark
                closed.append(window)
        for wid in state.open_windows:
            assert (
                not state.is_closed(wid.start_ms)
                or wid.start_ms in {w.id.start_ms for w in closed}
                or True
            )  # still open windows may be due; close_due was not called
    final = close_all(state)
    all_closed = [c.id for c in closed] + list(final)
    assert len(all_closed) == len(set(all_closed)), "a window closed twice"
    counted = {c.id: c.accumulator.count for c in closed} | {k: a.count for k, a in final.items()}
    for wid, acc in expected_windows(agg, events).items():
        assert counted.get(wid, 0) + late_slots[wid] == acc.count


def test_no_window_closes_before_watermark_reaches_end_plus_grace() -> None:
    state = PartitionWindows(TUMBLING)  # 60 s windows, 30 s grace
    for partial in combine(TUMBLING, [ev(10_000)]):
        state.apply(partial, now_wall_ms=0)
    state.advance(89_999)
    assert state.close_due(0, NEVER_IDLE) == []
    state.advance(90_000)
    (closed,) = state.close_due(0, NEVER_IDLE)
    assert closed.window == WindowRange(0, 60_000)
    assert closed.accumulator.count == 1
    assert state.close_due(0, NEVER_IDLE) == []


def test_a_late_event_is_reported_with_its_correlation_id_and_body() -> None:
    state = PartitionWindows(TUMBLING)
    for partial in combine(TUMBLING, [ev(10_000), ev(95_000)]):
        state.apply(partial, now_wall_ms=0)
    # the watermark 95 000 closed [0, 60 000): an event at 20 000 is late
    (late_partial,) = combine(TUMBLING, [ev(20_000)], first_offset=2)
    result = state.apply(late_partial, now_wall_ms=0)
    (late,) = result.late
    assert late.contribution.correlation_id == "cid-m-20000-a"
    assert orjson.loads(late.contribution.body_json)["properties"] == {"k": "a", "v": 1.0}
    assert late.contribution.origin == Origin("events.identified", 0, 2)
    assert late.windows == (WindowRange(0, 60_000),)
    assert "[0, 60000)" in late.detail
    (closed,) = state.close_due(0, NEVER_IDLE)
    assert closed.accumulator.count == 1  # the late event was not counted


def test_a_hopping_event_late_for_some_windows_counts_in_the_others() -> None:
    state = PartitionWindows(HOPPING)  # 60 s every 20 s, grace 10 s
    for partial in combine(HOPPING, [ev(100_000)]):
        state.apply(partial, now_wall_ms=0)
    # watermark 100 000: windows ending at or before 90 000 are closed
    (partial,) = combine(HOPPING, [ev(45_000)], first_offset=1)
    (late,) = state.apply(partial, now_wall_ms=0).late
    assert late.windows == (WindowRange(0, 60_000), WindowRange(20_000, 80_000))
    assert state.open_windows[WindowId(("a",), 40_000)].accumulator.count == 1


def test_events_in_one_batch_never_make_each_other_late() -> None:
    state = PartitionWindows(TUMBLING)
    partials = combine(TUMBLING, [ev(500_000, "a"), ev(1_000, "b"), ev(2_000, "a")])
    assert len(partials) == 2
    assert state.apply_batch(reversed(partials), now_wall_ms=0).late == ()
    assert state.open_windows[WindowId(("a",), 0)].accumulator.count == 1
    assert state.open_windows[WindowId(("b",), 0)].accumulator.count == 1
    # the next batch is judged against the watermark the first one left
    (late,) = state.apply_batch(combine(TUMBLING, [ev(3_000, "b")], 3), now_wall_ms=0).late
    assert late.key == ("b",)


def test_an_idle_partition_closes_its_windows_as_wall_time_passes() -> None:
    idle_ms = 10_000
    state = PartitionWindows(TUMBLING)  # [0, 60 000) closes at watermark 90 000
    for partial in combine(TUMBLING, [ev(50_000)]):
        state.apply(partial, now_wall_ms=1_000_050_000)  # event time tracks wall time
    assert state.close_due(1_000_059_999, idle_ms) == []  # not idle yet
    assert state.close_due(1_000_089_999, idle_ms) == []  # idle, watermark 89 999
    (closed,) = state.close_due(1_000_090_000, idle_ms)  # end + grace reached
    assert closed.window == WindowRange(0, 60_000)
    assert state.watermark_ms == 90_000
    # the idle-advanced watermark also makes a straggler late
    (partial,) = combine(TUMBLING, [ev(59_000)], first_offset=1)
    assert len(state.apply(partial, now_wall_ms=1_000_090_001).late) == 1


def test_a_backlog_read_after_a_restore_does_not_turn_back_the_idle_clock() -> None:
    """A restarted owner reads partials written before it stopped (older record times) after it
    restored at the wall clock; the silence measured must start at the restore, not before."""
    idle_ms = 10_000
    state = PartitionWindows(TUMBLING)
    for partial in combine(TUMBLING, [ev(50_000)]):
        state.apply(partial, now_wall_ms=1_000_050_000)
    restored = PartitionWindows.from_json(
        TUMBLING, orjson.loads(orjson.dumps(state.to_json())), 1_000_200_000
    )
    for partial in combine(TUMBLING, [ev(51_000)], first_offset=1):  # backlog, written long ago
        assert restored.apply(partial, now_wall_ms=1_000_060_000).late == ()
    assert restored.close_due(1_000_205_000, idle_ms) == []  # 5 s since the restore: not idle
    assert len(restored.close_due(1_000_240_000, idle_ms)) == 1


def test_with_no_more_traffic_windows_close_within_grace_plus_idle_timeout() -> None:
    idle_ms = 10_000
    state = PartitionWindows(TUMBLING)
    for partial in combine(TUMBLING, [ev(89_000)]):  # window [60 000, 120 000), closes 150 000
        state.apply(partial, now_wall_ms=89_000)
    assert state.close_due(89_000 + idle_ms, idle_ms) == []
    due = 120_000 + TUMBLING.grace_ms + idle_ms
    assert len(state.close_due(due, idle_ms)) == 1


def test_replayed_partials_are_fenced_per_window() -> None:
    events = [ev(1_000 * i, "a", float(i)) for i in range(15)]
    state = PartitionWindows(TUMBLING)
    for partial in combine(TUMBLING, events[:10], first_offset=0):
        state.apply(partial, now_wall_ms=0)
    for partial in combine(TUMBLING, events[:10], first_offset=0):
        assert state.apply(partial, now_wall_ms=0).duplicates == 10
    # a crash re-batches the source from offset 5: 5..9 are replays, 10..14 are new
    for partial in combine(TUMBLING, events[5:], first_offset=5):
        result = state.apply(partial, now_wall_ms=0)
        assert result.duplicates == 5
        assert result.late == ()
    assert close_all(state) == expected_windows(TUMBLING, events)


def test_a_replay_for_a_closed_window_is_a_duplicate_not_late() -> None:
    state = PartitionWindows(TUMBLING)
    batch = [ev(1_000), ev(200_000)]
    for partial in combine(TUMBLING, batch, first_offset=0):
        state.apply(partial, now_wall_ms=0)
    state.close_due(0, NEVER_IDLE)
    for partial in combine(TUMBLING, batch[:1], first_offset=0):
        result = state.apply(partial, now_wall_ms=0)
        assert (result.late, result.duplicates) == ((), 1)


def test_a_late_event_of_one_key_is_late_although_another_key_was_further_along() -> None:
    # One combine batch sends each key's partial with offsets from all of its range: key "b"
    # applied offsets up to 3 first, then key "a"'s late event at offset 2 arrives. It is late
    # (dead-lettered), not a replay (the partition-wide mark once dropped it silently).
    state = PartitionWindows(TUMBLING)
    for partial in combine(TUMBLING, [ev(10_000, key="a"), ev(95_000, key="a")], first_offset=0):
        state.apply(partial, now_wall_ms=0)
    (b_partial,) = combine(TUMBLING, [ev(96_000, key="b")], first_offset=3)
    state.apply(b_partial, now_wall_ms=0)
    (a_late,) = combine(TUMBLING, [ev(20_000, key="a")], first_offset=2)
    result = state.apply(a_late, now_wall_ms=0)
    assert result.duplicates == 0
    (late,) = result.late
    assert late.contribution.origin == Origin("events.identified", 0, 2)


def test_closed_windows_stay_pending_until_confirmed() -> None:
    state = PartitionWindows(TUMBLING)
    state.apply_batch(combine(TUMBLING, [ev(1_000, "a"), ev(2_000, "b"), ev(200_000, "a")]), 0)
    closed = state.close_due(0, NEVER_IDLE)
    assert [c.id for c in closed] == [WindowId(("a",), 0), WindowId(("b",), 0)]
    assert [c.id for c in state.pending()] == [c.id for c in closed]
    assert not any(c.reemit for c in closed)
    state.confirm_emitted([closed[0].id])
    assert [c.id for c in state.pending()] == [closed[1].id]

    restored = PartitionWindows.from_json(
        TUMBLING, orjson.loads(orjson.dumps(state.to_json())), now_wall_ms=5
    )
    (again,) = restored.pending()
    assert again.id == closed[1].id and again.reemit
    # a pending window keeps its values (users as their count: all the sink needs)
    assert again.accumulator.to_json(users=False) == closed[1].accumulator.to_json(users=False)


@settings(max_examples=30)
@given(raw=wide_events, split=st.integers(0, 60))
def test_a_restore_mid_stream_changes_nothing(raw: list[tuple[int, str]], split: int) -> None:
    events = [ev(t, k) for t, k in raw]
    split = min(split, len(events))

    def run(restore: bool) -> tuple[list[ClosedWindow], list[int]]:
        state = PartitionWindows(TUMBLING)
        late = []
        for part, offset in ((events[:split], 0), (events[split:], split)):
            if restore and offset:
                data = orjson.loads(orjson.dumps(state.to_json()))
                state = PartitionWindows.from_json(TUMBLING, data, now_wall_ms=0)
            for partial in combine(TUMBLING, part, offset):
                late += [len(x.windows) for x in state.apply(partial, now_wall_ms=0).late]
        state.advance(FAR)
        return state.close_due(0, NEVER_IDLE), late

    assert run(restore=False) == run(restore=True)


def test_take_changes_reports_upserts_meta_and_deletes() -> None:
    state = PartitionWindows(TUMBLING)
    for partial in combine(TUMBLING, [ev(1_000, "a"), ev(2_000, "b")]):
        state.apply(partial, now_wall_ms=7)
    changes = state.take_changes()
    assert set(changes.upserts) == {WindowId(("a",), 0), WindowId(("b",), 0)}
    assert changes.deletes == frozenset()
    assert changes.meta["watermark_ms"] == 2_000
    assert changes.meta["aggregate_version"] == TUMBLING.version
    stored = dict(changes.upserts)
    chunks = list(changes.user_chunks.values())

    state.advance(FAR)
    state.close_due(0, NEVER_IDLE)
    changes = state.take_changes()
    assert changes.upserts == {}
    assert changes.deletes == {WindowId(("a",), 0), WindowId(("b",), 0)}
    assert isinstance(changes.meta["pending"], list) and len(changes.meta["pending"]) == 2

    # a crash after the meta write but before the deletes: pending wins over stale entries
    restored = PartitionWindows.from_parts(
        TUMBLING, changes.meta, stored.values(), now_wall_ms=0, user_chunks=chunks
    )
    assert not restored.open_windows
    assert len(restored.pending()) == 2
    assert restored.take_changes().deletes == changes.deletes


def test_window_entries_without_meta_restore_as_open() -> None:
    state = PartitionWindows(TUMBLING)
    for partial in combine(TUMBLING, [ev(1_000)]):
        state.apply(partial, now_wall_ms=0)
    changes = state.take_changes()
    restored = PartitionWindows.from_parts(
        TUMBLING,
        None,
        changes.upserts.values(),
        now_wall_ms=0,
        user_chunks=changes.user_chunks.values(),
    )
    assert restored.watermark_ms is None
    assert restored.open_windows[WindowId(("a",), 0)].accumulator.count == 1
    # its fence survived with the entry
    for partial in combine(TUMBLING, [ev(1_000)]):
        assert restored.apply(partial, now_wall_ms=0).duplicates == 1


def test_state_of_another_aggregate_version_is_refused() -> None:
    data = PartitionWindows(TUMBLING).to_json()
    with pytest.raises(WindowStateDecodeError, match="aggregate version"):
        PartitionWindows.from_json(HOPPING, data, now_wall_ms=0)


def _stream(state: PartitionWindows, users: range, first_offset: int) -> None:
    events = [ev(1_000 + i, "a", user=f"user-{i:06d}") for i in users]
    state.apply_batch(combine(TUMBLING, events, first_offset=first_offset), 0)


def test_users_go_to_chunk_records_and_a_batch_writes_only_the_chunks_it_grew() -> None:
    state = PartitionWindows(TUMBLING)
    _stream(state, range(5_000), first_offset=0)
    first = state.take_changes()
    wid = WindowId(("a",), 0)
    assert sorted(k for _, k in first.user_chunks) == [0, 1, 2]  # 2,000 users per chunk
    entry = first.upserts[wid]
    assert entry["users"] == 5_000
    assert "users" not in orjson.loads(orjson.dumps(entry))["accumulator"]
    assert len(orjson.dumps(entry)) < 1_000  # the entry no longer grows with its users

    _stream(state, range(5_000, 5_010), first_offset=5_000)  # 10 new users
    second = state.take_changes()
    assert list(second.user_chunks) == [(wid, 2)]
    _stream(state, range(10), first_offset=5_010)  # only users already counted
    third = state.take_changes()
    assert third.user_chunks == {}

    chunks = [*first.user_chunks.values(), *second.user_chunks.values()]
    restored = PartitionWindows.from_parts(
        TUMBLING, third.meta, third.upserts.values(), now_wall_ms=0, user_chunks=chunks
    )
    window = restored.open_windows[wid]
    assert window.accumulator.users.keys() == {f"user-{i:06d}" for i in range(5_010)}
    assert window.accumulator.value_of(DistinctUsers()) == 5_010
    assert window.accumulator.count == 5_020


def test_a_chunk_ahead_of_its_entry_after_a_crash_is_cut_to_the_entry() -> None:
    state = PartitionWindows(TUMBLING)
    _stream(state, range(100), first_offset=0)
    durable = state.take_changes()
    _stream(state, range(100, 150), first_offset=100)
    lost = state.take_changes()  # its chunk survived the crash, its entry did not
    chunks = [*durable.user_chunks.values(), *lost.user_chunks.values()]
    restored = PartitionWindows.from_parts(
        TUMBLING, durable.meta, durable.upserts.values(), now_wall_ms=0, user_chunks=chunks
    )
    window = restored.open_windows[WindowId(("a",), 0)]
    assert window.accumulator.value_of(DistinctUsers()) == 100
    # the replay of the lost batch applies it once, and rewrites the chunk it grew
    _stream(restored, range(100, 150), first_offset=100)
    assert window.accumulator.value_of(DistinctUsers()) == 150
    assert [k for _, k in restored.take_changes().user_chunks] == [0]


def test_a_missing_chunk_is_a_decode_error() -> None:
    state = PartitionWindows(TUMBLING)
    _stream(state, range(10), first_offset=0)
    changes = state.take_changes()
    with pytest.raises(WindowStateDecodeError):
        PartitionWindows.from_parts(TUMBLING, changes.meta, changes.upserts.values(), 0)


def test_format_2_entries_with_users_inline_still_restore_and_move_to_chunks() -> None:
    state = PartitionWindows(TUMBLING)
    _stream(state, range(30), first_offset=0)
    legacy = state.to_json()  # users inline, as format 2 wrote window entries
    meta = legacy["meta"]
    assert isinstance(meta, dict)
    meta["format"] = 2
    restored = PartitionWindows.from_json(TUMBLING, orjson.loads(orjson.dumps(legacy)), 0)
    assert restored.open_windows[WindowId(("a",), 0)].accumulator.value_of(DistinctUsers()) == 30
    _stream(restored, range(30, 31), first_offset=30)
    changes = restored.take_changes()
    assert [k for _, k in changes.user_chunks] == [0]
    assert changes.upserts[WindowId(("a",), 0)]["users"] == 31


def test_pending_windows_keep_the_count_of_their_users_not_the_users() -> None:
    state = PartitionWindows(TUMBLING)
    _stream(state, range(3_000), first_offset=0)
    state.advance(FAR)
    (closed,) = state.close_due(0, NEVER_IDLE)
    meta = state.take_changes().meta
    assert len(orjson.dumps(meta)) < 2_000
    restored = PartitionWindows.from_parts(TUMBLING, meta, (), now_wall_ms=0)
    (again,) = restored.pending()
    assert again.accumulator.value_of(DistinctUsers()) == 3_000
    assert again.accumulator.value_of(Count()) == closed.accumulator.value_of(Count()) == 3_000


def combine_items(
    agg: Aggregate, events: list[Event], offset: int, max_bytes: int
) -> list[Partial]:
    """Every event from one packed record at ``offset`` (items 0, 1, ...), small partials."""
    combiner = Combiner(agg, max_partial_bytes=max_bytes)
    for i, event in enumerate(events):
        origin = Origin("events.identified", 0, offset)
        combiner.add(event, correlation_id=f"c{i}", size_bytes=100, origin=origin, origin_item=i)
    return combiner.drain()


def test_items_of_one_packed_record_count_once_each_across_partials() -> None:
    # One record holds 10 events of one key; combine splits them over several partials of that
    # key. Every item counts (the second partial is not a replay of the first, though it has
    # the same offset), and the whole record read again counts nothing.
    events = [ev(1_000 + i, "a", 1.0, user=f"u{i}") for i in range(10)]
    partials = combine_items(TUMBLING, events, offset=7, max_bytes=300)
    assert len(partials) > 1
    state = PartitionWindows(TUMBLING)
    assert sum(state.apply(p, now_wall_ms=0).duplicates for p in partials) == 0
    again = combine_items(TUMBLING, events, offset=7, max_bytes=300)
    assert sum(state.apply(p, now_wall_ms=0).duplicates for p in again) == 10
    assert close_all(state) == expected_windows(TUMBLING, events)


def test_fence_marks_of_format_3_are_read_as_item_0_of_their_record() -> None:
    state = PartitionWindows(TUMBLING)
    for partial in combine(TUMBLING, [ev(1_000), ev(2_000)], first_offset=10):
        state.apply(partial, now_wall_ms=0)
    state.take_changes()
    saved = orjson.loads(orjson.dumps(state.to_json()))
    assert '"applied_at"' in orjson.dumps(saved).decode()
    legacy = orjson.loads(orjson.dumps(saved).replace(b'"applied_at"', b'"applied"'))
    for entry in [legacy["meta"], *legacy["open"]]:  # format 3 kept offsets, not positions
        for mark in entry["applied"]:
            mark[-1] = mark[-1] >> 20
    legacy["meta"]["format"] = 3
    restored = PartitionWindows.from_json(TUMBLING, legacy, 0)
    (old,) = combine(TUMBLING, [ev(2_000)], first_offset=11)
    assert restored.apply(old, now_wall_ms=0).duplicates == 1
    (new,) = combine(TUMBLING, [ev(3_000)], first_offset=12)
    assert restored.apply(new, now_wall_ms=0).duplicates == 0


@settings(max_examples=60)
@given(data=st.data(), raw=event_lists)
def test_partials_of_several_origin_partitions_are_exact_when_a_replay_groups_them_otherwise(
    data: st.DataObject, raw: list[tuple[int, str, float, str]]
) -> None:
    """combine builds one partial per key across a batch's input partitions; after a crash the
    replayed records may come in other batches, one partition at a time: each event counts once."""
    events = [ev(t, k, v, u) for t, k, v, u in raw]
    sides = data.draw(st.lists(st.integers(0, 1), min_size=len(events), max_size=len(events)))
    streams: dict[int, list[Event]] = {0: [], 1: []}
    for event, side in zip(events, sides, strict=True):
        streams[side].append(event)

    def combined(ranges: dict[int, tuple[int, int]]) -> list[Partial]:
        combiner = Combiner(TUMBLING)
        for partition, (first, end) in ranges.items():
            for offset in range(first, end):
                combiner.add(
                    streams[partition][offset],
                    correlation_id=f"c-{partition}-{offset}",
                    size_bytes=100,
                    origin=Origin("events.identified", partition, offset),
                )
        return combiner.drain()

    cut = {p: data.draw(st.integers(0, len(streams[p]))) for p in (0, 1)}
    replay_from = {p: data.draw(st.integers(0, cut[p])) for p in (0, 1)}
    state = PartitionWindows(TUMBLING)
    for partial in combined({0: (0, cut[0]), 1: (0, cut[1])}):  # one batch, both partitions
        assert state.apply(partial, now_wall_ms=0).duplicates == 0
    duplicates = 0
    for partition in (1, 0):  # the replay: each partition in a batch of its own
        for partial in combined({partition: (replay_from[partition], len(streams[partition]))}):
            applied = state.apply(partial, now_wall_ms=0)
            assert applied.late == ()
            duplicates += applied.duplicates
    assert duplicates == sum(cut[p] - replay_from[p] for p in (0, 1))
    assert close_all(state) == expected_windows(TUMBLING, events)
