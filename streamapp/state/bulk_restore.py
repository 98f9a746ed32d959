"""Rebuild a table partition from its changelog in bulk, before Faust's own recovery starts.

Why: Faust's recovery applies a changelog one record at a time through its conductor, an
``asyncio.wait_for`` per record and per-record bookkeeping: about 8,000 records/s on this
machine, so a worker that lost its disk needed two minutes for a million profiles. A plain
consumer reading the same partition with large fetches and writing RocksDB write batches does
the same work at the speed of decoding Kafka batches.

How it fits Faust: when the store opens an *active* partition's database in
``assign_partitions`` (during the rebalance, before recovery reads any offset), the partition's
changelog is read from the offset after the one the local database has (Faust's own
``persisted_offset``) to the end, written in write batches, and that last offset is recorded as
the persisted offset. Faust's recovery then starts from there and only reads the few records
written meanwhile. Short tails (under ``STREAMAPP_BULK_RESTORE_MIN_RECORDS``, 5,000 by default)
are left to Faust.

Why it is safe: it writes only the local database, never a changelog, and what it writes is a
prefix of the changelog together with the offset that prefix ends at: exactly the state Faust's
recovery would have reached at that offset. A rebalance that revokes the partition meanwhile
leaves a correct, merely warmer, local copy. Standby partitions are left to Faust.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any, Final

import rocksdict
from aiokafka import AIOKafkaConsumer, TopicPartition
from faust.stores.rocksdb import Store

from streamapp.state.rocksdb_memory import SharedMemoryOptions, shared_memory

log = logging.getLogger(__name__)

SCHEME: Final = "rocksdb-bulk"
"""Store URL scheme of :class:`BulkRestoringStore` (registered in Faust's store registry)."""

WRITE_BATCH_RECORDS: Final = 20_000
FETCH_BYTES: Final = 16 * 1024 * 1024


def register() -> None:
    """Make ``rocksdb-bulk://`` a Faust store URL (idempotent)."""
    from faust import stores

    stores.STORES.aliases.setdefault(SCHEME, f"{__name__}:BulkRestoringStore")


def bootstrap_of(app: Any) -> str:
    """``host:port,...`` of the app's brokers (Faust keeps them as ``kafka://`` URLs)."""
    return ",".join(f"{url.host}:{url.port or 9092}" for url in app.conf.broker)


class BulkRestoringStore(Store):
    """Faust's RocksDB store, plus a bulk rebuild of each newly assigned active partition.

    Its databases share one memory budget (:mod:`.rocksdb_memory`).
    """

    def __init__(self, url: Any, app: Any, table: Any, **kwargs: Any) -> None:
        super().__init__(url, app, table, **kwargs)
        settings = app.runtime.settings
        memory = shared_memory(settings.rocksdb_cache_mb, settings.rocksdb_write_buffers_mb)
        self.rocksdb_options = SharedMemoryOptions(
            memory, **(self.options or {}), use_rocksdict=self.use_rocksdict
        )

    async def assign_partitions(self, table: Any, tps: Any, generation_id: int = 0) -> None:
        """Open the partitions' databases (Faust), then bulk-load the active ones."""
        await super().assign_partitions(table, tps, generation_id)
        standbys = self.app.assignor.assigned_standbys()
        mine = sorted(
            (tp for tp in tps if tp.topic in table.changelog_topic.topics and tp not in standbys),
            key=lambda tp: tp.partition,
        )
        if mine:
            app: Any = self.app  # a StreamApp, which carries the runtime
            least = int(app.runtime.settings.bulk_restore_min_records)
            await restore_or_leave_to_faust(self, mine, bootstrap_of(self.app), least)


async def restore_or_leave_to_faust(
    store: Any, tps: Iterable[Any], bootstrap: str, min_records: int
) -> int:
    """:func:`restore`, but a failure only logs: Faust's own recovery then does all the work.

    Safe to fall back at any point: a partition's persisted offset moves only after all of it
    was written, and Faust applying a prefix of the changelog again, in order, ends at the same
    state.
    """
    try:
        return await restore(store, tps, bootstrap, min_records=min_records)
    except Exception:
        log.warning("bulk restore failed; Faust's recovery reads the changelogs", exc_info=True)
        return 0


async def restore(store: Any, tps: Iterable[Any], bootstrap: str, *, min_records: int) -> int:
    """Bring each partition's local database up to its changelog's end; the records written.

    Partitions less than ``min_records`` behind are left to Faust's recovery.
    """
    wanted = {TopicPartition(tp.topic, tp.partition): tp for tp in tps}
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_bytes=FETCH_BYTES,
        max_partition_fetch_bytes=FETCH_BYTES,
    )
    await consumer.start()
    try:
        consumer.assign(list(wanted))
        ends = await consumer.end_offsets(list(wanted))
        starts = await consumer.beginning_offsets(list(wanted))
        due: dict[TopicPartition, int] = {}
        for ktp, tp in wanted.items():
            persisted = store.persisted_offset(tp)
            start = max(starts[ktp], persisted + 1 if persisted is not None else 0)
            if ends[ktp] - start >= min_records:
                consumer.seek(ktp, start)
                due[ktp] = ends[ktp]
        total = 0
        for ktp, end in due.items():
            total += await _load(consumer, store, wanted[ktp], ktp, end)
        return total
    finally:
        await consumer.stop()


async def _load(
    consumer: AIOKafkaConsumer, store: Any, tp: Any, ktp: TopicPartition, end: int
) -> int:
    """Read ``ktp`` up to ``end`` into the partition's database; the records written."""
    db = store._db_for_partition(tp.partition)  # opened by Faust's assign_partitions
    started = time.monotonic()
    written = 0
    last = -1
    batch = rocksdict.WriteBatch(raw_mode=True)
    in_batch = 0
    while await consumer.position(ktp) < end:
        fetched = await consumer.getmany(ktp, timeout_ms=1000, max_records=WRITE_BATCH_RECORDS)
        for record in fetched.get(ktp, ()):
            if record.offset >= end:
                break
            last = record.offset
            if record.key is None:
                continue  # not a table write: nothing to restore
            if record.value is None:
                batch.delete(record.key)
            else:
                batch.put(record.key, record.value)
            in_batch += 1
        if in_batch >= WRITE_BATCH_RECORDS:
            written += _flush(db, batch, in_batch)
            batch, in_batch = rocksdict.WriteBatch(raw_mode=True), 0
    written += _flush(db, batch, in_batch)
    if last >= 0:
        store.set_persisted_offset(tp, last)
    log.info(
        "bulk-restored %s records of %s in %.1f s (Faust's recovery continues from offset %s)",
        written, tp, time.monotonic() - started, last + 1,
    )  # fmt: skip
    return written


def _flush(db: Any, batch: Any, records: int) -> int:
    if records:
        db.write(batch)
    return records
