"""An upgraded deployment's validate reader starts where the old Faust agent left ``events``.

Before the validate stage had its own consumer group, the workers' Faust group read ``events``.
A worker of the new version must not read the whole topic again: the events the old group had
committed are not validated (nor dead-lettered) a second time.
"""

from __future__ import annotations

import asyncio
import time

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from streamapp.topics import validate_group
from tests.support.kafka import produce
from tests.support.settle import metric
from tests.support.workers import Deployment, Worker

OLD = 30  # validated by the old version: committed by the workers' group
NEW = 12  # arrived after the upgrade


def _events(first: int, n: int) -> list[tuple[bytes, bytes]]:
    out = []
    for i in range(first, first + n):
        body = {"type": "track", "event": "Upgraded", "userId": f"u{i}", "messageId": f"m{i}"}
        out.append((f"u{i}".encode(), orjson.dumps(body)))
    return out


async def _old_version_was_here(d: Deployment) -> None:
    """The events topic with OLD events, all committed by the workers' group; then NEW more."""
    topic = d.topic("events")
    admin = AIOKafkaAdminClient(bootstrap_servers=d.bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, d.partitions, 1)])
    finally:
        await admin.close()
    await produce(d.bootstrap, topic, _events(0, OLD))
    committer = AIOKafkaConsumer(
        bootstrap_servers=d.bootstrap, group_id=f"{d.prefix}app", enable_auto_commit=False
    )
    await committer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(d.partitions)]
        committer.assign(tps)
        await committer.commit(await committer.end_offsets(tps))
    finally:
        await committer.stop()
    await produce(d.bootstrap, topic, _events(OLD, NEW))


async def _validate_committed(d: Deployment) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=d.bootstrap)
    await admin.start()
    try:
        found = await admin.list_consumer_group_offsets(validate_group(f"{d.prefix}app"))
    finally:
        await admin.close()
    return sum(meta.offset for meta in found.values() if meta.offset >= 0)


def _validated(worker: Worker) -> float:
    return metric(worker, "streamapp_stage_events_total", 'stage="validate"')


def test_validate_starts_where_the_workers_group_left_events(workers, deployment) -> None:
    asyncio.run(_old_version_was_here(deployment))
    worker = workers()
    worker.wait_ready(topic=deployment.topic("events"))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if _validated(worker) >= NEW and asyncio.run(_validate_committed(deployment)) == OLD + NEW:
            break
        time.sleep(0.2)
    time.sleep(2)  # anything read again from the start would show by now
    assert _validated(worker) == NEW, worker.log_tail()
    assert asyncio.run(_validate_committed(deployment)) == OLD + NEW
