"""Packed records: many events in one Kafka record on an internal topic (a micro-batch).

Why: inside a worker every Kafka record costs about 60-100 µs of Python in Faust's consumer path
(a task per record in its fetch loop, the conductor, the stream's event, the ack) and in its
producer, whatever the record holds. The stage work for one event is about as much. So a stage
that forwards events one per record spends half its time on records, not events. The validate
stage therefore sends ``events.identify`` one record per destination partition per batch, and
the identify stage reads each record's items back as if they had been records.

What a reader sees: :func:`unpack` turns a Faust event into :class:`Item` values that look like
the record they replace (topic, partition, offset, key, value, headers) plus ``item``, the index
inside the record. The replay fence's positions are ``(offset, item)`` already
(:mod:`streamapp.state.fence`), so a stage's own positions stay strictly increasing. A record
that is not packed (a ``dlq retry`` copy, a record some other producer wrote) is one item with
index 0: both kinds can share a topic.

Routing: an item goes to the partition Kafka's default partitioner gives its key (murmur2), the
partition it would have reached as a record of its own, so a retried single record and the
packed items of the same key meet the same table partition.

Bytes of a packed record (header ``streamapp-items`` holds the item count)::

    4-byte big-endian length n | n bytes of JSON [[key, [[header, value], ...], size], ...]
                               | the item values, concatenated, ``size`` bytes each

Keys and header values are written as Latin-1 strings, which maps every byte to one code point:
any bytes survive the JSON round trip unchanged.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from streamapp.ops.kafka import partition_for_key
from streamapp.topics import Header

log = logging.getLogger(__name__)

MAX_PACKED_BYTES: Final = 256 * 1024
"""A packed record is closed at this many value bytes: well under Kafka's 1 MiB record limit
(``max.message.bytes``, the producer's ``max_request_size``) whatever the batch size, and small
enough that a fetch of a few records still spreads over partitions."""

MAX_PACKED_ITEMS: Final = 65_536
"""A packed record is closed at this many items too (tiny values would otherwise make many)."""

ITEM_BITS: Final = 20
"""Bits of an item index in an :func:`ordinal`; more than :data:`MAX_PACKED_ITEMS` needs."""

_LENGTH: Final = struct.Struct(">I")
_ITEMS: Final = Header.ITEMS


def ordinal(offset: int, item: int) -> int:
    """``(offset, item)`` as one int with the same order: for fences that keep one number."""
    return (offset << ITEM_BITS) | item


NOT_DECODED: Final = object()
"""An item's ``decoded`` before anyone decoded it (``None`` means "does not decode")."""


class PackedRecordCorrupt(ValueError):
    """A record marked packed whose bytes do not decode: the caller dead-letters it whole."""


@dataclass(slots=True)
class Item:
    """One event of a (possibly packed) record, in the shape of a Faust ``ConsumerMessage``.

    ``message`` is the item itself, so code written for Faust events (``event.message.offset``)
    reads items unchanged.
    """

    topic: str
    partition: int
    offset: int
    item: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]
    timestamp: float
    """The record's timestamp, seconds (as Faust gives it): all items of a record share it."""
    decoded: Any = field(default=NOT_DECODED, repr=False, compare=False)
    """What :func:`streamapp.ingest.normalised.item_event` made of ``value``, kept because the
    profiles and combine stages get the same items and would decode each event twice."""

    @property
    def message(self) -> Item:
        """The item (it is its own message)."""
        return self


def is_packed(headers: Sequence[tuple[str, bytes]] | None) -> bool:
    """Whether a record's headers mark it packed."""
    return any(name == _ITEMS for name, _ in headers or ())


def item_count(headers: Sequence[tuple[str, bytes]] | None) -> int:
    """How many items a record with these headers holds, read without decoding it.

    1 if not packed; a count that does not parse counts as 1 (the reader finds out when it
    decodes the record).
    """
    for name, value in headers or ():
        if name == _ITEMS:
            try:
                return max(1, int(value))
            except ValueError:
                return 1
    return 1


def unpack_message(msg: Any) -> list[Item]:
    """The items of one record (a Faust message or an aiokafka ``ConsumerRecord``), in order.

    One item for a record not packed. Raises :class:`PackedRecordCorrupt` when a packed record
    does not decode.
    """
    headers = list(msg.headers or ())
    if not is_packed(headers):
        return [
            Item(
                msg.topic, msg.partition, msg.offset, 0, msg.key, msg.value, headers, msg.timestamp
            )
        ]
    return list(_items(msg))


