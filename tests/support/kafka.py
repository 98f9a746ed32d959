"""Small aiokafka helpers for tests: produce records, read a topic to its end."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, bytes]


async def produce(
    bootstrap: str,
    topic: str,
    items: Iterable[tuple[bytes | None, bytes]],
    headers: Sequence[tuple[str, bytes]] = (),
) -> int:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    n = 0
    try:
        futures = []
        for key, value in items:
            futures.append(
                await producer.send(topic, value=value, key=key, headers=list(headers) or None)
            )
            n += 1
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return n


async def read_all(bootstrap: str, topic: str, *, timeout_s: float = 10.0) -> list[Record]:
    """Every record of the topic up to its current end (all partitions)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        parts = consumer.partitions_for_topic(topic)
        if parts is None:
            await consumer._client.force_metadata_update()
            parts = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        if not tps:
            return []
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        out: list[Record] = []
        remaining = {tp for tp in tps if ends[tp] > 0}
        deadline = asyncio.get_running_loop().time() + timeout_s
        while remaining and asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(timeout_ms=500, max_records=5000)
            for tp, msgs in batch.items():
                for m in msgs:
                    if m.offset < ends[tp]:
                        out.append(
                            Record(
                                m.topic,
                                m.partition,
                                m.offset,
                                m.key,
                                m.value,
                                {k: v for k, v in (m.headers or ())},
                            )
                        )
                    if m.offset + 1 >= ends[tp]:
                        remaining.discard(tp)
        return out
    finally:
        await consumer.stop()


def unpacked(records: Iterable[Record]) -> list[Record]:
    """The events of records read from an internal topic: a packed record's items one by one."""
    from dataclasses import asdict
    from types import SimpleNamespace

    from streamapp.packed import unpack_message

    out: list[Record] = []
    for r in records:
        fields = {**asdict(r), "headers": list(r.headers.items()), "timestamp": 0.0}
        for item in unpack_message(SimpleNamespace(**fields)):
            headers = dict(item.headers)
            out.append(Record(r.topic, r.partition, r.offset, item.key, item.value, headers))
    return out
