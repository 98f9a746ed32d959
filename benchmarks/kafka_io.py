"""Kafka plumbing of the benchmark: create and preload the input topic, read consumer-group lag.

Completion is judged from the broker, not by sleeping: a system is done when its consumer group
has committed every offset of the topics it reads (lag 0). Committed offsets are written only after
the work of those records is flushed (acks=all), so lag 0 means the effects are durable.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError


async def create_topic(bootstrap: str, name: str, partitions: int) -> None:
    """Create ``name`` (RF 1, as every topic on the single local broker)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1)])
    except TopicAlreadyExistsError:
        pass
    finally:
        await admin.close()


async def preload(bootstrap: str, topic: str, records: Iterable[tuple[bytes, bytes]]) -> int:
    """Produce every record with acks=all; return how many."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        linger_ms=20,
        max_batch_size=512 * 1024,
        compression_type=None,
    )
    await producer.start()
    sent = 0
    try:
        pending = []
        for key, value in records:
            pending.append(await producer.send(topic, value, key=key))
            sent += 1
            if len(pending) >= 20_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
        await producer.flush()
    finally:
        await producer.stop()
    return sent


async def end_offsets(bootstrap: str, topics: Iterable[str]) -> dict[TopicPartition, int]:
    """The log-end offset of every partition of ``topics``."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        parts = [
            TopicPartition(t, p)
            for t in topics
            for p in sorted(consumer._client.cluster.partitions_for_topic(t) or ())
        ]
        if not parts:
            await consumer._client.force_metadata_update()
            parts = [
                TopicPartition(t, p)
                for t in topics
                for p in sorted(consumer._client.cluster.partitions_for_topic(t) or ())
            ]
        return dict(await consumer.end_offsets(parts)) if parts else {}
    finally:
        await consumer.stop()


class LagProbe:
    """Reads a consumer group's lag over some topics, with one admin client kept open."""

    def __init__(self, bootstrap: str, group: str) -> None:
        self.bootstrap = bootstrap
        self.group = group
        self._admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        self._consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)

    async def __aenter__(self) -> LagProbe:
        await self._admin.start()
        await self._consumer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._consumer.stop()
        await self._admin.close()

    async def topics(self, prefix: str) -> list[str]:
        """Topic names that start with ``prefix``."""
        names = await self._consumer.topics()
        return sorted(t for t in names if t.startswith(prefix))

    async def lag(self, topics: Iterable[str], *, all_committed: bool = False) -> tuple[int, int]:
        """(total lag, total committed) of the group over ``topics``.

        With ``all_committed``, also every other topic the group has committed on (a framework's
        internal repartition topics).
        """
        topics = list(topics)
        if all_committed:
            every = await self._admin.list_consumer_group_offsets(self.group)
            topics = sorted(set(topics) | {tp.topic for tp in every})
        await self._consumer._client.force_metadata_update()
        cluster = self._consumer._client.cluster
        parts = [
            TopicPartition(t, p) for t in topics for p in cluster.partitions_for_topic(t) or ()
        ]
        ends = await self._consumer.end_offsets(parts)
        committed = await self._admin.list_consumer_group_offsets(self.group, partitions=parts)
        lag = 0
        done = 0
        for tp, end in ends.items():
            meta = committed.get(tp)
            offset = meta.offset if meta is not None and meta.offset >= 0 else 0
            lag += max(0, end - offset)
            done += offset
        return lag, done

    async def committed_offsets(self, topics: Iterable[str]) -> dict[TopicPartition, int]:
        """The group's committed offset of every partition of ``topics`` (0 if none)."""
        await self._consumer._client.force_metadata_update()
        cluster = self._consumer._client.cluster
        parts = [
            TopicPartition(t, p) for t in topics for p in cluster.partitions_for_topic(t) or ()
        ]
        got = await self._admin.list_consumer_group_offsets(self.group, partitions=parts)
        return {tp: (got[tp].offset if tp in got and got[tp].offset >= 0 else 0) for tp in parts}
