"""A backfilled version's owner partition: holding, the two fence domains, reruns, release.

The pure pieces of :mod:`streamapp.replay` put together the way the edges do: live partials
(offsets at or after the cut, combined like the combine agent does) and backfilled partials
(:class:`PartitionBackfill` over ``[0, cut)``, possibly from a run that was killed and rerun with
other chunking) reach one :class:`PartitionWindows` in any interleaving that keeps each stream's
order. After the release its closed windows equal the windows of every event, counted once.
"""

from datetime import UTC, datetime

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from streamapp.events import Origin
from streamapp.ingest.normalised import event_from_normalised
from streamapp.replay.backfill import PartitionBackfill
from streamapp.topics import Header
from streamapp.windows.accumulator import Accumulator
from streamapp.windows.assign import windows_for
from streamapp.windows.combine import Combiner, Extractor, Partial
from streamapp.windows.declare import Aggregate, Count, DistinctUsers, Hopping, Sum
from streamapp.windows.state import PartitionWindows, WindowId

SOURCE = "events.identified"
AGG = Aggregate(
    name="spend",
    key=("properties.k",),
    window=Hopping(size_s=20, step_s=10),
    grace_s=5,
    measures=(Count(), Sum("properties.v"), DistinctUsers()),
)
FAR = 10**13


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds")


def record(t: int, key: str, value: float, user: str, seq: int) -> bytes:
    body = {
        "type": "track",
        "event": "Buy",
        "messageId": f"m{seq}",
        "userId": user,
        "timestamp": iso(t),
        "receivedAt": iso(t),
        "properties": {"k": key, "v": value},
    }
    return orjson.dumps(body)


Source = list[list[tuple[bytes, bytes]]]
"""Per source partition, the (key, value) of each record at offsets 0, 1, ..."""


def live_partials(source: Source, cuts: list[int], chunk: int) -> list[Partial]:
    out: list[Partial] = []
    for p, records in enumerate(source):
        for lo in range(cuts[p], len(records), chunk):
            combiner = Combiner(AGG)
            for offset in range(lo, min(lo + chunk, len(records))):
                key, value = records[offset]
                event = event_from_normalised(value)
                assert event is not None
                origin = Origin(SOURCE, p, offset)
                combiner.add(
                    event, correlation_id="c", size_bytes=len(value), origin=origin,
                    user_id=key.decode(),
                )  # fmt: skip
            out += combiner.drain()
    return out


def backfill_partials(source: Source, cuts: list[int], chunk: int) -> list[Partial]:
    out: list[Partial] = []
    for p, records in enumerate(source):
        core = PartitionBackfill(AGG, SOURCE, p)
        for offset in range(cuts[p]):
            key, value = records[offset]
            core.add(offset, key, value, [(Header.KIND, b"event")])
            if (offset + 1) % chunk == 0:
                out += core.drain()
        out += core.drain()
    return out


def expected(source: Source) -> dict[WindowId, Accumulator]:
    ex = Extractor.of(AGG)
    out: dict[WindowId, Accumulator] = {}
    for records in source:
        for key, value in records:
            event = event_from_normalised(value)
            assert event is not None
            key_values = ex.key_of(event)
            assert key_values is not None
            for w in windows_for(event.event_time_ms, AGG.window):
                wid = WindowId(key_values, w.start_ms)
                out.setdefault(wid, Accumulator()).add(ex.values_of(event, key.decode()))
    return out


streams = st.lists(
    st.lists(
        st.tuples(st.integers(0, 120_000), st.sampled_from("abc"), st.integers(0, 9)),
        max_size=25,
    ),
    min_size=2,
    max_size=2,
)


def build(raw: list[list[tuple[int, str, int]]]) -> Source:
    seq = 0
    source: Source = []
    for part in raw:
        records = []
        for t, k, v in part:
            records.append((f"u{v % 3}".encode(), record(t, "k" + k, float(v), f"u{v % 3}", seq)))
            seq += 1
        source.append(records)
    return source