def unpack_or_whole(msg: Any) -> list[Item]:
    """Like :func:`unpack_message`, but a packed record that does not decode is one item.

    That item has the record's whole bytes and no packed mark: the reader then treats it as any
    record it cannot read (a stage dead-letters it), never as a reason to stop.
    """
    try:
        return unpack_message(msg)
    except PackedRecordCorrupt:
        where = (msg.topic, msg.partition, msg.offset)
        log.warning("undecodable packed record at %s/%s/%s", *where)
        headers = [(k, v) for k, v in msg.headers or () if k != _ITEMS]
        return [Item(*where, 0, msg.key, msg.value, headers, msg.timestamp)]


def _items(msg: Any) -> Iterator[Item]:
    raw: bytes = msg.value or b""
    try:
        (n,) = _LENGTH.unpack_from(raw, 0)
        meta = orjson.loads(raw[4 : 4 + n])
        at = 4 + n
        topic, partition, offset, timestamp = msg.topic, msg.partition, msg.offset, msg.timestamp
        for index, (key, hdrs, size) in enumerate(meta):
            value = raw[at : at + size]
            if len(value) != size:
                raise PackedRecordCorrupt("an item runs past the end of the record")
            at += size
            yield Item(
                topic,
                partition,
                offset,
                index,
                key.encode("latin-1") if key is not None else None,
                value,
                [(h, v.encode("latin-1")) for h, v in hdrs],
                timestamp,
            )
    except PackedRecordCorrupt:
        raise
    except (struct.error, orjson.JSONDecodeError, ValueError, TypeError) as exc:
        raise PackedRecordCorrupt(f"packed record does not decode: {exc}") from exc


PARTITION_CACHE_KEYS = 65_536
_partition_cache: dict[int, dict[bytes, int]] = {}


def _partition(key: bytes, partitions: int) -> int:
    """``partition_for_key``, remembered for the most recent keys.

    A plain dict of bytes to ints, emptied when full, rather than ``lru_cache``: the garbage
    collector walks an ``lru_cache``'s 65,536 entries on every full collection, and skips a dict
    that holds only bytes and ints.
    """
    cache = _partition_cache.get(partitions)
    if cache is None:
        cache = _partition_cache[partitions] = {}
    found = cache.get(key)
    if found is None:
        if len(cache) >= PARTITION_CACHE_KEYS:
            cache.clear()
        found = cache[key] = partition_for_key(key, partitions)
    return found


@dataclass(slots=True)
class _Open:
    meta: list[list[Any]] = field(default_factory=list)
    values: list[bytes] = field(default_factory=list)
    size: int = 0


class Packer:
    """Collects a batch's outputs per destination partition; :meth:`drain` gives the records.

    Items keep their order per partition (the order :meth:`add` saw them), which is the order the
    replay fence relies on (upstream order, F4 in :mod:`streamapp.state.fence`).
    """

    __slots__ = ("_done", "_open", "_partitions")

    def __init__(self, partitions: int) -> None:
        self._partitions = partitions
        self._open: dict[int, _Open] = {}
        self._done: list[tuple[int, bytes, list[tuple[str, bytes]]]] = []

    def add(self, key: bytes, value: bytes, headers: Sequence[tuple[str, bytes]]) -> None:
        """Add one event bound for the partition of ``key``."""
        partition = _partition(key, self._partitions)
        box = self._open.get(partition)
        if box is None:
            box = self._open[partition] = _Open()
        elif box.size + len(value) > MAX_PACKED_BYTES or len(box.meta) >= MAX_PACKED_ITEMS:
            self._close(partition, box)
            box = self._open[partition] = _Open()
        box.meta.append(
            [key.decode("latin-1"), [[h, v.decode("latin-1")] for h, v in headers], len(value)]
        )
        box.values.append(value)
        box.size += len(value)

    def drain(self) -> list[tuple[int, bytes, list[tuple[str, bytes]]]]:
        """Every packed record ``(partition, value, headers)``, oldest first; the packer empties."""
        for partition, box in self._open.items():
            self._close(partition, box)
        self._open.clear()
        done, self._done = self._done, []
        return done

    def _close(self, partition: int, box: _Open) -> None:
        if not box.meta:
            return
        meta = orjson.dumps(box.meta)
        value = b"".join((_LENGTH.pack(len(meta)), meta, *box.values))
        self._done.append((partition, value, [(_ITEMS, str(len(box.meta)).encode())]))
