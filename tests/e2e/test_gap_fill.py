"""The stage loop reads a range Faust skipped straight from the broker, headers and all.

Faust's rebalance race that makes this necessary cannot be provoked on demand; the guard that
detects it is unit-tested (tests/unit/state/test_in_order.py) and the three-SIGKILL test runs
through it. This pins the reading half against the real broker.
"""

from __future__ import annotations

import asyncio
import uuid
from types import SimpleNamespace
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from streamapp.state.gap_fill import GapFiller
from streamapp.state.in_order import Gap
from tests.support.kafka import produce


class RecordingConsumer:
    def __init__(self) -> None:
        self.acked: list[int] = []

    def ack(self, message: Any) -> None:
        message.acked = True
        self.acked.append(message.offset)


async def _topic(bootstrap: str) -> str:
    topic = f"gapfill-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])
    finally:
        await admin.close()
    return topic


async def _fill(bootstrap: str) -> tuple[list[Any], list[int]]:
    topic = await _topic(bootstrap)
    items = [(b"k", f"v{i}".encode()) for i in range(10)]
    await produce(bootstrap, topic, items, headers=[("streamapp-cid", b"c")])
    consumer = RecordingConsumer()
    filler = GapFiller(bootstrap, SimpleNamespace(consumer=consumer))
    tp = SimpleNamespace(topic=topic, partition=_partition_of_k())
    try:
        events = await filler.fetch(tp, Gap(3, 7))
        for event in events:
            event.ack()
    finally:
        await filler.close()
    return events, consumer.acked


def _partition_of_k() -> int:
    from aiokafka.partitioner import DefaultPartitioner

    return int(DefaultPartitioner()(b"k", [0, 1], [0, 1]))


def test_a_skipped_range_is_read_in_order_and_acknowledged(bootstrap: str) -> None:
    events, acked = asyncio.run(_fill(bootstrap))
    assert [e.message.offset for e in events] == [3, 4, 5, 6]
    assert [e.message.value for e in events] == [b"v3", b"v4", b"v5", b"v6"]
    assert all(e.message.headers == [("streamapp-cid", b"c")] for e in events)
    assert all(e.message.timestamp > 1e9 for e in events)  # seconds, as Faust's messages
    assert acked == [3, 4, 5, 6]


async def _starts(bootstrap: str) -> tuple[int, int]:
    """Where a newly assigned partition must be processed from: before and after a commit."""
    topic = await _topic(bootstrap)
    await produce(bootstrap, topic, [(b"k", f"v{i}".encode()) for i in range(10)])
    group = f"gapfill-group-{uuid.uuid4().hex[:8]}"
    tp = SimpleNamespace(topic=topic, partition=_partition_of_k())
    filler = GapFiller(bootstrap, SimpleNamespace(conf=SimpleNamespace(id=group)))
    try:
        never_committed = await filler.first_unprocessed(tp)
        committer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
        )
        await committer.start()
        try:
            ktp = TopicPartition(topic, tp.partition)
            committer.assign([ktp])
            await committer.commit({ktp: 6})
        finally:
            await committer.stop()
        committed = await filler.first_unprocessed(tp)
    finally:
        await filler.close()
    return never_committed, committed


def test_a_new_partition_is_processed_from_the_commit_else_from_its_first_record(
    bootstrap: str,
) -> None:
    # The stage loop's guard starts a newly assigned partition here, not at Faust's first
    # record, which can be past records Faust dropped (streamapp.state.in_order).
    assert asyncio.run(_starts(bootstrap)) == (0, 6)
