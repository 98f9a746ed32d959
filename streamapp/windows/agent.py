"""Stage ⑤ windows: ``events.identified`` -> ``windows.<name>`` (partials) -> owner -> ⑥ sink.

Two agents per worker, one table per aggregate version:

* **combine** reads ``events.identified`` (events only: hand-offs, merges and forwarded copies
  are not new events), skips the copies an identify replay re-sent (the replay fence, progress in
  table ``windows-fence``), and pre-aggregates each batch into one partial per aggregate key
  (:class:`~streamapp.windows.combine.Combiner`, one per batch across its input partitions),
  sent to ``windows.<name>`` keyed by the aggregate key once the batch is done. Each partial
  still lists its events' origins, so the owner fences per event.
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

Modules: this one (install, combine, ticks, keeping the previous version), the owner agent
(:mod:`streamapp.windows.owner`), one version's runtime and table layout
(:mod:`streamapp.windows.runtime`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import orjson

from streamapp import provision
from streamapp.agents import BatchScope, batch_scope, declare_partitioned_agent, header
from streamapp.app import Runtime
from streamapp.events import Origin
from streamapp.ingest.normalised import item_event
from streamapp.replay.gate import BackfillGate
from streamapp.replay.previous import previous_for
from streamapp.replay.superseded import SupersededWatch
from streamapp.state.fence import Verdict
from streamapp.state.tables import FencedBatch, create_table, raw_topic
from streamapp.topics import Header
from streamapp.windows.combine import Combiner
from streamapp.windows.load import load_topologies
from streamapp.windows.owner import install_owner
from streamapp.windows.route import TICK
from streamapp.windows.runtime import (
    AggregateRuntime,
    new_runtime,
    partial_key,
    version_headers,
)
from streamapp.windows.source import counts

log = logging.getLogger(__name__)

COMBINE = "combine"
FENCE_TABLE = "windows-fence"
TICK_INTERVAL_S = 1.0
REFRESH_EVERY_TICKS = 5
"""While a previous version is fed, the control log is read again this often (in ticks) to learn
that the backfill is done, so combine stops computing the previous version's partials."""
SUPERSEDED_CHECK_EVERY_TICKS = 10
"""Otherwise, this often: to find this worker superseded by one started with newer topologies."""


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
    runtimes = [install_owner(rt, aggregate, gate) for aggregate in aggregates]
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


COMBINERS = "combine.combiners"
"""The batch's combiners, one per aggregate version fed, across its input partitions."""


def _batch_combiners(scope: BatchScope, fed: list[AggregateRuntime]) -> list[Combiner]:
    """The batch's combiner of each version in ``fed``, in that order (made on first use).

    One per version for the whole batch, not per input partition: a partial may hold events of
    several origin partitions (its spans and each contribution's origin say which), so a key
    seen in four partitions of a batch is one partial, not four.
    """
    building: dict[int, tuple[AggregateRuntime, Combiner]] = scope.get_or_make(COMBINERS, dict)
    for agg in fed:
        if id(agg) not in building:
            building[id(agg)] = (agg, Combiner(agg.aggregate))
    return [building[id(agg)][1] for agg in fed]


def _install_combine(rt: Runtime, aggregates: list[AggregateRuntime], gate: BackfillGate) -> None:
    app, names, metrics = rt.app, rt.settings.topics, rt.metrics
    source = raw_topic(rt, names.events_identified)
    fence_table = create_table(rt, FENCE_TABLE, help_="windows input fence")

    async def handle_partition(events: Sequence[Any]) -> None:
        partition = events[0].message.partition
        fed = _fed(aggregates)
        cuts = await _cuts(gate, fed, partition, events[0].message.offset)
        batch = FencedBatch(fence_table, partition)
        combiners = _batch_combiners(batch_scope(), fed)
        for fevent in events:
            msg = fevent.message
            if batch.judge(msg) is Verdict.UPSTREAM_DUPLICATE:
                metrics.replays_skipped.labels(COMBINE).inc()
                continue
            value = msg.value or b""
            event = item_event(msg) if counts(msg.headers) else None
            if event is None:
                continue
            cid = (header(msg.headers, Header.CORRELATION_ID) or b"").decode("utf-8", "replace")
            own = Origin(msg.topic, partition, msg.offset)
            user = (msg.key or b"").decode("utf-8", "replace")
            # The record's value is the normalised body as JSON (validate wrote it, identify
            # forwarded it unchanged): a late event's dead letter carries it as read.
            body_json = value.decode("utf-8", "replace")
            for combiner, cut in zip(combiners, cuts, strict=True):
                if msg.offset < cut:
                    continue  # below the cut: the backfill's part (streamapp.replay)
                combiner.add(
                    event,
                    correlation_id=cid,
                    size_bytes=len(value),
                    origin=own,
                    user_id=user,
                    origin_item=msg.item,
                    body_json=body_json,
                )
        batch.commit()
        metrics.stage_events.labels(COMBINE).inc(len(events))

    async def finish_batch(scope: BatchScope) -> None:
        """Send the batch's partials: one per aggregate key, whatever partitions fed it."""
        producer = app.producer
        building: dict[int, tuple[AggregateRuntime, Combiner]] = scope.get(COMBINERS, {})
        for agg, combiner in building.values():
            topic = names.windows(agg.name)
            headers = version_headers(agg.aggregate.version)
            for partial in combiner.drain():
                value = orjson.dumps(partial.to_json())
                await producer.send(topic, partial_key(partial.key), value, None, None, headers)

    declare_partitioned_agent(
        rt, source, stage=COMBINE, handle_partition=handle_partition, finish_batch=finish_batch
    )


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
        prev = new_runtime(rt, chosen.aggregate, gate, agg.topic, is_previous=True)
        specs = provision.required_topics(rt.settings, tables=[prev.table_name])
        await provision.create_topics(rt.settings, specs)
        agg.previous = prev
        log.warning("%s is backfilled: %s", label, chosen.reason)


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
