"""The edge loop every stage agent runs: take a batch, handle it, then acknowledge it.

Why not ``stream.take()``: it acknowledges a batch even when the handler raised (FIELD-NOTES), so a
failure could commit offsets of records never processed. Here records are acknowledged only after
the handler returned and every changelog write of the batch is on the broker
(:mod:`streamapp.state.durable`: Faust's own pre-commit flush does not wait for them). Faust
flushes aiokafka before it commits acknowledged offsets, which covers the batch's outputs, so every
output and changelog record of a batch is on the broker before its input offsets are committed.

An unexpected error (not bad input: that is data and goes to the DLQ) ends the process at once,
as a ``kill -9`` would: nothing past the last commit is committed, and the delivery contract
(replay plus fencing) takes over at restart. Bad input never gets here.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextvars import ContextVar
from typing import Any, NoReturn

from streamapp.errors import DeadLetterLimitExceeded
from streamapp.events import Origin
from streamapp.observability.trace import BatchTracer
from streamapp.packed import Item, Packer, item_count, unpack_or_whole
from streamapp.state.durable import Evicted, settle, tracked_writes
from streamapp.state.gap_fill import FilledEvent, GapFiller
from streamapp.state.in_order import OrderGuard
from streamapp.topics import Header

log = logging.getLogger(__name__)

EXIT_CRASH = 70
FIRST_UNPROCESSED_TIMEOUT_S = 30.0
"""How long a stage waits for a newly assigned partition's committed offset before it exits."""
EXIT_DLQ_BREAKER = 3

BatchHandler = Callable[[Sequence[Any]], Awaitable[None]]
BatchFinisher = Callable[["BatchScope"], Awaitable[None]]
Admitter = Callable[[Sequence[Any]], Awaitable[list[Any]]]


class GroupMembership:
    """Whether this worker is still the consumer-group member that started a batch.

    Reads aiokafka's coordinator generation (private, like the few other Faust internals this
    code touches): it drops to -1 when a heartbeat learns that the group evicted us, which is
    the moment our writes would become zombie writes (:class:`streamapp.state.durable.Evicted`).
    """

    def __init__(self, app: Any) -> None:
        self._app = app

    def generation(self) -> int | None:
        """The current generation, ``None`` when there is no consumer to ask."""
        try:
            return int(self._app.consumer._thread._ensure_consumer()._coordinator.generation)
        except Exception:
            return None

    def checker(self) -> Callable[[], bool]:
        """A test for "still the member this batch started as", to call before each write."""
        start = self.generation()

        def still_member() -> bool:
            now = self.generation()
            return now is None or (now == start and now >= 0)

        return still_member

    def release(self, events: Sequence[Any]) -> None:
        """Stop Faust waiting for these events: they are dropped, and delivered again later."""
        unacked = self._app.consumer._unacked_messages
        for event in events:
            unacked.discard(event.message)


def exit_stage(stage: str, exc: BaseException) -> NoReturn:
    """End the process at once for a stage's failure, committing nothing (module docstring).

    A tripped dead-letter breaker exits with its own code, so an operator can tell bad input
    from a bug.
    """
    if isinstance(exc, DeadLetterLimitExceeded):
        log.critical("DEAD-LETTER BREAKER TRIPPED in stage %s: %s", stage, exc)
        logging.shutdown()
        os._exit(EXIT_DLQ_BREAKER)
    log.critical("stage %s failed; exiting without committing", stage, exc_info=exc)
    logging.shutdown()
    os._exit(EXIT_CRASH)


async def run_batches(
    stream: Any,
    *,
    stage: str,
    max_events: int,
    within_s: float,
    handle: BatchHandler,
    admit: Admitter | None = None,
    membership: GroupMembership | None = None,
) -> None:
    """Drive ``handle`` over batches of Faust events of ``stream``; ack each batch after it.

    ``admit`` completes each batch first (:func:`in_order_admitter`): records of a partition that
    Faust skipped are read and put in front, so every partition is handled in offset order.
    """
    async for taken in stream.noack_take(max_events, within_s):
        batch = await admit(taken) if admit is not None else taken
        parts = list(split_by_items(batch, max_events))
        for i, part in enumerate(parts):
            if not await _handle_batch(stream, stage, part, handle, membership):
                if membership is not None:  # evicted: the rest is delivered again, too
                    for rest in parts[i + 1 :]:
                        membership.release(rest)
                break


