"""The owner agent of ``windows.<name>``: partials merged into windows, closed, emitted.

Part of stage ⑤ (:mod:`streamapp.windows.agent` has the whole picture). Runs on a partition of
``windows.<name>``: merges the partials of its version into open windows
(:class:`~streamapp.windows.state.PartitionWindows`), dead-letters late events (reason ``late``),
closes windows on the event-time watermark and emits them to the sink, following the commit
order in that class's docstring. While a changed aggregate's new version holds, the same agent
runs the version it replaces on the partials that version computed (its own table and sink
records), until the new version's done-marker releases the partition.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from streamapp.agents import declare_partitioned_agent, header
from streamapp.events import Reason
from streamapp.replay.gate import BackfillGate
from streamapp.sink.avro import record_key
from streamapp.state import durable
from streamapp.state.tables import raw_topic
from streamapp.topics import Header
from streamapp.windows.combine import Partial
from streamapp.windows.declare import Aggregate
from streamapp.windows.route import Route, route
from streamapp.windows.runtime import (
    CLOSED_PREFIX,
    AggregateRuntime,
    meta_key,
    new_runtime,
    users_key,
    window_key,
)
from streamapp.windows.state import ClosedWindow, LateEvent, PartitionWindows

if TYPE_CHECKING:
    from streamapp.app import Runtime

log = logging.getLogger(__name__)

OWNER_BATCH_WITHIN_S = 0.2
"""How long an owner batch waits to fill (the other stages: ``STREAMAPP_BATCH_WITHIN_S``).

Every owner batch rewrites the state of each window it touched (a changelog record each), so
batches of a few partials cost far more per event than the other stages' batches. Windows close
on event time minutes later; a fifth of a second here is invisible in their results.
"""


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
        made_by = header(msg.headers, Header.AGGREGATE_VERSION)
        where = route(header(msg.headers, Header.KIND), made_by, own, previous)
        if where is Route.TICK:
            continue
        if where is Route.MARKER:
            # Every backfilled partial of this partition precedes its marker (one producer,
            # in order): once the batch is applied, the backfill has passed this partition.
            out.released = out.released or msg.value == own
            continue
        if where is Route.FOREIGN:
            out.foreign += 1
            continue
        into = out.own if where is Route.OWN else out.previous
        try:
            into.append(Partial.from_json(orjson.loads(msg.value or b"")))
        except Exception:
            log.error("undecodable partial at %s/%s/%s", msg.topic, msg.partition, msg.offset)
    return out


def install_owner(rt: Runtime, aggregate: Aggregate, gate: BackfillGate) -> AggregateRuntime:
    """Declare the owner agent of ``windows.<name>``; return the version's runtime.

    Its ``previous`` is attached later (at worker start), if the control log says so.
    """
    app, settings, names, metrics = rt.app, rt.settings, rt.settings.topics, rt.metrics
    stage = f"windows-{aggregate.name}"
    topic = raw_topic(rt, names.windows(aggregate.name))
    agg = new_runtime(rt, aggregate, gate, topic, is_previous=False)
    done_marker = aggregate.version.encode()
    idle_ms = int(settings.window_idle_timeout_s * 1000)
    late_reason = Reason.LATE.value

    async def dead_letter_late(partial_late: LateEvent) -> Awaitable[Any]:
        """Send the late event's dead letter; the future resolves when the broker has it."""
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
        sent: Awaitable[Any] = await app.producer.send(
            names.events_dlq, None, c.body_json.encode(), None, None, headers
        )
        metrics.late_events.labels(aggregate.name).inc()
        metrics.rejected.labels(stage, late_reason).inc()
        return sent

    def persist(run: AggregateRuntime, partition: int, state: PartitionWindows) -> None:
        changes = state.take_changes()  # written in the order Changes prescribes
        for (wid, k), chunk in changes.user_chunks.items():
            durable.put(run.table, users_key(wid, k), orjson.dumps(chunk))
        for wid, entry in changes.upserts.items():
            durable.put(run.table, window_key(wid), orjson.dumps(entry))
        durable.put(run.table, meta_key(partition), orjson.dumps(changes.meta))
        for wid in changes.deletes:
            durable.delete(run.table, window_key(wid))
            for k in range(changes.deleted_chunks.get(wid, 0)):
                durable.delete(run.table, users_key(wid, k))

    async def emit(
        run: AggregateRuntime, partition: int, state: PartitionWindows, closed: list[ClosedWindow]
    ) -> None:
        if not closed:
            return
        await durable.settle()  # the outbox (pending windows) is durable before the sink
        records = await run.sink.emit(closed)
        label = f"{aggregate.name}@previous" if run.is_previous else aggregate.name
        for window, record in zip(closed, records, strict=True):
            key = CLOSED_PREFIX + record_key(window.key, window.window.start_ms)
            durable.put(run.table, key, orjson.dumps(record))
            if window.reemit:
                metrics.window_reemits.labels(label).inc()
            else:
                metrics.window_closes.labels(label).inc()
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
        if applied.undecodable:
            log.error(
                "%s: %d partials with undecodable contributions skipped (partition %s)",
                stage,
                applied.undecodable,
                partition,
            )
        if sorted_.released and state.release(now_ms):
            log.info(
                "%s %s: backfill done on partition %d", aggregate.name, aggregate.version, partition
            )
        letters = [await dead_letter_late(late) for late in applied.late]
        if letters:
            # On the broker before the state that marks these events applied is written, even
            # locally: a restarted worker keeps its local RocksDB, judges them duplicates on the
            # replay and never sends their letters again. A SIGKILL in between lost them: 351 of
            # 700 windows wrong in the full worker-crash scenario with 200 ms owner batches.
            await asyncio.gather(*letters)
        if applied.duplicates:
            metrics.replays_skipped.labels(stage).inc(applied.duplicates)
        closed = state.close_due(now_ms, idle_ms)
        persist(agg, partition, state)
        await emit(agg, partition, state, [*reemits, *closed])
        if prev is not None:
            await run_previous(prev, partition, sorted_.previous, now_ms, wall_ms)
        metrics.stage_events.labels(stage).inc(len(events))

    declare_partitioned_agent(
        rt,
        topic,
        stage=stage,
        handle_partition=handle_partition,
        within_s=OWNER_BATCH_WITHIN_S,
    )
    return agg
