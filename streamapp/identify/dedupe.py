"""messageId dedupe: drop a client's retry of an event already accepted, within a horizon.

One entry per messageId, stored in the identify stage's table under
:func:`~streamapp.identify.keys.seen_key`, so it lives in the partition where every retry of the
event arrives (retries carry the same identity key). The entry records the own input coordinates
(partition, position) where the messageId was first accepted:

- the same coordinates again: our own replay after a crash, **not** a duplicate (the fence re-runs
  the record and its outputs must be sent again);
- other coordinates within the horizon: a duplicate (a client retry, or an upstream re-send the
  fence did not catch): drop it and count it;
- other coordinates beyond the horizon: a new occurrence; the entry is replaced.

Time is an input, and it must be deterministic under replay: pass the event's ``received_at_ms``
(set once, when streamapp first accepted the event), not the wall clock, so a replayed record
gets the same verdict as the first time. :func:`is_expired` is for garbage collection and does
take the wall clock; give it a ``retain_ms`` comfortably above the horizon (see its docstring).
This module must not read a clock or touch any other state.

Bytes (orjson): ``{"partition": 3, "at": [1041, 0], "seen_at_ms": 1700000000000}``.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from streamapp.state.fence import Position, StateCorrupt


@dataclass(frozen=True, slots=True)
class Seen:
    """Where and when a messageId was first accepted: the value to store under its key."""

    partition: int
    at: Position
    seen_at_ms: int

    def to_bytes(self) -> bytes:
        """Encode as orjson bytes."""
        return orjson.dumps(
            {"partition": self.partition, "at": self.at.to_json(), "seen_at_ms": self.seen_at_ms}
        )

    @classmethod
    def from_bytes(cls, raw: bytes) -> Seen:
        """Decode bytes written by :meth:`to_bytes`."""
        try:
            obj = orjson.loads(raw)
            partition, seen_at_ms = obj["partition"], obj["seen_at_ms"]
            if not isinstance(partition, int) or not isinstance(seen_at_ms, int):
                raise TypeError("partition and seen_at_ms must be integers")
            return cls(partition, Position.from_json(obj["at"]), seen_at_ms)
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            raise StateCorrupt("seen", str(exc)) from None


@dataclass(frozen=True, slots=True)
class Duplicate:
    """The verdict on a retry: ``first`` is the entry of the copy that was accepted."""

    first: Seen


def check_seen(
    existing: Seen | None, partition: int, at: Position, now_ms: int, horizon_ms: int
) -> Seen | Duplicate:
    """Judge one event's messageId.

    Args:
        existing: The stored entry of the messageId, if any.
        partition: The own input partition of the record.
        at: The own input position of the record.
        now_ms: The event's ``received_at_ms`` (deterministic under replay).
        horizon_ms: How long a messageId is remembered (``dedupe_horizon_s * 1000``).

    Returns:
        :class:`Duplicate` to drop the event, or the :class:`Seen` entry to store (the existing one
        for our own replay, a new one otherwise). Storing it again when unchanged is harmless and
        is what the fence's replay protocol asks for.

    """
    if existing is None:
        return Seen(partition, at, now_ms)
    if existing.partition == partition and existing.at == at:
        return existing
    if abs(now_ms - existing.seen_at_ms) <= horizon_ms:
        return Duplicate(existing)
    return Seen(partition, at, now_ms)


def is_expired(entry: Seen, now_ms: int, retain_ms: int) -> bool:
    """Tell whether a garbage collector may delete ``entry``.

    ``now_ms`` is the wall clock here. Choose ``retain_ms`` above ``horizon_ms`` by at least the
    longest time a record may wait before it is replayed (twice the horizon is a safe default):
    deleting an entry and then replaying a record that was judged a duplicate would let it through.
    """
    return now_ms - entry.seen_at_ms > retain_ms