async def _handle_batch(
    stream: Any,
    stage: str,
    batch: Sequence[Any],
    handle: BatchHandler,
    membership: GroupMembership | None,
) -> bool:
    """Handle, settle and ack one batch; False if the worker turned out evicted (nothing acked)."""
    try:
        with tracked_writes(membership.checker() if membership is not None else None):
            await handle(batch)
            await settle()
    except asyncio.CancelledError:
        raise
    except Evicted as exc:
        log.warning("stage %s: %s (%d records, processed again after the rebalance)",
                    stage, exc, len(batch))  # fmt: skip
        if membership is not None:
            membership.release(batch)
        return False
    except BaseException as exc:
        exit_stage(stage, exc)
    for event in batch:
        if isinstance(event, FilledEvent):
            event.ack()
        else:
            await stream.ack(event)
    return True


def split_by_items(batch: Sequence[Any], max_items: int) -> Iterator[Sequence[Any]]:
    """Consecutive runs of ``batch`` of at most ``max_items`` items each (records, not events).

    A record holding more is a run of its own. So ``STREAMAPP_BATCH_MAX_EVENTS`` bounds events.

    Why: Faust's ``take`` counts records, and a packed record holds up to 256 KB of events. A
    worker catching up took batches of 30,000-50,000 events (up to 26 MB of packed records, 2,000
    events meant), and decoding one at once tripled its live Python objects for a moment.
    """
    start, items = 0, 0
    for i, event in enumerate(batch):
        n = item_count(_headers_of(event))
        if items and items + n > max_items:
            yield batch[start:i]
            start, items = i, 0
        items += n
    if start < len(batch):
        yield batch[start:]


def _headers_of(event: Any) -> Any:
    """A Faust event's record headers (a filled-in record's are its own)."""
    message = getattr(event, "message", event)
    return getattr(message, "headers", None)


def unpack_all(events: Sequence[Any]) -> list[Item]:
    """The items of a partition's events, in order (:func:`streamapp.packed.unpack_or_whole`)."""
    items: list[Item] = []
    for event in events:
        items.extend(unpack_or_whole(event.message))
    return items


async def send_packed(producer: Any, topic: str, packer: Packer) -> list[Any]:
    """Send the packer's records (one per destination partition, in order) to ``topic``.

    Returns the sends' futures, each resolved once the broker acknowledged its record.
    """
    return [
        await producer.send(topic, None, value, partition, None, headers)
        for partition, value, headers in packer.drain()
    ]


class OutputNumbering:
    """The origin index of each output: numbered from 0 per input record, across its items.

    The replay fence needs it unique per input record (:mod:`streamapp.state.fence`): two items
    of one packed record may both send to the same partition.
    """

    __slots__ = ("_next", "_offset")

    def __init__(self) -> None:
        self._offset = -1
        self._next = 0

    def next(self, offset: int) -> int:
        """The index of the next output sent for the input record at ``offset``."""
        if offset != self._offset:
            self._offset, self._next = offset, 0
        index = self._next
        self._next += 1
        return index


def header(headers: Sequence[tuple[str, bytes]] | None, name: str) -> bytes | None:
    """The value of the first header called ``name``."""
    for key, value in headers or ():
        if key == name:
            return value
    return None


