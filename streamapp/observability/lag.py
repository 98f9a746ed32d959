"""Consumer lag of the deployment's consumer group: committed offset vs end offset, per partition.

Read from the broker (the group's committed offsets and the partitions' end offsets), so one
worker sees every partition, whoever owns it. :func:`lag_rows` is the pure part; :func:`read_lag`
asks Kafka with short-lived clients, which never join the group and never commit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from aiokafka.admin import AIOKafkaAdminClient

from streamapp.ops.kafka import Kafka


class PartitionLag(NamedTuple):
    """One input partition: what the group committed, the end offset, and the records between."""

    topic: str
    partition: int
    committed: int | None
    """``None``: the group never committed this partition (it reads from the beginning)."""
    end: int
    lag: int


def lag_rows(
    ends: Mapping[tuple[str, int], int], committed: Mapping[tuple[str, int], int]
) -> list[PartitionLag]:
    """One row per partition of ``ends``, in topic and partition order."""
    rows = []
    for (topic, partition), end in sorted(ends.items()):
        done = committed.get((topic, partition))
        done = done if done is not None and done >= 0 else None
        rows.append(PartitionLag(topic, partition, done, end, max(0, end - (done or 0))))
    return rows


async def read_lag(bootstrap: str, group: str, topics: Sequence[str]) -> list[PartitionLag]:
    """The lag of ``group`` on every partition of ``topics`` (missing topics are left out)."""
    ends: dict[tuple[str, int], int] = {}
    async with Kafka(bootstrap) as kafka:
        for topic in topics:
            parts = await kafka.partitions(topic)
            if parts:
                for partition, end in (await kafka.end_offsets(topic, parts)).items():
                    ends[(topic, partition)] = end
    admin: Any = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    committed = {(tp.topic, tp.partition): int(meta.offset) for tp, meta in offsets.items()}
    return lag_rows(ends, committed)
