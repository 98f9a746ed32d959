"""Stage ② identify: ``events.identify`` -> ``events.identified`` keyed by canonical user id.

The Faust edge of :mod:`streamapp.identify.stage`: per input partition of a batch it judges each
event (an item of a packed record, :mod:`streamapp.packed`) with the replay fence, reads the
binding and dedupe entry it needs (batch working set first, then the ``identities`` table), calls
the pure stage, collects its outputs stamped with this stage's own coordinates, and writes the
batch's values and then the progress value, last, to the same changelog partition (the protocol
in :mod:`streamapp.state.fence`). When every input partition of the batch is done it sends the
outputs packed, one record per destination partition, each input partition's outputs in order
(:class:`streamapp.agents.BatchScope`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from streamapp.agents import (
    BatchScope,
    OutputNumbering,
    batch_scope,
    declare_partitioned_agent,
    header,
    send_packed,
    send_traces,
    stage_tracer,
    stamp,
)
from streamapp.app import Runtime
from streamapp.dlq.send import send_dead_letter
from streamapp.events import Reason, Rejection
from streamapp.identify.binding import Binding
from streamapp.identify.dedupe import Seen
from streamapp.identify.keys import SEEN_PREFIX, binding_key, seen_key
from streamapp.identify.resolve import Outcome, SendHandoff, binding_subject
from streamapp.identify.stage import identify
from streamapp.identify.sweep import SweepPass, sweep
from streamapp.ingest.normalised import event_from_head, event_from_normalised
from streamapp.packed import Packer
from streamapp.profiles.messages import Kind
from streamapp.state import durable
from streamapp.state.fence import Position, Verdict
from streamapp.state.tables import FencedBatch, create_table, raw_topic, scan
from streamapp.topics import Header

STAGE = "identify"
TABLE = "identities"
UNDECODABLE = Rejection(STAGE, Reason.WRONG_TYPE, "internal record is not a normalised event")
PACKER = "identify.packer"
"""The batch's outputs to ``events.identified``, across its input partitions (BatchScope)."""
SWEEP_EVERY_S = 1.0
"""Slices of a pass run at most this often per partition (a pass then waits: SweepPass)."""
SWEEP_SLICE = 2_000
"""Dedupe entries judged per partition per sweep: a bounded pause, about a millisecond."""


def fresh_of(verdict: Verdict) -> bool:
    """Count outcomes only the first time a record is processed (a replay repeats them)."""
    return verdict is Verdict.FRESH


