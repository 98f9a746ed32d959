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
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

_pending: ContextVar[list[asyncio.Future[Any]] | None] = ContextVar(
    "streamapp_durable_writes", default=None
)


def _batch_writes() -> list[asyncio.Future[Any]]:
    pending = _pending.get()
    if pending is None:
        raise RuntimeError("a table write outside of a batch: use tracked_writes()")
    return pending


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
def tracked_writes() -> Iterator[list[asyncio.Future[Any]]]:
    """Collect the futures of the changelog writes made in this block (one batch)."""
    futures: list[asyncio.Future[Any]] = []
    token = _pending.set(futures)
    try:
        yield futures
    finally:
        _pending.reset(token)


async def settle() -> None:
    """Wait until every changelog write tracked so far in this batch is on the broker.

    Raises whatever the producer raised for a record it could not deliver: the caller (the
    stage loop) then ends the process without acknowledging, and the batch is replayed.
    """
    futures = _pending.get()
    if futures:
        await asyncio.gather(*futures)
        futures.clear()
