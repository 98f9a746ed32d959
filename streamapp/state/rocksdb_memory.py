"""One RocksDB memory budget for the whole worker, instead of one per partition database.

Why: Faust opens one RocksDB database per table partition, and its options give each database
its own block cache and its own write buffers. A worker holding 6 tables x 4 partitions had 24
caches of 32 MB and 24 x 2 write buffers of 8 MB: up to 1.15 GB that fills as events flow, so a
worker's RSS grew with the events it had processed (376, 565 and 1,164 MB after 100,000, 300,000
and 1,000,000 benchmark events) and would have grown with more partitions per worker.

How: every database a worker opens shares one LRU block cache (``STREAMAPP_ROCKSDB_CACHE_MB``)
and one write buffer manager (``STREAMAPP_ROCKSDB_WRITE_BUFFERS_MB``), which flushes the largest
memtable when all of them together pass the budget. RocksDB's own memory is then bounded by the
two settings whatever the partition count. The other options stay as in
:data:`streamapp.state.tables.ROCKSDB_OPTIONS`.

Sizing (1-worker drains of 1,000,000 benchmark events, then 30 s at 2,000 events/s; one run
each): a 64 MB cache gave 4,308 events/s, 221 us of CPU per event, peak RSS 508 MB; 256 MB gave
5,072 events/s, 193 us, 707 MB; 512 MB 4,815 events/s, 199 us, 1,049 MB. The profiles a batch
reads are spread over every user, so a cache much smaller than the hot tables costs a block
read and decompression per miss; 256 MB is the default.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import rocksdict
from faust.stores.rocksdb import RocksDBOptions

MB = 1024 * 1024


@dataclass(slots=True)
class SharedMemory:
    """The block cache and write buffer manager that every database of this process shares."""

    cache: rocksdict.Cache
    write_buffers: rocksdict.WriteBufferManager

    def usage_bytes(self) -> tuple[int, int]:
        """(block cache, memtables) bytes in use now."""
        return int(self.cache.get_usage()), int(self.write_buffers.get_usage())


_shared: SharedMemory | None = None
_lock = threading.Lock()


def shared_memory(cache_mb: int, write_buffers_mb: int) -> SharedMemory:
    """The process's shared budget, made on first use with these sizes.

    Later sizes are ignored: one worker is one process with one setting.
    """
    global _shared
    with _lock:
        if _shared is None:
            _shared = SharedMemory(
                cache=rocksdict.Cache(cache_mb * MB),
                write_buffers=rocksdict.WriteBufferManager(write_buffers_mb * MB, False),
            )
        return _shared


class SharedMemoryOptions(RocksDBOptions):
    """Faust's RocksDB options, with the block cache and write buffers of :class:`SharedMemory`."""

    def __init__(self, memory: SharedMemory, **options: Any) -> None:
        super().__init__(**options)
        self.memory = memory

    def as_options(self) -> Any:
        """The rocksdict options: Faust's, but the shared cache and write buffer manager."""
        options = rocksdict.Options(raw_mode=True)
        options.create_if_missing(True)
        options.set_max_open_files(self.max_open_files or -1)
        options.set_write_buffer_size(self.write_buffer_size)
        options.set_target_file_size_base(self.target_file_size_base)
        options.set_max_write_buffer_number(self.max_write_buffer_number)
        options.set_write_buffer_manager(self.memory.write_buffers)
        table = rocksdict.BlockBasedOptions()
        table.set_bloom_filter(self.bloom_filter_size, True)
        table.set_block_cache(self.memory.cache)
        table.set_index_type(rocksdict.BlockBasedIndexType.binary_search())
        options.set_block_based_table_factory(table)
        return options

    def open(self, path: Path, *, read_only: bool = False) -> Any:
        """Open a database read-write with :meth:`as_options` (Faust builds its options twice)."""
        options = self.as_options()
        options.set_db_paths([rocksdict.DBPath(str(path), self.target_file_size_base)])
        db = rocksdict.Rdict(
            str(path), options=options, access_type=rocksdict.AccessType.read_write()
        )
        db.set_read_options(rocksdict.ReadOptions())
        return db