def install(rt: Runtime) -> None:
    """Declare the ``identities`` table and the identify agent."""
    app, settings, names, metrics = rt.app, rt.settings, rt.settings.topics, rt.metrics
    source = raw_topic(rt, names.events_identify)
    table = create_table(rt, TABLE, help_="anonymous id -> user, dedupe")
    horizon_ms = settings.dedupe_horizon_s * 1000
    kind_handoff = Kind.HANDOFF.value.encode()
    seen_prefix = SEEN_PREFIX.encode()
    retain_ms = 2 * horizon_ms
    passes: dict[int, SweepPass] = {}  # partition -> the sweep pass under way
    due_ms: dict[int, int] = {}  # partition -> wall time its next slice may run

    def expire_dedupe_entries(partition: int) -> None:
        """Delete a slice of the partition's expired dedupe entries (inside its batch)."""
        now_ms = int(time.time() * 1000)
        if now_ms < due_ms.get(partition, 0):
            return
        sweep_pass = passes.get(partition)
        if sweep_pass is None:
            sweep_pass = passes[partition] = SweepPass(started_ms=now_ms)
        result = sweep(
            scan(table, partition, seen_prefix, sweep_pass.next_from),
            now_ms=now_ms,
            retain_ms=retain_ms,
            limit=SWEEP_SLICE,
        )
        for key in result.expired:
            durable.delete(table, key)
        metrics.dedupe_expired.inc(len(result.expired))
        next_pass_ms = sweep_pass.add(result, retain_ms)
        next_slice_ms = now_ms + int(SWEEP_EVERY_S * 1000)
        if next_pass_ms is None:
            due_ms[partition] = next_slice_ms
        else:
            del passes[partition]
            due_ms[partition] = max(next_pass_ms, next_slice_ms)

    async def handle_partition(events: Sequence[Any]) -> None:
        partition = events[0].message.partition
        batch = FencedBatch(table, partition)
        state = batch.state
        numbering = OutputNumbering()
        packer = batch_scope().get_or_make(PACKER, lambda: Packer(settings.topic_partitions))
        tracer = stage_tracer(rt, STAGE, names.events_identify)
        for fevent in events:
            msg = fevent.message
            own = Position(msg.offset, msg.item)
            verdict = batch.judge(msg)
            if verdict is Verdict.UPSTREAM_DUPLICATE:
                metrics.replays_skipped.labels(STAGE).inc()
                continue
            cid = header(msg.headers, Header.CORRELATION_ID) or b""
            event = event_from_head(header(msg.headers, Header.IDENTITY))
            if event is None:
                event = event_from_normalised(msg.value or b"")
            if event is None:  # not written by our validate stage: dead-letter, never crash
                await send_dead_letter(rt, msg, cid, UNDECODABLE, counted=fresh_of(verdict))
                continue
            subject = binding_subject(event)
            bkey = binding_key(subject).encode() if subject is not None else None
            skey = seen_key(event.message_id).encode()
            raw_binding = state.get(bkey) if bkey is not None else None
            raw_seen = state.get(skey)
            step = identify(
                event,
                seen=Seen.from_bytes(raw_seen) if raw_seen is not None else None,
                binding=Binding.from_bytes(raw_binding) if raw_binding is not None else None,
                partition=partition,
                at=own,
                horizon_ms=horizon_ms,
            )
            fresh = fresh_of(verdict)
            if step.rejection is not None:
                await send_dead_letter(rt, msg, cid, step.rejection, counted=fresh)
                tracer.note(
                    cid.decode("utf-8", "replace"),
                    event.event_time_ms,
                    {"rejected": step.rejection.reason.value, "why": step.rejection.detail},
                    always=True,
                )
                continue
            if step.seen is not None:
                state.put(skey, step.seen.to_bytes())
            if step.binding is not None and bkey is not None:
                state.put(bkey, step.binding.to_bytes())
            if fresh:
                if step.outcome is Outcome.DUPLICATE:
                    metrics.duplicates.inc()
                elif step.outcome is Outcome.CONFLICT:
                    metrics.identity_conflicts.inc()
            for output in step.outputs:
                index = numbering.next(msg.offset)
                headers = stamp(cid, msg.topic, partition, msg.offset, index)
                if isinstance(output, SendHandoff):
                    headers.append((Header.KIND, kind_handoff))
                    value = output.handoff.to_bytes()
                else:
                    value = msg.value
                packer.add(output.key.encode(), value, headers)
            tracer.note(
                cid.decode("utf-8", "replace"),
                event.event_time_ms,
                {
                    "outcome": step.outcome.value,
                    "identified_as": [
                        o.key for o in step.outputs if not isinstance(o, SendHandoff)
                    ],
                    "partition": partition,
                    "offset": msg.offset,
                },
            )
        # Before the commit: the sweep reads RocksDB, which holds none of this batch's writes
        # yet (streamapp.state.durable), so a dedupe entry this batch wrote again must be
        # written after the sweep's delete of its old, expired value, not before it.
        expire_dedupe_entries(partition)
        batch.commit()
        metrics.stage_events.labels(STAGE).inc(len(events))
        await send_traces(rt, tracer, len(events))

    async def finish_batch(scope: BatchScope) -> None:
        """Send the batch's outputs: one packed record per destination partition."""
        packer = scope.get(PACKER)
        if packer is not None:
            await send_packed(app.producer, names.events_identified, packer)

    declare_partitioned_agent(
        rt, source, stage=STAGE, handle_partition=handle_partition, finish_batch=finish_batch
    )
