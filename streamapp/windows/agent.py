"""Stage ⑤ windows: ``events.identified`` -> ``windows.<name>`` (partials) -> owner -> ⑥ sink.

Two agents per worker, one table per aggregate version:

* **combine** reads ``events.identified`` (events only: hand-offs, merges and forwarded copies
  are not new events), skips the copies an identify replay re-sent (the replay fence, progress in
  table ``windows-fence``), and pre-aggregates each batch into one partial per aggregate key
  (:class:`~streamapp.windows.combine.Combiner`), sent to ``windows.<name>`` keyed by the
  aggregate key. Each partial still lists its events' origins, so the owner fences per event.
* **windows-<name>** owns a partition of ``windows.<name>``: it merges partials into open windows
  (:class:`~streamapp.windows.state.PartitionWindows`), dead-letters late events (reason
  ``late``), closes windows on the event-time watermark and emits them to the sink, following the
  commit order in that class's docstring. A timer sends a *tick* record to each owned partition
  every second: ticks carry wall time through the same ordered stream, so idle partitions close
  their windows and a replay after a crash sees the same ticks at the same times.

Every partial carries the version of the definition that computed it (header
``streamapp-aggregate-version``); an owner skips other versions' partials (left unread before a
change). A version being backfilled (:mod:`streamapp.replay`) gets from combine only the events at
or after its cut per input partition, and its owner partitions hold (close nothing) until the
backfill's done-marker reaches them.

While a *changed* aggregate's new version holds, the version it replaces keeps running next to it
(:mod:`streamapp.replay.previous`): rebuilt from the definition on the control log, with its own
table, fed by combine and applied by the same owner agent (partials are told apart by their
version header), closing and emitting as before, and answering ``GET /aggregates``. An owner
partition retires it (stops applying, closing and serving it) once the new version released there.

Table ``windows-<name>-<version>`` keys: ``w|<record key>`` open window entries, ``m|<partition>``
the partition's meta (watermark, fence, outbox), ``c|<record key>`` closed windows as emitted (what
``GET /aggregates`` answers for closed windows).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from streamapp import provision
from streamapp.agents import declare_partitioned_agent, header
from streamapp.app import Runtime
from streamapp.events import Origin, Reason
from streamapp.replay.control import BACKFILL_DONE
from streamapp.replay.gate import BackfillGate
from streamapp.replay.previous import previous_for
from streamapp.replay.superseded import SupersededWatch
from streamapp.sink.avro import record_key
from streamapp.sink.publish import SinkWriter
from streamapp.state import durable
from streamapp.state.fence import Verdict
from streamapp.state.tables import FencedBatch, create_table, raw_topic
from streamapp.topics import Header
from streamapp.windows.combine import Combiner, Partial
from streamapp.windows.declare import Aggregate
from streamapp.windows.load import load_topologies
from streamapp.windows.source import counted_event
from streamapp.windows.state import ClosedWindow, LateEvent, PartitionWindows, WindowId

log = logging.getLogger(__name__)

COMBINE = "combine"
FENCE_TABLE = "windows-fence"
TICK = b"tick"
TICK_INTERVAL_S = 1.0
REFRESH_EVERY_TICKS = 5
"""While a previous version is fed, the control log is read again this often (in ticks) to learn
that the backfill is done, so combine stops computing the previous version's partials."""
SUPERSEDED_CHECK_EVERY_TICKS = 10
"""Otherwise, this often: to find this worker superseded by one started with newer topologies."""
WINDOW_PREFIX = b"w|"
CLOSED_PREFIX = b"c|"
FAUST_KEYS = b"__faust"


def meta_key(partition: int) -> bytes:
    """The key of a partition's meta entry."""
    return f"m|{partition}".encode()


def window_key(wid: WindowId) -> bytes:
    """The key of an open window's entry."""
    return WINDOW_PREFIX + record_key(wid.key, wid.start_ms)


def partial_key(key: Sequence[str]) -> bytes:
    """The record key of a partial on ``windows.<name>`` (decides the owning partition)."""
    return orjson.dumps(list(key))


def version_headers(version: str) -> list[tuple[str, bytes]]:
    """The headers of a partial computed by ``version`` of its aggregate."""
    return [(Header.AGGREGATE_VERSION, version.encode())]