def origin_of(headers: Sequence[tuple[str, bytes]] | None) -> tuple[Origin | None, int]:
    """The upstream coordinates and origin index a record carries in its headers.

    One pass over the headers (the fence asks for every item of every batch); the first header
    of each name counts, as in :func:`header`.
    """
    topic = partition = offset = index = None
    for key, value in headers or ():
        if key == Header.ORIGIN_TOPIC:
            topic = value if topic is None else topic
        elif key == Header.ORIGIN_PARTITION:
            partition = value if partition is None else partition
        elif key == Header.ORIGIN_OFFSET:
            offset = value if offset is None else offset
        elif key == Header.ORIGIN_INDEX:
            index = value if index is None else index
    if topic is None or partition is None or offset is None:
        return None, 0
    try:
        origin = Origin(topic.decode(), int(partition), int(offset))
        return origin, int(index) if index is not None else 0
    except ValueError:
        return None, 0


def stamp(
    cid: bytes, topic: str, partition: int, offset: int, index: int
) -> list[tuple[str, bytes]]:
    """Headers of an output: correlation id and this stage's own input coordinates as origin."""
    return [
        (Header.CORRELATION_ID, cid),
        (Header.ORIGIN_TOPIC, topic.encode()),
        (Header.ORIGIN_PARTITION, str(partition).encode()),
        (Header.ORIGIN_OFFSET, str(offset).encode()),
        (Header.ORIGIN_INDEX, str(index).encode()),
    ]


def in_order_admitter(rt: Any, stage: str) -> Admitter:
    """A batch filter that keeps each input partition in offset order (:mod:`..state.in_order`).

    When a record arrives ahead of the next expected offset, the missing records are read with a
    plain consumer and put in front of it, so the stage processes the partition without a gap.
    """
    app, metrics = rt.app, rt.metrics
    guard = OrderGuard()
    filler = GapFiller(rt.settings.kafka_bootstrap_servers, app)

    async def forget_lost_partitions(sender: Any, assigned: Any, **_: Any) -> None:
        guard.keep_only(assigned)

    app.on_partitions_assigned.connect(forget_lost_partitions)

    async def admit(batch: Sequence[Any]) -> list[Any]:
        out: list[Any] = []
        for event in batch:
            message = event.message
            if not guard.knows(message.tp):  # newly assigned: see streamapp.state.in_order
                # Bounded: a broker that cannot answer ends the stage (a restart), never a hang.
                first = await asyncio.wait_for(
                    filler.first_unprocessed(message.tp), timeout=FIRST_UNPROCESSED_TIMEOUT_S
                )
                guard.start_at(message.tp, first)
            gap = guard.admit(message.tp, message.offset)
            if gap is not None:
                filled = await filler.fetch(message.tp, gap)
                missing = (gap.end - gap.start) - len(filled)
                log.info(
                    "%s: %s arrived ahead of offset %s; read %s missing records first",
                    stage, message.tp, gap.start, len(filled),
                )  # fmt: skip
                metrics.input_order.labels(stage, "filled").inc(len(filled))
                if missing:
                    log.warning("%s: %s records of %s not found", stage, missing, message.tp)
                    metrics.input_order.labels(stage, "missing").inc(missing)
                out.extend(filled)
            out.append(event)
        return out

    return admit


def declare_agent(
    rt: Any, source: Any, *, stage: str, handle: BatchHandler, within_s: float | None = None
) -> None:
    """Declare the stage's Faust agent on ``source``: :func:`run_batches` over ``handle``.

    ``within_s`` overrides ``STREAMAPP_BATCH_WITHIN_S`` for this stage: how long a batch waits
    to fill (Faust's ``noack_take`` ``within``).
    """
    settings = rt.settings
    admit = in_order_admitter(rt, stage)
    membership = GroupMembership(rt.app)

    async def agent(stream: Any) -> None:
        await run_batches(
            stream,
            stage=stage,
            max_events=settings.batch_max_events,
            within_s=settings.batch_within_s if within_s is None else within_s,
            handle=handle,
            admit=admit,
            membership=membership,
        )

    rt.app.agent(source, name=stage)(agent)


