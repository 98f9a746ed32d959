"""Read a missing offset range of one input partition, as events the stages can process.

Used by the stage loop when :class:`~streamapp.state.in_order.OrderGuard` finds a gap (see that
module for why Faust cannot be asked to deliver the range again). A plain aiokafka consumer
without a group reads ``[start, end)``; each record becomes a :class:`FilledEvent` with the
attributes the stages and Faust's ``Consumer.ack`` read from a delivered event, so the batch is
handled and acknowledged as if Faust had delivered it.
"""

from __future__ import annotations

import time
from typing import Any, Final

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from streamapp.errors import StreamappError
from streamapp.state.in_order import Gap

FETCH_TIMEOUT_S: Final = 30.0


class GapFillTimeout(StreamappError):
    """The broker did not return a missing range in time: the stage loop exits without acking."""


class FilledMessage:
    """A fetched record in the shape of a Faust ``ConsumerMessage`` (the parts we use)."""

    def __init__(self, record: Any, tp: Any) -> None:
        self.topic: str = record.topic
        self.partition: int = record.partition
        self.offset: int = record.offset
        self.key: bytes | None = record.key
        self.value: bytes | None = record.value
        self.headers: list[tuple[str, bytes]] = list(record.headers or ())
        self.timestamp: float = record.timestamp / 1000.0
        self.tp = tp
        self.acked = False  # Faust's Consumer.ack reads and sets it


class FilledEvent:
    """A filled record as a Faust-like event; acknowledged straight to Faust's consumer."""

    def __init__(self, message: FilledMessage, consumer: Any) -> None:
        self.message = message
        self._consumer = consumer

    def ack(self) -> None:
        """Mark the offset processed in Faust's consumer, so its commits stay contiguous."""
        self._consumer.ack(self.message)


class GapFiller:
    """One plain consumer (and one admin client) per stage loop, created on first use."""

    def __init__(self, bootstrap_servers: str, app: Any) -> None:
        self._bootstrap = bootstrap_servers
        self._app = app  # its consumer acknowledges the filled records
        self._consumer: AIOKafkaConsumer | None = None
        self._admin: Any = None  # reads the group's committed offsets

    async def fetch(self, tp: Any, gap: Gap) -> list[FilledEvent]:
        """The records of ``tp`` in ``[gap.start, gap.end)`` that exist, in offset order."""
        consumer = await self._started()
        ktp = TopicPartition(tp.topic, tp.partition)
        consumer.assign([ktp])
        consumer.seek(ktp, gap.start)
        out: list[FilledEvent] = []
        deadline = time.monotonic() + FETCH_TIMEOUT_S
        while await consumer.position(ktp) < gap.end:
            if time.monotonic() > deadline:
                raise GapFillTimeout(f"{tp} [{gap.start}, {gap.end}) not read in time")
            fetched = await consumer.getmany(ktp, timeout_ms=500)
            for record in fetched.get(ktp, []):
                if gap.start <= record.offset < gap.end:
                    out.append(FilledEvent(FilledMessage(record, tp), self._app.consumer))
        return out

    async def first_unprocessed(self, tp: Any) -> int:
        """The offset ``tp`` must be processed from: the group's commit, else the first record.

        A commit of the worker's group (the app id) covers every record below it; with none,
        nothing of the partition is known to be processed.
        """
        ktp = TopicPartition(tp.topic, tp.partition)
        admin = await self._admin_started()
        try:
            found = await admin.list_consumer_group_offsets(self._app.conf.id, partitions=[ktp])
        except BaseException:
            self._admin = None
            await admin.close()
            raise
        meta = found.get(ktp)
        if meta is not None and meta.offset >= 0:
            return int(meta.offset)
        firsts = await (await self._started()).beginning_offsets([ktp])
        return int(firsts[ktp])

    async def close(self) -> None:
        """Stop both clients (they live as long as the stage loop; tests stop them)."""
        consumer, admin, self._consumer, self._admin = self._consumer, self._admin, None, None
        if consumer is not None:
            await consumer.stop()
        if admin is not None:
            await admin.close()

    async def _admin_started(self) -> Any:
        if self._admin is None:
            admin = AIOKafkaAdminClient(bootstrap_servers=self._bootstrap)
            await admin.start()
            self._admin = admin
        return self._admin

    async def _started(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self._bootstrap,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
            )
            await consumer.start()
            self._consumer = consumer
        return self._consumer
