"""The operator commands' Kafka edge: read a topic to its end, produce with acks=all.

Thin over aiokafka: records leave this module as :class:`~streamapp.ops.records.Record` values.
A read takes the partitions' end offsets when it starts and stops there, so it returns a snapshot
even while workers keep writing. It assigns partitions by hand: it never joins a consumer group
and never commits, so it cannot disturb a worker. Nothing here decides what a record means.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final, Protocol

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.partitioner import murmur2

from streamapp.ops.errors import BrokerUnavailable, ReadStalled, TopicNotFound
from streamapp.ops.records import Record

STALL_S: Final = 30.0
"""A read that gets no record for this long while records remain is an error, not a hang."""


def partition_for_key(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner (murmur2, as Java and Faust use) gives ``key``."""
    hashed: int = murmur2(key)
    return (hashed & 0x7FFFFFFF) % partitions


@dataclass(frozen=True, slots=True)
class TopicRead:
    """The records of one read (offset order per partition) and the end offsets it read to."""

    records: list[Record]
    ends: dict[int, int]


class Broker(Protocol):
    """What ``dlq retry`` needs of Kafka: the seam an in-memory broker fills in tests."""

    async def partitions(self, topic: str) -> list[int] | None:
        """The partition ids of ``topic``, or ``None`` when it does not exist."""
        ...

    async def end_offsets(self, topic: str, partitions: Iterable[int]) -> dict[int, int]:
        """The offset the next record of each partition will get."""
        ...

    async def read(
        self,
        topic: str,
        *,
        partitions: Sequence[int] | None = None,
        since_ms: int | None = None,
        start: Mapping[int, int] | None = None,
        until: Mapping[int, int] | None = None,
    ) -> TopicRead:
        """Every record of ``topic`` up to its end offsets at the time of the call."""
        ...

    async def send(
        self,
        topic: str,
        *,
        key: bytes | None,
        value: bytes | None,
        partition: int,
        headers: Sequence[tuple[str, bytes]] = (),
    ) -> asyncio.Future[Any]:
        """Queue one record; the future resolves to its metadata (partition, offset) once acked."""
        ...


