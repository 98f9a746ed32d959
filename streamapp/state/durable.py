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

Here every write keeps the future of its changelog record, and :func:`streamapp.agents.run_batches`
awaits all of a batch's futures before it acknowledges the batch. A future resolves when the
broker has the record (``acks=all``), so by the time an input offset can be committed, its
batch's state is in the changelog. The local RocksDB write happens at the same time as before.
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
    futures: list[asyncio.Future[Any]] = field(default_factory=list)
    still_member: Callable[[], bool] | None = None


_pending: ContextVar[_Batch | None] = ContextVar("streamapp_durable_writes", default=None)


def _batch_writes() -> list[asyncio.Future[Any]]:
    batch = _pending.get()
    if batch is None:
        raise RuntimeError("a table write outside of a batch: use tracked_writes()")
    if batch.still_member is not None and not batch.still_member():
        raise Evicted("left the consumer group during the batch; not writing its state")
    return batch.futures


def put(table: Any, key: bytes, value: bytes) -> None:
    """``table[key] = value``, keeping the changelog record's future for :func:`settle`.

    Must run inside the input partition's event context (see :mod:`streamapp.state.tables`):
    the changelog partition and the local database both come from the current event.
    """
    pending = _batch_writes()
    pending.append(table.send_changelog(table.partition_for_key(key), key, value))
    table.data[key] = value


def delete(table: Any, key: bytes) -> None:
    """``del table[key]`` (a tombstone on the changelog), keeping the record's future."""
    pending = _batch_writes()
    tombstone = table.send_changelog(
        table.partition_for_key(key), key, None, value_serializer="raw"
    )
    pending.append(tombstone)
    del table.data[key]


@contextmanager
def tracked_writes(
    still_member: Callable[[], bool] | None = None,
) -> Iterator[list[asyncio.Future[Any]]]:
    """Collect the futures of the changelog writes made in this block (one batch).

    ``still_member`` is asked before every write; when it says no, the write raises
    :class:`Evicted` instead of happening.
    """
    batch = _Batch(still_member=still_member)
    token = _pending.set(batch)
    try:
        yield batch.futures
    finally:
        _pending.reset(token)


async def settle() -> None:
    """Wait until every changelog write tracked so far in this batch is on the broker.

    Raises whatever the producer raised for a record it could not deliver: the caller (the
    stage loop) then ends the process without acknowledging, and the batch is replayed.
    """
    batch = _pending.get()
    if batch is not None and batch.futures:
        await asyncio.gather(*batch.futures)
        batch.futures.clear()
