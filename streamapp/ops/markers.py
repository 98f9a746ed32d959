"""Retry markers: what ``dlq retry`` wrote on ``streamapp.dlq-retries`` about each letter.

The topic is compacted and keyed by the letter (``<dlq partition>:<dlq offset>``); the latest
value of a key is the letter's state. A marker is ``pending`` (a copy may have been sent to
``topic``/``partition`` at an offset >= ``from_offset``) or ``done`` (the copy is at ``offset``).
A tombstone (null value) forgets a letter, so an operator can allow it to be retried again.
The protocol that writes them is in :mod:`streamapp.ops.retry`. Pure.

Bytes (orjson): ``{"state": "pending", "run": "<uuid>", "at_ms": 1700000000000,
"topic": "events", "partition": 3, "from_offset": 1041, "offset": null}``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import TypeVar

import orjson

from streamapp.ops.records import Record

_T = TypeVar("_T")


class MarkerState(StrEnum):
    """Where one letter's retry stands."""

    PENDING = "pending"
    DONE = "done"


@dataclass(frozen=True, slots=True)
class Marker:
    """The retry state of one letter: where its copy went, or may have gone."""

    state: MarkerState
    run_id: str
    at_ms: int
    topic: str
    partition: int
    from_offset: int
    """The copy, if sent, is at or after this offset of ``topic``/``partition``."""
    offset: int | None = None
    """Where the copy landed (``done`` only)."""

    def done(self, *, offset: int, at_ms: int) -> Marker:
        """Return the marker that says the copy is at ``offset``."""
        return replace(self, state=MarkerState.DONE, offset=offset, at_ms=at_ms)

    def to_bytes(self) -> bytes:
        """Encode as orjson bytes."""
        return orjson.dumps(
            {
                "state": self.state.value,
                "run": self.run_id,
                "at_ms": self.at_ms,
                "topic": self.topic,
                "partition": self.partition,
                "from_offset": self.from_offset,
                "offset": self.offset,
            }
        )

    @classmethod
    def from_bytes(cls, raw: bytes) -> Marker:
        """Decode bytes written by :meth:`to_bytes`.

        Raises:
            ValueError: not a marker (not JSON, a field missing or of the wrong type).

        """
        try:
            obj = orjson.loads(raw)
            marker = cls(
                MarkerState(obj["state"]),
                _typed(obj["run"], str),
                _typed(obj["at_ms"], int),
                _typed(obj["topic"], str),
                _typed(obj["partition"], int),
                _typed(obj["from_offset"], int),
                None if obj.get("offset") is None else _typed(obj["offset"], int),
            )
        except (ValueError, KeyError, TypeError) as exc:  # JSONDecodeError is a ValueError
            raise ValueError(f"not a retry marker: {exc}") from None
        return marker


def _typed(value: object, kind: type[_T]) -> _T:
    if not isinstance(value, kind) or isinstance(value, bool):
        raise TypeError(f"{value!r} is not {kind.__name__}")
    return value


@dataclass(frozen=True, slots=True)
class MarkerLog:
    """The latest marker of every letter, as a compacting reader of the topic sees it."""

    markers: dict[str, Marker] = field(default_factory=dict)
    unreadable: frozenset[str] = frozenset()
    """Keys whose latest value is not a marker: such a letter is left alone, never re-sent."""

    def get(self, key: str) -> Marker | None:
        """The latest marker of the letter ``key``."""
        return self.markers.get(key)


def read_markers(records: Iterable[Record]) -> MarkerLog:
    """Fold the records of ``streamapp.dlq-retries`` (in offset order) into the latest per key."""
    markers: dict[str, Marker] = {}
    unreadable: set[str] = set()
    for record in records:
        if record.key is None:
            continue
        key = record.key.decode("utf-8", "replace")
        markers.pop(key, None)
        unreadable.discard(key)
        if record.value is None:
            continue  # a tombstone: the letter is forgotten
        try:
            markers[key] = Marker.from_bytes(record.value)
        except ValueError:
            unreadable.add(key)
    return MarkerLog(markers, frozenset(unreadable))


def first_claims(records: Iterable[Record]) -> dict[str, str]:
    """The run id of the first marker written for each key in ``records`` (offset order).

    ``records`` are the markers written after a run read the topic; the run whose pending marker
    comes first for a key holds that letter's claim (see :mod:`streamapp.ops.retry`).
    """
    claims: dict[str, str] = {}
    for record in records:
        if record.key is None or record.value is None:
            continue
        key = record.key.decode("utf-8", "replace")
        if key in claims:
            continue
        try:
            claims[key] = Marker.from_bytes(record.value).run_id
        except ValueError:
            claims[key] = ""  # someone wrote garbage first: nobody holds the claim
    return claims