def partition_items(
    table: Any, partition: int, prefix: bytes = b""
) -> Iterator[tuple[bytes, bytes]]:
    """The (key, value) pairs of one table partition's RocksDB, from ``prefix`` on, in key order."""
    db = table.data._db_for_partition(partition)
    for key, value in db.items(from_key=prefix) if prefix else db.items():
        if not isinstance(key, bytes) or not isinstance(value, bytes):
            continue
        if prefix and not key.startswith(prefix):
            break
        if key.startswith(FAUST_KEYS):
            continue
        yield key, value


@dataclass(slots=True)
class AggregateRuntime:
    """One aggregate on this worker: its table, topic, sink and the loaded partitions."""

    aggregate: Aggregate
    table: Any
    topic: Any
    sink: SinkWriter
    gate: BackfillGate
    states: dict[int, PartitionWindows] = field(default_factory=dict)
    previous: AggregateRuntime | None = None
    """The version this one replaces, kept running and answering while this one is backfilled."""
    is_previous: bool = False

    @property
    def name(self) -> str:
        """The aggregate's name."""
        return self.aggregate.name

    @property
    def table_name(self) -> str:
        """The name of this version's table."""
        return table_name(self.aggregate)

    @property
    def backfilling(self) -> bool:
        """Whether this version's history comes from a backfill (control log loaded first).

        A previous version is never: it runs live, past whatever cut it once had.
        """
        if self.is_previous:
            return False
        return self.gate.backfilling(self.aggregate.name, self.aggregate.version)

    @property
    def feeds_previous(self) -> bool:
        """Whether combine still computes the previous version's partials (backfill not done)."""
        prev = self.previous
        return prev is not None and not self.gate.is_done(self.name, self.aggregate.version)

    def answering(self, partition: int, now_ms: int) -> AggregateRuntime:
        """The version that answers for ``partition``: the previous one while this one holds."""
        if self.previous is not None and self.load(partition, now_ms).holding:
            return self.previous
        return self

    def load(self, partition: int, now_ms: int) -> PartitionWindows:
        """The windows of ``partition``: cached, else restored from the table."""
        state = self.states.get(partition)
        if state is None:
            meta_raw = self.table.data._db_for_partition(partition).get(meta_key(partition))
            meta = orjson.loads(meta_raw) if isinstance(meta_raw, bytes) else None
            entries = [
                orjson.loads(v) for _, v in partition_items(self.table, partition, WINDOW_PREFIX)
            ]
            state = PartitionWindows.from_parts(self.aggregate, meta, entries, now_ms)
            if meta is None and self.backfilling:
                state.hold()  # a new partition of a backfilled version: hold until its marker
            self.states[partition] = state
        return state


def table_name(aggregate: Aggregate) -> str:
    """The table of one version of an aggregate."""
    return f"windows-{aggregate.name}-{aggregate.version}"


def install(rt: Runtime) -> None:
    """Load ``topologies/``, then declare the combine agent and one owner agent per aggregate."""
    aggregates = load_topologies(rt.settings.topologies_dir)
    rt.aggregate_names = tuple(a.name for a in aggregates)
    gate = BackfillGate(
        rt.settings,
        rt.worker_id,
        [(a.name, a.version) for a in aggregates],
        {(a.name, a.version): a.definition() for a in aggregates},
    )
    runtimes = [_install_owner(rt, aggregate, gate) for aggregate in aggregates]
    rt.aggregates = {a.name: a for a in runtimes}
    if runtimes:
        _install_combine(rt, runtimes, gate)
        _install_ticks(rt, runtimes, gate)
        rt.start_hooks.append(lambda: _attach_previous(rt, runtimes, gate))

    async def forget_loaded(app: Any, *args: Any, signal: Any = None, **kwargs: Any) -> None:
        """A rebalance may move partitions: reload window state from the table next time."""
        for agg in runtimes:
            agg.states.clear()
            if agg.previous is not None:
                agg.previous.states.clear()

    signal: Any = rt.app.on_partitions_revoked
    signal.connect(forget_loaded)