class Kafka:
    """One consumer (manual assignment) and, on first use, one idempotent acks=all producer."""

    def __init__(self, bootstrap_servers: str, *, stall_s: float = STALL_S) -> None:
        self._bootstrap = bootstrap_servers
        self._stall_s = stall_s
        self._consumer: Any = AIOKafkaConsumer(
            bootstrap_servers=bootstrap_servers,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=100,  # the end offsets are known: no need to wait for more
        )
        self._producer: Any = None

    async def __aenter__(self) -> Kafka:
        try:
            await self._consumer.start()
        except KafkaError as exc:
            await self._consumer.stop()  # releases what a half-started client holds
            raise BrokerUnavailable(self._bootstrap, str(exc)) from None
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._producer is not None:
            await self._producer.stop()
        await self._consumer.stop()

    async def partitions(self, topic: str) -> list[int] | None:
        """The partition ids of ``topic`` (fresh metadata), or ``None`` when it does not exist."""
        parts = self._consumer.partitions_for_topic(topic)
        if not parts:
            # aiokafka keeps metadata only of topics it was asked about; ask the cluster.
            cluster = await self._consumer._client.fetch_all_metadata()
            parts = cluster.partitions_for_topic(topic)
        return sorted(parts) if parts else None

    async def end_offsets(self, topic: str, partitions: Iterable[int]) -> dict[int, int]:
        """The offset the next record of each partition will get."""
        tps = [TopicPartition(topic, p) for p in partitions]
        ends = await self._consumer.end_offsets(tps)
        return {tp.partition: int(offset) for tp, offset in ends.items()}

    async def log_starts(self, topic: str, partitions: Iterable[int]) -> dict[int, int]:
        """The first retained offset of each partition."""
        tps = [TopicPartition(topic, p) for p in partitions]
        begins = await self._consumer.beginning_offsets(tps)
        return {tp.partition: int(offset) for tp, offset in begins.items()}

    async def offsets_for_time(
        self, topic: str, partitions: Iterable[int], time_ms: int
    ) -> dict[int, int | None]:
        """Per partition, the first offset whose record timestamp is >= ``time_ms`` (or None)."""
        tps = [TopicPartition(topic, p) for p in partitions]
        found = await self._consumer.offsets_for_times({tp: time_ms for tp in tps})
        return {
            tp.partition: (None if hit is None else int(hit.offset)) for tp, hit in found.items()
        }

    async def read(
        self,
        topic: str,
        *,
        partitions: Sequence[int] | None = None,
        since_ms: int | None = None,
        start: Mapping[int, int] | None = None,
        until: Mapping[int, int] | None = None,
    ) -> TopicRead:
        """Every record of ``topic`` up to its end offsets at the time of the call.

        Args:
            topic: The topic to read.
            partitions: Only these partitions (default: all).
            since_ms: Start each partition at its first record with a timestamp >= this.
            start: Start these partitions at these offsets (at the earliest still retained).
            until: Stop these partitions before these offsets (if they end later).

        Raises:
            TopicNotFound: ``topic`` does not exist.
            ReadStalled: no record arrived for ``stall_s`` seconds while some were still due.

        """
        parts = list(partitions) if partitions is not None else await self.partitions(topic)
        if not parts:
            raise TopicNotFound(topic)
        tps = [TopicPartition(topic, p) for p in parts]
        ends = await self.end_offsets(topic, parts)
        for partition, stop in (until or {}).items():
            if partition in ends:
                ends[partition] = min(ends[partition], stop)
        firsts = await self._starts(tps, ends, since_ms, start or {})
        due = [tp for tp in tps if firsts[tp.partition] < ends[tp.partition]]
        if not due:
            return TopicRead([], ends)
        self._consumer.assign(due)
        for tp in due:
            self._consumer.seek(tp, firsts[tp.partition])
        try:
            records = await self._drain(due, ends)
        finally:
            # An assigned partition keeps a fetch long-polling on the broker connection, and
            # the next offset or metadata request waits behind it (up to fetch_max_wait_ms).
            self._consumer.unsubscribe()
        return TopicRead(records, ends)

    async def _starts(
        self,
        tps: list[TopicPartition],
        ends: Mapping[int, int],
        since_ms: int | None,
        start: Mapping[int, int],
    ) -> dict[int, int]:
        """Where each partition's read begins: the earliest retained, moved on by the options."""
        begins = await self._consumer.beginning_offsets(tps)
        firsts = {tp.partition: int(offset) for tp, offset in begins.items()}
        if since_ms is not None:
            found = await self._consumer.offsets_for_times({tp: since_ms for tp in tps})
            for tp in tps:
                hit = found.get(tp)  # None: no record that new, so nothing to read there
                at = int(hit.offset) if hit is not None else ends[tp.partition]
                firsts[tp.partition] = max(firsts[tp.partition], at)
        for partition, offset in start.items():
            if partition in firsts:
                firsts[partition] = max(firsts[partition], offset)
        return firsts

    async def _drain(self, due: list[TopicPartition], ends: Mapping[int, int]) -> list[Record]:
        """Fetch from the assigned partitions until each has reached its end offset."""
        out: list[Record] = []
        remaining = set(due)
        loop = asyncio.get_running_loop()
        last_progress = loop.time()
        while remaining:
            batch = await self._consumer.getmany(*remaining, timeout_ms=500, max_records=10_000)
            for tp, messages in batch.items():
                end = ends[tp.partition]
                out += [_record(m) for m in messages if m.offset < end]
                if messages:
                    last_progress = loop.time()
            for tp in list(remaining):
                # position, not the last offset seen: compaction and transaction markers leave
                # gaps, so the record at end - 1 may not exist.
                if await self._consumer.position(tp) >= ends[tp.partition]:
                    remaining.discard(tp)
            if remaining and loop.time() - last_progress > self._stall_s:
                tp = min(remaining, key=lambda t: t.partition)
                position = await self._consumer.position(tp)
                raise ReadStalled(tp.topic, tp.partition, position, ends[tp.partition])
        return out

    async def send(
        self,
        topic: str,
        *,
        key: bytes | None,
        value: bytes | None,
        partition: int,
        headers: Sequence[tuple[str, bytes]] = (),
    ) -> asyncio.Future[Any]:
        """Queue one record; the returned future resolves to its metadata once acknowledged."""
        producer = await self._started_producer()
        future: asyncio.Future[Any] = await producer.send(
            topic, value=value, key=key, partition=partition, headers=list(headers) or None
        )
        return future

    async def _started_producer(self) -> Any:
        if self._producer is None:
            producer = AIOKafkaProducer(
                bootstrap_servers=self._bootstrap,
                acks="all",
                enable_idempotence=True,  # the client's own retries never duplicate a record
                linger_ms=5,
            )
            await producer.start()
            self._producer = producer
        return self._producer


async def acknowledged(futures: Iterable[asyncio.Future[Any]]) -> list[tuple[int, int]]:
    """Wait for every queued record's acknowledgement; return their (partition, offset)."""
    metadata = await asyncio.gather(*futures)
    return [(int(m.partition), int(m.offset)) for m in metadata]


def _record(message: Any) -> Record:
    return Record(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        timestamp_ms=message.timestamp,
        key=message.key,
        value=message.value,
        headers=tuple((k, bytes(v)) for k, v in (message.headers or ())),
    )
