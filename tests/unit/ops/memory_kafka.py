"""An in-memory broker with the operator commands' Kafka seam (:class:`streamapp.ops.kafka.Broker`).

Every call yields to the event loop, so two retry runs gathered on one broker interleave at
every step. ``crash_at`` makes the n-th send raise :class:`Crash` (after appending the record,
or before, as ``appended_on_crash`` says): what a process killed there leaves behind.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from streamapp.ops.kafka import TopicRead
from streamapp.ops.records import Record


class Crash(Exception):
    """The process died here."""


class Metadata(NamedTuple):
    partition: int
    offset: int


class MemoryKafka:
    def __init__(self, partitions: Mapping[str, int]) -> None:
        self.counts = dict(partitions)
        self.logs: dict[tuple[str, int], list[Record]] = defaultdict(list)
        self.sends = 0
        self.crash_at: int | None = None
        self.appended_on_crash = True

    def append(
        self,
        topic: str,
        partition: int,
        key: bytes | None,
        value: bytes | None,
        headers: Sequence[tuple[str, bytes]] = (),
    ) -> Record:
        log = self.logs[(topic, partition)]
        record = Record(topic, partition, len(log), 0, key, value, tuple(headers))
        log.append(record)
        return record

    def records(self, topic: str) -> list[Record]:
        return [r for (t, _), log in sorted(self.logs.items()) if t == topic for r in log]

    async def partitions(self, topic: str) -> list[int] | None:
        await asyncio.sleep(0)
        count = self.counts.get(topic)
        return list(range(count)) if count else None

    async def end_offsets(self, topic: str, partitions: Iterable[int]) -> dict[int, int]:
        await asyncio.sleep(0)
        return {p: len(self.logs[(topic, p)]) for p in partitions}

    async def read(
        self,
        topic: str,
        *,
        partitions: Sequence[int] | None = None,
        since_ms: int | None = None,
        start: Mapping[int, int] | None = None,
        until: Mapping[int, int] | None = None,
    ) -> TopicRead:
        await asyncio.sleep(0)
        parts = list(partitions) if partitions is not None else list(range(self.counts[topic]))
        ends = {p: min(len(self.logs[(topic, p)]), (until or {}).get(p, 1 << 62)) for p in parts}
        records = [
            r
            for p in parts
            for r in self.logs[(topic, p)][(start or {}).get(p, 0) : ends[p]]
            if since_ms is None or r.timestamp_ms >= since_ms
        ]
        return TopicRead(records, ends)

    async def send(
        self,
        topic: str,
        *,
        key: bytes | None,
        value: bytes | None,
        partition: int,
        headers: Sequence[tuple[str, bytes]] = (),
    ) -> asyncio.Future[Any]:
        await asyncio.sleep(0)
        self.sends += 1
        crash = self.crash_at is not None and self.sends >= self.crash_at
        if crash and not self.appended_on_crash:
            raise Crash(self.sends)
        record = self.append(topic, partition, key, value, headers)
        if crash:
            raise Crash(self.sends)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        future.set_result(Metadata(partition, record.offset))
        return future
