"""Table writes that reach the local RocksDB only after the broker has their changelog records.

Why this exists: Faust sends a table's changelog records through its ``ProducerBuffer``
(``send_soon``), and the flush it runs before committing offsets does not wait for that buffer.
``ProducerBuffer.flush`` returns as soon as 0.1 s pass without a message handed on, and it
cannot see the message its sender task is handing to aiokafka at that moment, so the aiokafka
flush that follows misses it too. Offsets could therefore be committed while the last batch's
changelog records still sat in Faust's buffer: a ``kill -9`` then lost state that the committed
offsets claimed was saved (the intermittent loss the three-SIGKILL test showed in 2 of 8 runs).

How a batch's writes go now:

1. :func:`put` and :func:`delete` only queue the write, per table partition, in call order.
   Reads inside the batch see their own writes through the stage's write-back view
   (:class:`streamapp.state.tables.BatchTable`) or the windows owner's cache, never through
   RocksDB.
2. :func:`settle` (awaited by :func:`streamapp.agents.run_batches` before it acknowledges the
   batch) puts each partition's queue into aiokafka record batches, closed, and sends them
   straight to the producer's accumulator, then waits until the broker has every one
   (``acks=all``).
3. Only then are the writes applied to the partition's RocksDB, in one ``WriteBatch`` together
   with Faust's persisted changelog offset (the offset of the last record sent). So the local
   store is always a prefix of the changelog, never ahead of it: a ``kill -9`` at any moment
   leaves either nothing of the batch locally (Faust's recovery reads it from the changelog,
   from the persisted offset on) or all of it with the offset that says so.

Why not Faust's path per record: a changelog record cost about 30 µs there (a ``FutureMessage``,
a hop through the buffer's task, a callback that writes the persisted offset to RocksDB once
per record), about 15 % of a draining worker. An earlier attempt (session 4) sent the queue
from :func:`settle` one record at a time but kept the local write at :func:`put`; the
three-SIGKILL test lost events with it. The likely cause: a kill, or an eviction, between the
local write and the send left RocksDB ahead of the changelog, and the replay fence then judged
the batch's records as already applied. Here that state cannot exist.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import rocksdict

from streamapp.errors import StreamappError

log = logging.getLogger(__name__)


class Evicted(StreamappError):
    """The worker stopped being the consumer-group member that started the batch.

    The group gave its partitions to another worker, which may already have restored their
    tables: a write now would land in a changelog after the new owner's restore (a "zombie"
    write). The batch is dropped unwritten and unacknowledged; it is processed again by
    whoever owns its partitions after the rebalance.
    """


@dataclass(slots=True)
class _PartitionWrites:
    """One table partition's queued writes, in call order (``None`` is a tombstone)."""

    table: Any
    partition: int
    writes: list[tuple[bytes, bytes | None]] = field(default_factory=list)


@dataclass(slots=True)
class _Batch:
    queued: dict[tuple[int, int], _PartitionWrites] = field(default_factory=dict)
    still_member: Callable[[], bool] | None = None


_pending: ContextVar[_Batch | None] = ContextVar("streamapp_durable_writes", default=None)


def _queue(table: Any, key: bytes, value: bytes | None) -> None:
    batch = _pending.get()
    if batch is None:
        raise RuntimeError("a table write outside of a batch: use tracked_writes()")
    if batch.still_member is not None and not batch.still_member():
        raise Evicted("left the consumer group during the batch; not writing its state")
    partition: int = table.partition_for_key(key)  # the current event's: one changelog partition
    slot = (id(table), partition)
    queued = batch.queued.get(slot)
    if queued is None:
        queued = batch.queued[slot] = _PartitionWrites(table, partition)
    queued.writes.append((key, value))


def put(table: Any, key: bytes, value: bytes) -> None:
    """``table[key] = value`` once the batch settles (see the module doc).

    Must run inside the input partition's event context (see :mod:`streamapp.state.tables`):
    the changelog partition comes from the current event.
    """
    _queue(table, key, value)


def delete(table: Any, key: bytes) -> None:
    """``del table[key]`` (a tombstone on the changelog) once the batch settles."""
    _queue(table, key, None)


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
    """Send the writes queued so far in this batch, wait for the broker, then apply them locally.

    Raises whatever the producer raised for a record it could not deliver: the caller (the
    stage loop) then ends the process without acknowledging, and the batch is replayed. Nothing
    of a partition is applied locally unless the broker has all of its records.
    """
    batch = _pending.get()
    if batch is None or not batch.queued:
        return
    queued, batch.queued = batch.queued, {}
    sent = []
    evicted = False
    for part in queued.values():
        if batch.still_member is not None and not batch.still_member():
            evicted = True  # the partitions not sent yet stay unwritten
            break
        sent.append((part, await _send(part)))
    for part, deliveries in sent:  # what was sent is applied, so local stays a changelog prefix
        last = -1
        for delivered, records in deliveries:
            metadata = await delivered
            last = metadata.offset + records - 1  # a batch's records have consecutive offsets
        _apply_locally(part, last)
    if evicted:
        raise Evicted("left the consumer group while sending the batch's state")


async def _send(part: _PartitionWrites) -> list[tuple[asyncio.Future[Any], int]]:
    """Hand the partition's records to aiokafka as closed batches: (delivery, records) each."""
    producer = part.table.app.producer._producer  # Faust's aiokafka producer (private)
    topic = part.table.changelog_topic.get_topic_name()
    deliveries: list[tuple[asyncio.Future[Any], int]] = []
    builder = producer.create_batch()
    for key, value in part.writes:
        if builder.append(key=key, value=value, timestamp=None) is None:  # full: send it
            deliveries.append(await _send_batch(producer, builder, topic, part.partition))
            builder = producer.create_batch()
            builder.append(key=key, value=value, timestamp=None)  # the first always fits
    deliveries.append(await _send_batch(producer, builder, topic, part.partition))
    return deliveries


async def _send_batch(
    producer: Any, builder: Any, topic: str, partition: int
) -> tuple[asyncio.Future[Any], int]:
    # Closed first: an open batch in the accumulator takes records from ``producer.send`` too,
    # and the record count (hence the last offset) would be wrong.
    builder.close()
    records: int = builder.record_count()
    delivered = await producer.send_batch(builder, topic, partition=partition)
    return delivered, records


def _apply_locally(part: _PartitionWrites, last_offset: int) -> None:
    """Write the partition's acknowledged records to its RocksDB, with the persisted offset.

    Through Faust's ``_db_for_partition`` (private), which opens the database when Faust has
    not (yet, or any more): the records are on the changelog, so the local store stays a prefix
    of it either way, as it did when Faust's own ``Store._set`` wrote at the time of the put.
    Skipping an absent database instead is the likely cause (not proven) of a loss the
    three-SIGKILL test showed once: the partition's next batch would read the values from
    before this one.
    """
    store = part.table.data
    if part.partition not in store._dbs:
        log.warning(
            "%s partition %s: database closed by a rebalance while its batch was sent; "
            "writing the acknowledged records to it anyway",
            part.table.name,
            part.partition,
        )
    db = store._db_for_partition(part.partition)
    writes = rocksdict.WriteBatch(raw_mode=True)
    for key, value in part.writes:
        if value is None:
            writes.delete(key)
        else:
            writes.put(key, value)
    writes.put(store.offset_key, str(last_offset).encode())
    db.write(writes)