async def _cuts(
    gate: BackfillGate, aggregates: list[AggregateRuntime], partition: int, first_offset: int
) -> list[int]:
    """Per aggregate, the first offset of ``partition`` it takes live (0: all of them).

    For a backfilled version the cut is durable on the control log before this returns, so no
    partial of the partition reaches the version before its cut is fixed.
    """
    await gate.ensure_loaded()
    cuts = []
    for agg in aggregates:
        if agg.backfilling:
            name, version = agg.aggregate.name, agg.aggregate.version
            cuts.append(await gate.cut(name, version, partition, first_offset))
        else:
            cuts.append(0)
    return cuts


def _fed(aggregates: list[AggregateRuntime]) -> list[AggregateRuntime]:
    """The versions combine computes partials for.

    Every current one, and each previous one until its successor's backfill is done.
    """
    fed = list(aggregates)
    for agg in aggregates:
        if agg.previous is not None and agg.feeds_previous:
            fed.append(agg.previous)
    return fed


def _install_combine(rt: Runtime, aggregates: list[AggregateRuntime], gate: BackfillGate) -> None:
    app, names, metrics = rt.app, rt.settings.topics, rt.metrics
    source = raw_topic(rt, names.events_identified)
    fence_table = create_table(rt, FENCE_TABLE, help_="windows input fence")

    async def handle_partition(events: Sequence[Any]) -> None:
        partition = events[0].message.partition
        fed = _fed(aggregates)
        cuts = await _cuts(gate, fed, partition, events[0].message.offset)
        batch = FencedBatch(fence_table, partition)
        combiners = [Combiner(a.aggregate) for a in fed]
        for fevent in events:
            msg = fevent.message
            if batch.judge(msg) is Verdict.UPSTREAM_DUPLICATE:
                metrics.replays_skipped.labels(COMBINE).inc()
                continue
            value = msg.value or b""
            event = counted_event(msg.headers, value)
            if event is None:
                continue
            cid = (header(msg.headers, Header.CORRELATION_ID) or b"").decode("utf-8", "replace")
            own = Origin(msg.topic, partition, msg.offset)
            user = (msg.key or b"").decode("utf-8", "replace")
            for combiner, cut in zip(combiners, cuts, strict=True):
                if msg.offset < cut:
                    continue  # below the cut: the backfill's part (streamapp.replay)
                combiner.add(
                    event, correlation_id=cid, size_bytes=len(value), origin=own, user_id=user
                )
        producer = app.producer
        for agg, combiner in zip(fed, combiners, strict=True):
            topic = names.windows(agg.name)
            headers = version_headers(agg.aggregate.version)
            for partial in combiner.drain():
                value = orjson.dumps(partial.to_json())
                await producer.send(topic, partial_key(partial.key), value, None, None, headers)
        batch.commit()
        metrics.stage_events.labels(COMBINE).inc(len(events))

    declare_partitioned_agent(rt, source, stage=COMBINE, handle_partition=handle_partition)


def _new_runtime(
    rt: Runtime, aggregate: Aggregate, gate: BackfillGate, topic: Any, *, is_previous: bool
) -> AggregateRuntime:
    """One version's runtime: its table (registered for provisioning) and its sink writer."""
    what = "previous version of " if is_previous else ""
    table = create_table(rt, table_name(aggregate), help_=f"open windows {what}{aggregate.name}")
    sink = SinkWriter(rt, aggregate)
    return AggregateRuntime(aggregate, table, topic, sink, gate, is_previous=is_previous)


async def _attach_previous(
    rt: Runtime, aggregates: list[AggregateRuntime], gate: BackfillGate
) -> None:
    """At worker start: keep each backfilled version's predecessor running (see the docstring).

    Runs before table recovery, the last moment a table can be declared. If the control log
    cannot be read now, nothing is kept: the new versions answer with their partial state,
    marked ``backfilling``, and the agents read the log on their first batch as always.
    """
    try:
        await gate.ensure_loaded()
    except Exception:
        log.warning("control log unreadable at start: no previous versions kept", exc_info=True)
        return
    for agg in aggregates:
        if not agg.backfilling:
            continue
        chosen = previous_for(gate.state, agg.aggregate)
        label = f"{agg.name} version {agg.aggregate.version}"
        if chosen.aggregate is None:
            log.info("%s: the new version answers while backfilled (%s)", label, chosen.reason)
            continue
        prev = _new_runtime(rt, chosen.aggregate, gate, agg.topic, is_previous=True)
        specs = provision.required_topics(rt.settings, tables=[prev.table_name])
        await provision.create_topics(rt.settings, specs)
        agg.previous = prev
        log.warning("%s is backfilled: %s", label, chosen.reason)


