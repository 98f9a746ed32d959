"""Faust tables on RocksDB (rocksdict) for the stages, and writing them per input partition.

Every table is changelog-backed (compacted topic), raw bytes in and out (the pure cores own the
value formats), with RocksDB options sized for a 2-core machine that runs several workers: small
write buffers per partition database instead of Faust's 64 MB x 3, and one block cache and
memtable budget for all of a worker's databases (:mod:`.rocksdb_memory`) instead of 2 GB each.

Faust picks the changelog partition of a write from the *current event*. A batch from
``noack_take`` mixes partitions, so the stages process it per input partition inside
:func:`partition_context`, which makes the last event of that partition the current one: every
read and write in the block then goes to that partition's database and changelog partition.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from faust.streams import _current_event

from streamapp.agents import origin_of
from streamapp.state import durable
from streamapp.state.fence import Fence, Progress, Verdict, progress_key

MB = 1024 * 1024
ROCKSDB_OPTIONS: dict[str, Any] = {
    "driver": "rocksdict",
    "write_buffer_size": 8 * MB,
    "max_write_buffer_number": 2,
    "target_file_size_base": 16 * MB,
    "max_open_files": 256,
}


def raw_topic(rt: Any, name: str) -> Any:
    """A Faust topic of raw bytes (keys and values), with the deployment's partition count."""
    return rt.app.topic(
        name,
        key_serializer="raw",
        value_serializer="raw",
        partitions=rt.settings.topic_partitions,
    )


def create_table(rt: Any, name: str, *, help_: str) -> Any:
    """A changelog-backed RocksDB table of raw bytes, one partition per input partition.

    Registered in ``rt.tables``, so its changelog topic is created with the others. Its store is
    the app's (``rocksdb-bulk://``: Faust's RocksDB store plus :mod:`.bulk_restore`).
    """
    table = rt.app.Table(
        name,
        default=None,
        key_type=bytes,  # bytes in, bytes out: Faust picks the "raw" codec for bytes types
        value_type=bytes,
        partitions=rt.settings.topic_partitions,
        options=dict(ROCKSDB_OPTIONS),
        help=help_,
    )
    rt.tables[name] = table
    return table


def scan(
    table: Any, partition: int, prefix: bytes, start: bytes | None = None
) -> Iterator[tuple[bytes, bytes]]:
    """The (key, value) pairs of one table partition under ``prefix``, from ``start``, in key order.

    Reads the partition's RocksDB directly (Faust's private ``_db_for_partition``): Faust's table
    API iterates every partition this worker holds, and a sweep needs one.
    """
    db = table.data._db_for_partition(partition)
    for key, value in db.items(from_key=start if start is not None else prefix):
        if not isinstance(key, bytes) or not key.startswith(prefix):
            break
        if isinstance(value, bytes):
            yield key, value


def by_partition(batch: Sequence[Any]) -> dict[int, list[Any]]:
    """The batch's Faust events grouped by input partition, each group in offset order."""
    groups: dict[int, list[Any]] = {}
    for event in batch:
        groups.setdefault(event.message.partition, []).append(event)
    return groups


@contextmanager
def partition_context(event: Any) -> Iterator[None]:
    """Make ``event`` the current event: table reads and writes go to its partition."""
    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)


class BatchTable:
    """A per-batch write-back view of one table partition: read-through, one write per key.

    Values written during the batch are read back from here, so a key touched by many records
    costs one RocksDB put and one changelog record at :meth:`flush`.
    """

    __slots__ = ("_db", "_pending", "_table")

    def __init__(self, table: Any, partition: int) -> None:
        self._table = table
        # Reads go to the partition's RocksDB directly (Faust's private ``_db_for_partition``,
        # as :func:`scan` does): through the table, a key that is missing (most dedupe lookups)
        # raised and caught a KeyError, and a key found went into Faust's key index, an LRU we
        # never use; together a few per cent of the worker's time.
        self._db = table.data._db_for_partition(partition)
        self._pending: dict[bytes, bytes] = {}

    def get(self, key: bytes) -> bytes | None:
        """The value of ``key``: this batch's write, else the table's."""
        if key in self._pending:
            return self._pending[key]
        value = self._db.get(key)
        return value if isinstance(value, bytes) else None

    def put(self, key: bytes, value: bytes) -> None:
        """Stage a write for :meth:`flush`."""
        self._pending[key] = value

    def flush(self, last: tuple[bytes, bytes] | None = None) -> int:
        """Write every staged value, then ``last`` (the progress value) after all of them."""
        table = self._table
        for key, value in self._pending.items():
            durable.put(table, key, value)
        if last is not None:
            durable.put(table, last[0], last[1])
        written = len(self._pending)
        self._pending.clear()
        return written


class FencedBatch:
    """One input partition's batch of a fenced stage: the table's working set and the fence.

    :meth:`judge` each record in offset order, read and :meth:`BatchTable.put` values through
    :attr:`state`, then :meth:`commit`: the values, then the progress value, last (the protocol
    of :mod:`streamapp.state.fence`).
    """

    __slots__ = ("_progress_key", "fence", "state")

    def __init__(self, table: Any, partition: int) -> None:
        self.state = BatchTable(table, partition)
        self._progress_key = progress_key(partition).encode()
        stored = self.state.get(self._progress_key)
        self.fence = Fence(Progress.from_bytes(stored) if stored is not None else None)

    def judge(self, message: Any) -> Verdict:
        """The fence's verdict on one item (own ``(offset, item)``, origin from its headers)."""
        origin, origin_index = origin_of(message.headers)
        return self.fence.judge((message.offset, message.item), origin, origin_index)

    def commit(self) -> None:
        """Write the batch's values, then the progress value."""
        self.state.flush(last=(self._progress_key, self.fence.progress().to_bytes()))
