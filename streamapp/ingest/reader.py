"""Stage ①'s own reader of ``events``: an aiokafka consumer in a group of its own.

Why not a Faust agent like the other stages: ``events`` is the one topic with a record per event
(the later topics carry packed records of many events), and Faust spends on every record it
hands to an agent: two tasks and an ``asyncio.wait`` per message in its fetcher
(``Consumer._drain_messages``), an ``Event``, a stream step and an ack. py-spy put that at about
17 % of a draining worker. The validate stage is stateless, so it needs none of what Faust adds
(tables, co-partitioning, recovery), and a plain consumer reads its batches with ``getmany``.

The delivery contract is the one the Faust path had:

- A batch's offsets are committed only after every record it sent (forwards, dead letters,
  traces) is acknowledged by the broker (the producer runs with acks=all).
- A batch whose commit fails (a rebalance took its partitions) or that never commits (the worker
  died) is read again by the partition's next owner. The identify stage fences the copies by
  their origin coordinates (:mod:`streamapp.state.fence`), as it did for Faust's redeliveries.
- Each partition is read in offset order from the committed offset: aiokafka drops what it
  fetched for a partition it lost, and starts a partition it got at the group's offset.
- An unexpected error ends the process without committing, as in every stage
  (:func:`streamapp.agents.exit_stage`).

The group is ``<app id>-validate`` (:func:`validate_group`): lag on ``events`` is read there
(:func:`streamapp.observability.sampler.reading_groups`). A deployment upgraded from the version
whose Faust agent read ``events`` starts where that agent's group left it
(:func:`take_over_from_faust_group`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError

from streamapp.agents import exit_stage
from streamapp.config import Settings, heartbeat_interval_s
from streamapp.topics import validate_group

log = logging.getLogger(__name__)

RecordsHandler = Callable[[Sequence[ConsumerRecord[bytes, bytes]]], Awaitable[list[Any]]]
"""Handles a batch and returns the futures of what it sent (each resolves once acknowledged)."""


def events_consumer(settings: Settings) -> AIOKafkaConsumer:
    """The reader's consumer: the validate group, manual commits (it subscribes on start)."""
    return AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=validate_group(settings.app_id),
        client_id=f"{settings.app_id}-validate",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=int(settings.session_timeout_s * 1000),
        heartbeat_interval_ms=int(heartbeat_interval_s(settings) * 1000),
    )


async def take_over_from_faust_group(settings: Settings) -> dict[TopicPartition, int]:
    """Give the validate group the workers' group's commits on ``events`` if it has none yet.

    Before the reader, a Faust agent of the workers' group (the app id) read ``events``, and its
    commits stay on the broker. Without this, the first start after an upgrade would read the
    whole retained topic again: identify would skip the copies, but every bad record would be
    dead-lettered a second time. It runs before the reader joins its group and only while that
    group has no commit on ``events``; the commit is refused if another worker's reader is in
    the group already (it did this first), which is fine. Returns what it committed.
    """
    topic, group = settings.topics.events, validate_group(settings.app_id)
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        ours = await admin.list_consumer_group_offsets(group)
        if any(tp.topic == topic and meta.offset >= 0 for tp, meta in ours.items()):
            return {}
        theirs = await admin.list_consumer_group_offsets(settings.app_id)
    finally:
        await admin.close()
    offsets = {
        tp: meta.offset for tp, meta in theirs.items() if tp.topic == topic and meta.offset >= 0
    }
    if not offsets:
        return {}
    committer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers, group_id=group, enable_auto_commit=False
    )
    await committer.start()
    try:
        committer.assign(list(offsets))
        await committer.commit(offsets)
    except KafkaError as exc:
        log.info("validate: not taking over the workers' group's offsets (%r)", exc)
        return {}
    finally:
        await committer.stop()
    log.info("validate starts where the workers' group left %s: %s", topic,
             {tp.partition: offset for tp, offset in sorted(offsets.items())})  # fmt: skip
    return offsets


def batch_offsets(
    fetched: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]],
) -> dict[TopicPartition, int]:
    """The offsets to commit once every record of ``fetched`` is handled: last offset + 1."""
    return {tp: records[-1].offset + 1 for tp, records in fetched.items() if records}


def in_batch_order(
    fetched: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]],
) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of a fetch, partition by partition, each partition in offset order."""
    return [record for tp in sorted(fetched) for record in fetched[tp]]


class EventsReader:
    """Reads ``events`` in batches; commits a batch once its outputs are on the broker."""

    def __init__(
        self,
        settings: Settings,
        *,
        stage: str,
        handle: RecordsHandler,
        consumer_factory: Callable[[], AIOKafkaConsumer] | None = None,
    ) -> None:
        self._settings = settings
        self._stage = stage
        self._handle = handle
        self._new_consumer = consumer_factory or functools.partial(events_consumer, settings)
        self._take_over = consumer_factory is None  # a test's fake consumer has no broker
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None

    def assignment(self) -> set[TopicPartition]:
        """The ``events`` partitions this worker reads now (empty before it joined)."""
        consumer = self._consumer
        if consumer is None:
            return set()
        try:
            return set(consumer.assignment())
        except IllegalStateError:
            return set()

    def start(self) -> None:
        """Start reading in the background (the worker's producer must be running)."""
        self._task = asyncio.ensure_future(self.run())

    async def stop(self) -> None:
        """Stop reading and leave the group, so the partitions move at once, not after a timeout.

        A batch under way is abandoned uncommitted: its records are read again.
        """
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await consumer.stop()

    async def run(self) -> None:
        """Read until cancelled; any error but a failed commit ends the process uncommitted."""
        try:
            await self._read()
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            exit_stage(self._stage, exc)

    async def _read(self) -> None:
        settings = self._settings
        if self._take_over:
            await take_over_from_faust_group(settings)
        consumer = self._consumer = self._new_consumer()
        await consumer.start()
        consumer.subscribe([settings.topics.events])
        timeout_ms = max(1, int(settings.batch_within_s * 1000))
        while True:
            fetched = await self._fill(consumer, timeout_ms)
            if not fetched:
                continue
            records = in_batch_order(fetched)
            sent = await self._handle(records)
            await asyncio.gather(*sent)
            await self._commit(consumer, batch_offsets(fetched), len(records))

    async def _fill(
        self, consumer: AIOKafkaConsumer, within_ms: int
    ) -> dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]:
        """One batch: up to ``batch_max_events`` records, filled for at most ``within_ms``.

        The wait starts when the first record arrived, as Faust's ``noack_take`` does for the
        other stages: a batch of a few records costs nearly what a full one costs, in produce
        requests downstream too.
        """
        most = self._settings.batch_max_events
        fetched: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]
        fetched = await consumer.getmany(timeout_ms=within_ms, max_records=most)
        count = sum(len(records) for records in fetched.values())
        if not count:
            return fetched
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within_ms / 1000
        while count < most and (left := deadline - loop.time()) > 0:
            more = await consumer.getmany(timeout_ms=int(left * 1000) + 1, max_records=most - count)
            for tp, records in more.items():
                fetched.setdefault(tp, []).extend(records)
                count += len(records)
        return fetched

    async def _commit(
        self, consumer: AIOKafkaConsumer, offsets: dict[TopicPartition, int], n: int
    ) -> None:
        try:
            await consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError, KafkaError) as exc:
            # A rebalance took some of these partitions: their next owner reads the batch again
            # from the last commit, and the identify stage fences the copies.
            log.warning("stage %s: commit of %d records failed (%r); they are read again",
                        self._stage, n, exc)  # fmt: skip