@dataclass(slots=True)
class _Batch:
    """One owner batch of partials, sorted by the version that computed them."""

    own: list[Partial] = field(default_factory=list)
    previous: list[Partial] = field(default_factory=list)
    released: bool = False
    foreign: int = 0


def _sort_batch(events: Sequence[Any], own: bytes, previous: bytes | None) -> _Batch:
    out = _Batch()
    for fevent in events:
        msg = fevent.message
        kind = header(msg.headers, Header.KIND)
        if kind == TICK:
            continue
        if kind == BACKFILL_DONE:
            # Every backfilled partial of this partition precedes its marker (one producer,
            # in order): once the batch is applied, the backfill has passed this partition.
            out.released = out.released or msg.value == own
            continue
        made_by = header(msg.headers, Header.AGGREGATE_VERSION)
        if made_by is None or made_by == own:
            into = out.own
        elif previous is not None and made_by == previous:
            into = out.previous
        else:
            out.foreign += 1  # computed by another version of the definition (before a change)
            continue
        try:
            into.append(Partial.from_json(orjson.loads(msg.value or b"")))
        except Exception:
            log.error("undecodable partial at %s/%s/%s", msg.topic, msg.partition, msg.offset)
    return out


def _install_owner(rt: Runtime, aggregate: Aggregate, gate: BackfillGate) -> AggregateRuntime:
    app, settings, names, metrics = rt.app, rt.settings, rt.settings.topics, rt.metrics
    stage = f"windows-{aggregate.name}"
    topic = raw_topic(rt, names.windows(aggregate.name))
    agg = _new_runtime(rt, aggregate, gate, topic, is_previous=False)
    done_marker = aggregate.version.encode()
    idle_ms = int(settings.window_idle_timeout_s * 1000)
    late_reason = Reason.LATE.value

    async def dead_letter_late(partial_late: LateEvent) -> None:
        c = partial_late.contribution
        headers = [
            (Header.REASON, late_reason.encode()),
            (Header.DETAIL, partial_late.detail.encode()),
            (Header.STAGE, stage.encode()),
            (Header.CORRELATION_ID, c.correlation_id.encode()),
            (Header.FAILED_AT, str(int(time.time() * 1000)).encode()),
            (Header.AGGREGATE, aggregate.name.encode()),
        ]
        if c.origin is not None:
            headers += [
                (Header.ORIGIN_TOPIC, c.origin.topic.encode()),
                (Header.ORIGIN_PARTITION, str(c.origin.partition).encode()),
                (Header.ORIGIN_OFFSET, str(c.origin.offset).encode()),
            ]
        await app.producer.send(names.events_dlq, None, c.body_json.encode(), None, None, headers)
        metrics.late_events.labels(aggregate.name).inc()
        metrics.rejected.labels(stage, late_reason).inc()

    def persist(run: AggregateRuntime, partition: int, state: PartitionWindows) -> None:
        changes = state.take_changes()
        for wid, entry in changes.upserts.items():
            durable.put(run.table, window_key(wid), orjson.dumps(entry))
        durable.put(run.table, meta_key(partition), orjson.dumps(changes.meta))
        for wid in changes.deletes:
            durable.delete(run.table, window_key(wid))

    async def emit(
        run: AggregateRuntime, partition: int, state: PartitionWindows, closed: list[ClosedWindow]
    ) -> None:
        if not closed:
            return
        await durable.settle()  # the outbox (pending windows) is durable before the sink
        records = await run.sink.emit(closed)
        for window, record in zip(closed, records, strict=True):
            key = CLOSED_PREFIX + record_key(window.key, window.window.start_ms)
            durable.put(run.table, key, orjson.dumps(record))
            if window.reemit:
                metrics.window_reemits.labels(aggregate.name).inc()
            else:
                metrics.window_closes.labels(aggregate.name).inc()
        state.confirm_emitted(w.id for w in closed)
        durable.put(run.table, meta_key(partition), orjson.dumps(state.meta_json()))

    async def run_previous(
        prev: AggregateRuntime, partition: int, partials: list[Partial], now_ms: int, wall_ms: int
    ) -> None:
        """Run the previous version on the batch, live as before the change.

        Its late events are counted, not dead-lettered: the new version is the one of record,
        and judges them itself once it released.
        """
        state = prev.load(partition, wall_ms)
        reemits = state.pending()
        applied = state.apply_batch(partials, now_ms)
        if applied.late:
            metrics.late_events.labels(f"{aggregate.name}@previous").inc(len(applied.late))
        if applied.duplicates:
            metrics.replays_skipped.labels(f"{stage}@previous").inc(applied.duplicates)
        closed = state.close_due(now_ms, idle_ms)
        persist(prev, partition, state)
        await emit(prev, partition, state, [*reemits, *closed])

    async def handle_partition(events: Sequence[Any]) -> None:
        partition = events[0].message.partition
        now_ms = max(int(e.message.timestamp * 1000) for e in events)
        await gate.ensure_loaded()
        # A restore restarts the idle clock at the wall clock, not at the batch's (maybe old,
        # backlogged) record times: a restart alone must never make the backlog late.
        wall_ms = max(now_ms, int(time.time() * 1000))
        state = agg.load(partition, wall_ms)
        # The previous version runs on this partition until the new one released it here; its
        # partials still in flight after that are dropped quietly (combine stops within seconds).
        prev = agg.previous if agg.previous is not None and state.holding else None
        previous_version = agg.previous.aggregate.version.encode() if agg.previous else None
        sorted_ = _sort_batch(events, done_marker, previous_version)
        if sorted_.foreign:
            log.info(
                "%s %s: skipped %d partials of another version",
                stage,
                aggregate.version,
                sorted_.foreign,
            )
        reemits = state.pending()
        applied = state.apply_batch(sorted_.own, now_ms)
        if sorted_.released and state.release(now_ms):
            log.info(
                "%s %s: backfill done on partition %d", aggregate.name, aggregate.version, partition
            )
        for late in applied.late:
            await dead_letter_late(late)
        if applied.duplicates:
            metrics.replays_skipped.labels(stage).inc(applied.duplicates)
        closed = state.close_due(now_ms, idle_ms)
        persist(agg, partition, state)
        await emit(agg, partition, state, [*reemits, *closed])
        if prev is not None:
            await run_previous(prev, partition, sorted_.previous, now_ms, wall_ms)
        metrics.stage_events.labels(stage).inc(len(events))

    declare_partitioned_agent(rt, topic, stage=stage, handle_partition=handle_partition)
    return agg


