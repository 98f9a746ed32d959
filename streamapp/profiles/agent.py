"""Stages ③ profiles and ④ counters: ``events.identified`` -> table ``profiles``.

The Faust edge of :mod:`streamapp.profiles.stage`. One value per user holds the profile and the
counters together (:class:`~streamapp.profiles.user_state.UserState`), so one record changes both
in one write and a crash can never leave them half-applied; the value also carries its stamp for
the replay fence. Per input partition of a batch: judge each record with the fence, apply events,
hand-offs and merges to the working copy (one read and one write per user per batch), send the
merges and forwards stamped with this stage's coordinates, write the values, then the progress.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from streamapp.agents import (
    OutputNumbering,
    declare_partitioned_agent,
    header,
    send_traces,
    stage_tracer,
    stamp,
)
from streamapp.app import Runtime
from streamapp.dlq.send import send_dead_letter
from streamapp.events import Reason, Rejection
from streamapp.identify.handoff import Handoff
from streamapp.ingest.normalised import item_event
from streamapp.packed import Item
from streamapp.profiles.messages import Kind, Merge
from streamapp.profiles.stage import Forward, Limits, Step, on_event, on_handoff, on_merge
from streamapp.profiles.user_state import UserState
from streamapp.state.fence import Position, StateCorrupt, Verdict
from streamapp.state.tables import FencedBatch, create_table, raw_topic
from streamapp.topics import Header

STAGE = "profiles"
TABLE = "profiles"
UNDECODABLE = Rejection(STAGE, Reason.WRONG_TYPE, "internal record does not decode")


def _kind(headers: Sequence[tuple[str, bytes]] | None) -> Kind:
    raw = header(headers, Header.KIND)
    return Kind(raw.decode()) if raw else Kind.EVENT


def _step(
    kind: Kind,
    item: Item,
    state: UserState | None,
    key: str,
    at: Position,
    hops: int,
    limits: Limits,
) -> Step | None:
    """Run the pure stage for one item; ``None`` when it does not decode."""
    value = item.value or b""
    try:
        if kind is Kind.HANDOFF:
            return on_handoff(state, key, Handoff.from_bytes(value), at, limits)
        if kind is Kind.MERGE:
            return on_merge(state, key, Merge.from_bytes(value), at, hops, limits)
    except (StateCorrupt, ValueError):
        return None
    event = item_event(item)
    if event is None:
        return None
    return on_event(state, key, event, at, hops, limits)


def install(rt: Runtime) -> None:
    """Declare the ``profiles`` table and the profiles/counters agent."""
    app, settings, names, metrics = rt.app, rt.settings, rt.settings.topics, rt.metrics
    source = raw_topic(rt, names.events_identified)
    table = create_table(rt, TABLE, help_="user -> profile and counters")
    limits = Limits.from_settings(settings)
    kind_merge = Kind.MERGE.value.encode()

    async def handle_partition(events: Sequence[Any]) -> None:
        producer = app.producer
        partition = events[0].message.partition
        batch = FencedBatch(table, partition)
        state = batch.state
        numbering = OutputNumbering()
        tracer = stage_tracer(rt, STAGE, names.events_identified)
        for fevent in events:
            msg = fevent.message
            own = Position(msg.offset, msg.item)
            verdict = batch.judge(msg)
            if verdict is Verdict.UPSTREAM_DUPLICATE:
                metrics.replays_skipped.labels(STAGE).inc()
                continue
            fresh = verdict is Verdict.FRESH
            cid = header(msg.headers, Header.CORRELATION_ID) or b""
            key_bytes: bytes = msg.key or b""
            key = key_bytes.decode("utf-8", "replace")
            hops_raw = header(msg.headers, Header.HOPS)
            hops = int(hops_raw) if hops_raw else 0
            kind = _kind(msg.headers)
            raw_state = state.get(key_bytes)
            current = UserState.from_bytes(raw_state) if raw_state is not None else None
            step = _step(kind, msg, current, key, own, hops, limits)
            if step is None:
                await send_dead_letter(rt, msg, cid, UNDECODABLE, counted=fresh)
                continue
            if step.rejection is not None:
                await send_dead_letter(rt, msg, cid, step.rejection, counted=fresh)
                rejected = {"rejected": step.rejection.reason.value, "why": step.rejection.detail}
                tracer.note(cid.decode("utf-8", "replace"), None, rejected, always=True)
                continue
            if step.state is not None:
                state.put(key_bytes, step.state.to_bytes())
            if fresh and step.outcome.value == "identity_conflict":
                metrics.identity_conflicts.inc()
            for output in step.outputs:
                index = numbering.next(msg.offset)
                headers = stamp(cid, msg.topic, partition, msg.offset, index)
                if isinstance(output, Forward):
                    headers.append((Header.KIND, kind.value.encode()))
                    headers.append((Header.HOPS, str(output.hops).encode()))
                    value = msg.value
                else:
                    headers.append((Header.KIND, kind_merge))
                    value = output.merge.to_bytes()
                await producer.send(
                    names.events_identified, output.key.encode(), value, None, None, headers
                )
            tracer.note(
                cid.decode("utf-8", "replace"),
                None,
                {
                    "kind": kind.value,
                    "outcome": step.outcome.value,
                    "user": key,
                    "sent_to": [o.key for o in step.outputs],
                },
            )
        batch.commit()
        metrics.stage_events.labels(STAGE).inc(len(events))
        await send_traces(rt, tracer, len(events))

    declare_partitioned_agent(rt, source, stage=STAGE, handle_partition=handle_partition)