@settings(max_examples=60, deadline=None)
@given(data=st.data(), raw=streams)
def test_backfill_plus_live_after_release_equals_every_event_once(
    data: st.DataObject, raw: list[list[tuple[int, str, int]]]
) -> None:
    source = build(raw)
    cuts = [data.draw(st.integers(0, len(records))) for records in source]
    live = live_partials(source, cuts, data.draw(st.integers(1, 6)))
    first_run = backfill_partials(source, cuts, data.draw(st.integers(1, 6)))
    killed_after = data.draw(st.integers(0, len(first_run)))
    rerun = backfill_partials(source, cuts, data.draw(st.integers(1, 6)))
    backfill = first_run[:killed_after] + rerun  # a run killed, then run again from the start

    state = PartitionWindows(AGG)
    state.hold()
    queues = [list(live), list(backfill)]
    wall = 0
    while any(queues):
        which = data.draw(st.sampled_from([i for i, q in enumerate(queues) if q]))
        take = data.draw(st.integers(1, len(queues[which])))
        batch, queues[which] = queues[which][:take], queues[which][take:]
        wall += 1_000_000  # long pauses: the idle rule must not close anything while holding
        applied = state.apply_batch(batch, wall)
        assert applied.late == ()
        assert state.close_due(wall, idle_timeout_ms=1) == []
    restored = PartitionWindows.from_json(AGG, orjson.loads(orjson.dumps(state.to_json())), wall)
    assert restored.holding
    assert restored.release(wall) and not restored.holding
    restored.advance(FAR)
    closed = restored.close_due(wall, idle_timeout_ms=FAR)
    assert {c.id: _canonical(c.accumulator) for c in closed} == {
        wid: _canonical(acc) for wid, acc in expected(source).items()
    }


def _canonical(acc: Accumulator) -> object:
    """An accumulator's JSON with its users sorted (``to_json`` lists them in set order)."""
    data = dict(acc.to_json())
    users = data["users"]
    assert isinstance(users, list)
    data["users"] = sorted(str(u) for u in users)
    return data


def test_after_release_a_live_event_for_a_closed_window_is_late_again() -> None:
    state = PartitionWindows(AGG)
    state.hold()
    early = [(b"u1", record(1_000, "ka", 1.0, "u1", 0))]
    later = [(b"u1", record(100_000, "ka", 1.0, "u1", 1))]
    for p in live_partials([later], [0], 1):
        state.apply(p, 0)
    # held: the older window is not closed, so the backfilled early event counts
    for p in backfill_partials([early], [1], 1):
        assert state.apply(p, 0).late == ()
    assert state.close_due(0, FAR) == []
    state.release(0)
    closed = state.close_due(0, FAR)
    assert {c.window.start_ms for c in closed} == {-10_000, 0}
    straggler = [(b"u1", record(2_000, "ka", 1.0, "u1", 2))]
    combiner = Combiner(AGG)
    event = event_from_normalised(straggler[0][1])
    assert event is not None
    combiner.add(event, correlation_id="c", size_bytes=1, origin=Origin(SOURCE, 0, 5))
    assert len(state.apply(combiner.drain()[0], 0).late) == 1


def test_a_backfill_of_packed_records_counts_each_item_once_across_reruns() -> None:
    from types import SimpleNamespace

    from streamapp.packed import Packer, unpack_message

    source = build([[(1_000 * i, "abc"[i % 3], i) for i in range(12)], []])
    packer = Packer(1)
    for key, value in source[0]:
        packer.add(key, value, [(Header.KIND, b"event")])
    packer_records = packer.drain()
    assert len(packer_records) == 1  # all 12 events in one record, items 0..11

    def run() -> list[Partial]:
        core = PartitionBackfill(AGG, SOURCE, 0)
        for offset, (_, value, headers) in enumerate(packer_records):
            msg = SimpleNamespace(
                topic=SOURCE, partition=0, offset=offset, key=None, value=value,
                headers=headers, timestamp=0,
            )  # fmt: skip
            for i in unpack_message(msg):
                core.add(i.offset, i.key, i.value, i.headers, i.item)
        assert core.tally.counted == 12
        return core.drain()

    first = run()
    assert len({c.origin_position for p in first for c in p.contributions}) == 12
    state = PartitionWindows(AGG)
    state.hold()
    assert sum(state.apply(p, now_wall_ms=0).duplicates for p in first) == 0
    assert sum(state.apply(p, now_wall_ms=0).duplicates for p in run()) == 12  # a rerun
    assert state.release(0)
    state.advance(FAR)
    closed = state.close_due(0, idle_timeout_ms=FAR)
    assert {c.id: _canonical(c.accumulator) for c in closed} == {
        wid: _canonical(acc) for wid, acc in expected(source).items()
    }