def _install_ticks(rt: Runtime, aggregates: list[AggregateRuntime], gate: BackfillGate) -> None:
    app, names = rt.app, rt.settings.topics
    tick_headers = [(Header.KIND, TICK)]
    source = names.events_identified
    ticks = 0
    watch = SupersededWatch(rt.metrics, [a.name for a in aggregates])

    @app.timer(interval=TICK_INTERVAL_S)  # type: ignore[untyped-decorator]
    async def tick() -> None:
        nonlocal ticks
        try:
            assigned = app.consumer.assignment()
        except Exception:  # consumer not started yet
            return
        for agg in aggregates:
            topic = names.windows(agg.name)
            for tp in assigned:
                if tp.topic == topic:
                    await app.producer.send(topic, None, b"", tp.partition, None, tick_headers)
        if gate.loaded and gate.backfilling_versions():
            owned = [tp.partition for tp in assigned if tp.topic == source]
            try:
                await gate.idle_cuts(source, owned)
            except Exception:  # the broker is away: the next tick tries again
                log.warning("could not take idle cuts", exc_info=True)
        ticks += 1
        feeding = any(a.feeds_previous for a in aggregates)
        every = REFRESH_EVERY_TICKS if feeding else SUPERSEDED_CHECK_EVERY_TICKS
        if gate.loaded and ticks % every == 0:
            try:
                await gate.refresh()  # a backfill done (stop feeding its previous), a newer worker
            except Exception:
                log.warning("could not read the control log", exc_info=True)
            else:
                watch.check(gate.superseded(), time.monotonic())

    del tick
