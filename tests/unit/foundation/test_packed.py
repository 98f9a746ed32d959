"""Packed records: what a packer writes, a reader gets back item for item, in order."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from streamapp.agents import OutputNumbering, origin_of, stamp, unpack_all
from streamapp.events import Origin
from streamapp.ops.kafka import partition_for_key
from streamapp.packed import (
    MAX_PACKED_BYTES,
    PARTITION_CACHE_KEYS,
    Packer,
    _partition,
    _partition_cache,
    unpack_message,
)
from streamapp.topics import Header


def record(value: bytes, headers: list[tuple[str, bytes]], offset: int = 7) -> Any:
    message = SimpleNamespace(
        topic="events.identify",
        partition=2,
        offset=offset,
        key=None,
        value=value,
        headers=headers,
        timestamp=1.5,
    )
    return SimpleNamespace(message=message)


item_st = st.tuples(
    st.binary(min_size=1, max_size=40),
    st.binary(max_size=300),
    st.lists(st.tuples(st.sampled_from(["streamapp-cid", "x"]), st.binary(max_size=30))),
)


@given(st.lists(item_st, max_size=40), st.integers(min_value=1, max_value=8))
def test_every_item_comes_back_byte_for_byte_on_its_keys_partition(
    items: list[tuple[bytes, bytes, list[tuple[str, bytes]]]], partitions: int
) -> None:
    packer = Packer(partitions)
    for key, value, headers in items:
        packer.add(key, value, headers)
    got: dict[int, list[tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]]] = {}
    for partition, value, headers in packer.drain():
        assert dict(headers)[Header.ITEMS]
        unpacked = unpack_message(record(value, headers).message)
        assert [i.item for i in unpacked] == list(range(len(unpacked)))
        got.setdefault(partition, []).extend((i.key, i.value, i.headers) for i in unpacked)
    expected: dict[int, list[tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]]] = {}
    for key, value, headers in items:
        expected.setdefault(partition_for_key(key, partitions), []).append((key, value, headers))
    assert got == expected  # same partition as a record of its own, same order, same bytes
    assert packer.drain() == []


def test_a_packed_record_is_closed_before_it_passes_the_size_limit() -> None:
    packer = Packer(1)
    body = b"x" * 1000
    count = 3 * MAX_PACKED_BYTES // len(body)
    for n in range(count):
        packer.add(b"k", body, [("n", str(n).encode())])
    records = packer.drain()
    assert len(records) >= 3
    assert all(len(value) < MAX_PACKED_BYTES + 64 * 1024 for _, value, _ in records)
    numbers = [
        int(i.headers[0][1]) for _, v, h in records for i in unpack_message(record(v, h).message)
    ]
    assert numbers == list(range(count))


def test_a_record_not_packed_is_one_item_with_index_0() -> None:
    plain = record(b'{"type":"track"}', [("streamapp-cid", b"c1")])
    (only,) = unpack_message(plain.message)
    assert (only.offset, only.item, only.value, only.headers) == (
        7,
        0,
        b'{"type":"track"}',
        [("streamapp-cid", b"c1")],
    )
    assert only.message is only


def test_a_corrupt_packed_record_becomes_one_item_of_its_bytes_not_a_crash() -> None:
    bad = record(
        b"\x00\x00\x00\x09not json at all", [(Header.ITEMS, b"3"), ("streamapp-cid", b"c")]
    )
    good_value = Packer(1)
    good_value.add(b"u", b"{}", [])
    ((_, value, headers),) = good_value.drain()
    items = unpack_all([bad, record(value, headers, offset=8)])
    assert [(i.offset, i.item, i.value) for i in items] == [
        (7, 0, b"\x00\x00\x00\x09not json at all"),
        (8, 0, b"{}"),
    ]
    assert items[0].headers == [("streamapp-cid", b"c")]  # no longer marked packed


def test_outputs_are_numbered_per_input_record_across_its_items() -> None:
    numbering = OutputNumbering()
    assert [numbering.next(o) for o in (5, 5, 5, 6, 6, 9)] == [0, 1, 2, 0, 1, 0]


def test_the_packers_partition_cache_agrees_with_the_hash_and_stays_bounded() -> None:
    keys = [f"user-{i}".encode() for i in range(PARTITION_CACHE_KEYS + 1_000)]
    for key in keys:
        assert _partition(key, 4) == partition_for_key(key, 4)
    assert _partition(keys[0], 4) == partition_for_key(keys[0], 4)  # after the cache was emptied
    assert _partition(keys[0], 7) == partition_for_key(keys[0], 7)  # per partition count
    assert all(len(cache) <= PARTITION_CACHE_KEYS for cache in _partition_cache.values())


def test_origin_headers_read_back_as_stamped_and_bad_ones_mean_no_origin() -> None:
    stamped = stamp(b"cid-1", "p.events.identify", 3, 1234, 2)
    assert origin_of(stamped) == (Origin("p.events.identify", 3, 1234), 2)
    no_index = [h for h in stamped if h[0] != Header.ORIGIN_INDEX]
    assert origin_of(no_index) == (Origin("p.events.identify", 3, 1234), 0)
    # The first header of a name counts, as header() reads it.
    assert origin_of([*stamped, (Header.ORIGIN_OFFSET, b"99")])[0] == Origin(
        "p.events.identify", 3, 1234
    )
    assert origin_of([h for h in stamped if h[0] != Header.ORIGIN_PARTITION]) == (None, 0)
    assert origin_of([(Header.ORIGIN_OFFSET, b"x"), *stamped]) == (None, 0)
    assert origin_of(None) == (None, 0)