class BatchScope(dict[str, Any]):
    """What the stages of one agent batch keep across its input partitions, until the batch ends.

    Why: a stage handles a batch one input partition at a time (its table writes must go to that
    partition), but its outputs need not be cut the same way. Sending them per input partition
    multiplied records at moderate rates: a batch of 40 events over 4 partitions became 16 packed
    records of ``events.identified`` and a partial per key per partition, and each Kafka record
    costs a worker more than the events in it (:mod:`streamapp.packed`). Stages put their
    outputs here (:func:`batch_scope`) and send them from their ``finish_batch``, once per batch.
    A batch that fails is dropped with its scope, so nothing of it is sent.
    """

    def get_or_make(self, key: str, make: Callable[[], Any]) -> Any:
        """The value under ``key``, made by ``make`` on first use in this batch."""
        value = self.get(key)
        if value is None:
            value = self[key] = make()
        return value


_batch_scope: ContextVar[BatchScope | None] = ContextVar("streamapp_batch_scope", default=None)


def batch_scope() -> BatchScope:
    """The scope of the agent batch being handled (only inside a ``handle_partition``)."""
    scope = _batch_scope.get()
    if scope is None:
        raise RuntimeError("batch_scope() outside a partitioned agent's batch")
    return scope


def declare_partitioned_agent(
    rt: Any,
    source: Any,
    *,
    stage: str,
    handle_partition: BatchHandler,
    finish_batch: BatchFinisher | None = None,
    within_s: float | None = None,
) -> None:
    """Like :func:`declare_agent`, but ``handle_partition`` gets one input partition at a time.

    It gets the partition's events as :class:`~streamapp.packed.Item` values, in order: a packed
    record's items one by one, any other record as one item (:mod:`streamapp.packed`).

    It runs inside that partition's event context, so its table reads and writes go to the
    partition's store and changelog partition (see :mod:`streamapp.state.tables`).

    Stages that read the same topic (profiles and the windows combiner both read
    ``events.identified``) share one agent: each gets every partition's events of every batch, in
    the order they were declared, and the batch is acknowledged once all of them are done. Why not
    one agent each: Faust hands a record to every agent of its topic separately. When a rebalance
    finds one agent's queue full, it cancels that delivery, but the other agent has already
    started tracking the record, which can then never be fully acknowledged: ``wait_empty`` waits
    for it forever and the worker hangs in the rebalance (seen in the three-SIGKILL test).

    ``finish_batch`` runs once after every partition of a batch was handled, before the batch is
    settled and acknowledged, with the batch's :class:`BatchScope`: where a stage sends what it
    collected across partitions.
    """
    from streamapp.state.tables import by_partition, partition_context

    topic_name = source.get_topic_name()
    stages: list[tuple[str, BatchHandler, BatchFinisher | None]]
    stages = rt.partition_stages.setdefault(topic_name, [])
    stages.append((stage, handle_partition, finish_batch))
    if len(stages) > 1:
        return  # the first stage declared the agent; it runs this one too

    async def handle(batch: Sequence[Any]) -> None:
        scope = BatchScope()
        token = _batch_scope.set(scope)
        try:
            for events in by_partition(batch).values():
                items = unpack_all(events)
                with partition_context(events[-1]):
                    for _, handle_one, _ in stages:
                        await handle_one(items)
            for _, _, finish in stages:
                if finish is not None:
                    await finish(scope)
        finally:
            _batch_scope.reset(token)

    declare_agent(rt, source, stage=stage, handle=handle, within_s=within_s)


def stage_tracer(rt: Any, stage: str, topic: str) -> BatchTracer:
    """A tracer for one batch of ``stage`` reading ``topic``, started now."""
    return BatchTracer(
        stage=stage,
        topic=topic,
        host=rt.worker_id,
        rate=rt.settings.trace_sample_rate,
        started=time.perf_counter(),
    )


async def send_traces(rt: Any, tracer: BatchTracer, events: int) -> None:
    """Send the batch's trace lines to the traces topic."""
    now_ms = int(time.time() * 1000)
    topic = rt.settings.topics.traces
    for key, line in tracer.lines(now_ms=now_ms, finished=time.perf_counter(), events=events):
        await rt.app.producer.send(topic, key, line, None, None, None)
