"""Consumer lag of the deployment's consumer group: committed offset vs end offset, per partition.

Read from the broker (the group's committed offsets and the partitions' end offsets), so one
worker sees every partition, whoever owns it. :func:`lag_rows` is the pure part; :class:`LagReader`
asks Kafka with clients that never join the group and never commit.
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


class LagReader:
    """The lag of one consumer group, read with long-lived clients (one consumer, one admin).

    Why long-lived: the sampler asks every few seconds on every worker, and a new pair of clients
    per sample (bootstrap, metadata, connections) cost more than the answer; under load it took
    over 10 s. The clients never join the group and never commit; after an error they are
    dropped and made again on the next read.
    """

    def __init__(self, bootstrap: str) -> None:
        self._bootstrap = bootstrap
        self._kafka: Kafka | None = None
        self._admin: Any = None

    async def read(self, group: str, topics: Sequence[str]) -> list[PartitionLag]:
        """The lag of ``group`` on every partition of ``topics`` (missing topics are left out)."""
        try:
            return await self._read(group, topics)
        except BaseException:
            await self.close()
            raise

    async def _read(self, group: str, topics: Sequence[str]) -> list[PartitionLag]:
        if self._kafka is None:
            kafka = Kafka(self._bootstrap)
            await kafka.__aenter__()
            self._kafka = kafka
        if self._admin is None:
            admin: Any = AIOKafkaAdminClient(bootstrap_servers=self._bootstrap)
            await admin.start()
            self._admin = admin
        ends: dict[tuple[str, int], int] = {}
        for topic in topics:
            parts = await self._kafka.partitions(topic)
            if parts:
                for partition, end in (await self._kafka.end_offsets(topic, parts)).items():
                    ends[(topic, partition)] = end
        offsets = await self._admin.list_consumer_group_offsets(group)
        committed = {(tp.topic, tp.partition): int(meta.offset) for tp, meta in offsets.items()}
        return lag_rows(ends, committed)

    async def close(self) -> None:
        """Stop both clients (safe to call twice)."""
        kafka, admin, self._kafka, self._admin = self._kafka, self._admin, None, None
        if kafka is not None:
            await kafka.__aexit__(None, None, None)
        if admin is not None:
            await admin.close()


async def read_lag(bootstrap: str, group: str, topics: Sequence[str]) -> list[PartitionLag]:
    """The lag of ``group`` on every partition of ``topics``, with clients made for this call."""
    reader = LagReader(bootstrap)
    try:
        return await reader.read(group, topics)
    finally:
        await reader.close()
