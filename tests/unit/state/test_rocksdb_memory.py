"""All of a worker's RocksDB databases draw on one block cache and one memtable budget."""

from pathlib import Path

from streamapp.state.rocksdb_memory import MB, SharedMemory, SharedMemoryOptions, shared_memory
from streamapp.state.tables import ROCKSDB_OPTIONS


def options(memory: SharedMemory) -> SharedMemoryOptions:
    faust_options = {k: v for k, v in ROCKSDB_OPTIONS.items() if k != "driver"}
    return SharedMemoryOptions(memory, use_rocksdict=True, **faust_options)


def fill(db: object, tag: bytes, n: int = 20_000) -> None:
    for i in range(n):
        db[tag + b"%06d" % i] = b"v" * 200  # type: ignore[index]


def test_two_databases_share_one_memtable_budget_and_one_cache(tmp_path: Path) -> None:
    import rocksdict

    memory = SharedMemory(
        cache=rocksdict.Cache(16 * MB), write_buffers=rocksdict.WriteBufferManager(64 * MB, False)
    )
    first = options(memory).open(tmp_path / "p0")
    second = options(memory).open(tmp_path / "p1")
    fill(first, b"a")
    after_first = memory.usage_bytes()[1]
    fill(second, b"b")
    assert after_first > 4 * MB  # the first database's memtable is counted...
    assert memory.usage_bytes()[1] > after_first + 4 * MB  # ...and the second's in the same budget

    for db in (first, second):
        db.flush()  # to SST files, so reads go through the block cache
    cache_before = memory.usage_bytes()[0]
    assert first[b"a000123"] == b"v" * 200
    cache_after_first = memory.usage_bytes()[0]
    assert second[b"b019999"] == b"v" * 200
    assert cache_after_first > cache_before
    assert memory.usage_bytes()[0] > cache_after_first  # both read into the one cache
    first.close()
    second.close()


def test_reopened_database_keeps_its_data(tmp_path: Path) -> None:
    memory = shared_memory(8, 8)
    db = options(memory).open(tmp_path / "p0")
    fill(db, b"k", 100)
    db.close()
    db = options(memory).open(tmp_path / "p0")
    assert db[b"k000099"] == b"v" * 200
    db.close()


def test_the_process_budget_is_made_once() -> None:
    assert shared_memory(8, 8) is shared_memory(64, 64)
