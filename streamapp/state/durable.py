"""Table writes whose changelog records are known to be on the broker before a batch is acked.

Why this exists: Faust sends a table's changelog records through its ``ProducerBuffer``
(``send_soon``), and the flush it runs before committing offsets does not wait for that buffer.
``ProducerBuffer.flush`` returns as soon as 0.1 s pass without a message handed on, and it
cannot see the message its sender task is handing to aiokafka at that moment, so the aiokafka
flush that follows misses it too. Offsets could therefore be committed while the last batch's
changelog records still sat in Faust's buffer: a ``kill -9`` then lost state that the committed
offsets claimed was saved. The new owner restored the changelog without those writes and
resumed after them, and counts came out short (the intermittent loss the three-SIGKILL test
showed in 2 of 8 runs).

Here a write changes the local RocksDB at once and queues its changelog record; :func:`settle`,
which :func:`streamapp.agents.run_batches` awaits before it acknowledges the batch, sends the
queued records in order straight to the producer and waits until the broker has every one
(``acks=all``). So by the time an input offset can be committed, its batch's state is in the
changelog. Then, per table partition, it records the last changelog offset as the store's
persisted offset (what Faust's own send callback does per record), so a restart reads only the
changelog after it.

Why not Faust's buffer at all: it hands records on one at a time from a task of its own, and
above 100 queued records it stops all consumption until it has flushed, so a batch of a few
thousand writes cost more in that buffer than in the stage. Sent from here, the records go to
aiokafka's batches directly, and the persisted offset is written once per partition per batch
instead of once per record.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from streamapp.errors import StreamappError


class Evicted(StreamappError):
    """The worker stopped being the consumer-group member that started the batch.

    The group gave its partitions to another worker, which may already have restored their
    tables: a write now would land in a changelog after the new owner's restore (a "zombie"
    write). The batch is dropped unwritten and unacknowledged; it is processed again by
    whoever owns its partitions after the rebalance.
    """


@dataclass(slots=True)
class _Batch:
    writes: list[tuple[Any, int, bytes, bytes | None]] = field(default_factory=list)
    """Queued changelog records: (table, partition, key, value or ``None`` for a tombstone)."""
    still_member: Callable[[], bool] | None = None


_pending: ContextVar[_Batch | None] = ContextVar("streamapp_durable_writes", default=None)


def _batch() -> _Batch:
    batch = _pending.get()
    if batch is None:
        raise RuntimeError("a table write outside of a batch: use tracked_writes()")
    if batch.still_member is not None and not batch.still_member():
        raise Evicted("left the consumer group during the batch; not writing its state")
    return batch


def put(table: Any, key: bytes, value: bytes) -> None:
    """``table[key] = value`` now; its changelog record is sent by :func:`settle`.

    Must run inside the input partition's event context (see :mod:`streamapp.state.tables`):
    the changelog partition and the local database both come from the current event.
    """
    batch = _batch()
    batch.writes.append((table, table.partition_for_key(key), key, value))
    table.data[key] = value


def delete(table: Any, key: bytes) -> None:
    """``del table[key]`` now; its tombstone on the changelog is sent by :func:`settle`."""
    batch = _batch()
    batch.writes.append((table, table.partition_for_key(key), key, None))
    del table.data[key]


@contextmanager
def tracked_writes(
    still_member: Callable[[], bool] | None = None,
) -> Iterator[_Batch]:
    """Collect the table writes made in this block (one batch) for :func:`settle`.

    ``still_member`` is asked before every write and before sending; when it says no, the write
    (or the send) raises :class:`Evicted` instead of happening.
    """
    batch = _Batch(still_member=still_member)
    token = _pending.set(batch)
    try:
        yield batch
    finally:
        _pending.reset(token)


async def settle() -> None:
    """Send the changelog records queued so far in this batch and wait until all are on the broker.

    Raises whatever the producer raised for a record it could not deliver: the caller (the
    stage loop) then ends the process without acknowledging, and the batch is replayed.
    """
    batch = _pending.get()
    if batch is None or not batch.writes:
        return
    if batch.still_member is not None and not batch.still_member():
        raise Evicted("left the consumer group during the batch; not sending its state")
    writes, batch.writes = batch.writes, []
    sent: list[tuple[Any, int, asyncio.Future[Any]]] = []
    for table, partition, key, value in writes:
        topic = table.changelog_topic.get_topic_name()
        future = await table.app.producer.send(topic, key, value, partition, None, None)
        sent.append((table, partition, future))
    results = await asyncio.gather(*(future for _, _, future in sent))
    last: dict[tuple[int, int], tuple[Any, Any]] = {}
    for (table, partition, _), metadata in zip(sent, results, strict=True):
        last[(id(table), partition)] = (table, metadata)  # offsets rise per partition
    for table, metadata in last.values():
        table.data.set_persisted_offset(metadata.topic_partition, metadata.offset)
