"""The profile of one id: traits, first/last seen, event count, known ids, stitching marks.

Rules of :func:`apply_event` (one event routed to this id):

- ``event_count`` + 1; ``first_seen_ms`` min and ``last_seen_ms`` max of event time;
- ``last_event`` is the event with the largest (event time, messageId, name);
- ``traits``: only ``identify`` calls set traits (``group`` traits describe the group, not the
  person, and are not mixed in), per key by latest event time (:mod:`.traits`);
- ``known_ids``: the event's ``anonymousId``, ``userId`` and alias ``previousId`` (this profile's
  own id included, so it survives a merge with its first-seen time), bounded to the earliest
  ``known_ids_max`` (:mod:`.known_ids`);
- ``identified`` becomes true when an event whose ``userId`` is this id is applied: the id is a real
  user id, so a hand-off of it is refused.

Rules of :func:`merge_profile` (stitching another id's profile in): counts add, first min, last
max, traits per key by latest time, known ids united, ``last_event`` the later, ``identified``
or-ed, ``merged_from`` united plus the other id. Every piece is a sum, a min/max or a union, so
merges and events commute and merges associate. (The other id is in its own known ids if it had
events; if it had none, the event that stitched it, which carries it, puts it in this profile's.)

``merged_into``/``merged_at`` mark a tombstone (set by the stage on a hand-off) and are not
touched here. Must not decide routing, read a clock or know about Kafka.

Bytes: see :meth:`Profile.to_json`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from streamapp.events import JSON, Event, EventType
from streamapp.profiles.known_ids import add_id, ordered, union
from streamapp.profiles.traits import merge_traits, set_traits
from streamapp.state.fence import Position, StateCorrupt


@dataclass(slots=True)  # not frozen, yet never mutated: see streamapp.profiles
class LastEvent:
    """The latest event applied: its name (as counters name it), event time and messageId."""

    name: str
    time_ms: int
    message_id: str

    def rank(self) -> tuple[int, str, str]:
        """Return the order key: later event time wins, then the larger messageId."""
        return self.time_ms, self.message_id, self.name


def _later(a: LastEvent | None, b: LastEvent | None) -> LastEvent | None:
    if a is None:
        return b
    if b is None:
        return a
    return b if b.rank() > a.rank() else a


def _min(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    return a if b is None or a <= b else b


def _max(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    return a if b is None or a >= b else b


@dataclass(slots=True)  # not frozen, yet never mutated: see streamapp.profiles
class Profile:
    """The profile of ``user_id`` (a user id, or an anonymous id not yet stitched)."""

    user_id: str
    traits: Mapping[str, JSON] = field(default_factory=dict)
    trait_times: Mapping[str, int] = field(default_factory=dict)
    first_seen_ms: int | None = None
    last_seen_ms: int | None = None
    event_count: int = 0
    known_ids: Mapping[str, int] = field(default_factory=dict)
    last_event: LastEvent | None = None
    identified: bool = False
    merged_into: str | None = None
    merged_at: Position | None = None
    merged_from: frozenset[str] = frozenset()

    def to_json(self) -> dict[str, Any]:
        """Return the JSON-ready object.

        ``{"user_id", "traits", "trait_times", "first_seen_ms", "last_seen_ms", "event_count",
        "known_ids": [[id, first_seen_ms], ...] earliest first, "last_event": {"name", "time_ms",
        "message_id"} | null, "identified", "merged_into", "merged_at": [offset, index] | null,
        "merged_from": [sorted ids]}``
        """
        last = self.last_event
        return {
            "user_id": self.user_id,
            "traits": self.traits,
            "trait_times": self.trait_times,
            "first_seen_ms": self.first_seen_ms,
            "last_seen_ms": self.last_seen_ms,
            "event_count": self.event_count,
            "known_ids": ordered(self.known_ids),
            "last_event": None
            if last is None
            else {"name": last.name, "time_ms": last.time_ms, "message_id": last.message_id},
            "identified": self.identified,
            "merged_into": self.merged_into,
            "merged_at": None if self.merged_at is None else self.merged_at.to_json(),
            "merged_from": sorted(self.merged_from),
        }

    @classmethod
    def from_json(cls, obj: Any) -> Profile:
        """Read the object written by :meth:`to_json`; raise :class:`StateCorrupt` if malformed."""
        try:
            last = obj["last_event"]
            merged_at = obj["merged_at"]
            return cls(
                user_id=_str(obj["user_id"]),
                traits=_dict(obj["traits"]),
                trait_times=_dict(obj["trait_times"]),
                first_seen_ms=obj["first_seen_ms"],
                last_seen_ms=obj["last_seen_ms"],
                event_count=int(obj["event_count"]),
                known_ids={_str(i): int(t) for i, t in obj["known_ids"]},
                last_event=None
                if last is None
                else LastEvent(_str(last["name"]), int(last["time_ms"]), _str(last["message_id"])),
                identified=bool(obj["identified"]),
                merged_into=obj["merged_into"],
                merged_at=None if merged_at is None else Position.from_json(merged_at),
                merged_from=frozenset(_str(i) for i in obj["merged_from"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise StateCorrupt("profile", str(exc)) from None


def _str(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {value!r}")
    return value


def _dict(value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TypeError(f"expected an object, got {value!r}")
    return value


def apply_event(profile: Profile, event: Event, known_ids_max: int) -> Profile:
    """Return ``profile`` with ``event`` applied (see the module docstring for the rules)."""
    time_ms = event.event_time_ms
    me = profile.user_id
    ids = profile.known_ids
    for seen in (event.anonymous_id, event.user_id, event.previous_id):
        if seen:
            ids = add_id(ids, seen, time_ms, known_ids_max)
    traits, times = profile.traits, profile.trait_times
    if event.type is EventType.IDENTIFY and event.traits:
        traits, times = set_traits(traits, times, event.traits, time_ms)
    last = _later(profile.last_event, LastEvent(event.event_name, time_ms, event.message_id))
    return Profile(
        user_id=me,
        traits=traits,
        trait_times=times,
        first_seen_ms=_min(profile.first_seen_ms, time_ms),
        last_seen_ms=_max(profile.last_seen_ms, time_ms),
        event_count=profile.event_count + 1,
        known_ids=ids,
        last_event=last,
        identified=profile.identified or event.user_id == me,
        merged_into=profile.merged_into,
        merged_at=profile.merged_at,
        merged_from=profile.merged_from,
    )


def merge_profile(into: Profile, other: Profile, known_ids_max: int) -> Profile:
    """Return ``into`` with ``other`` (a stitched id's profile) merged in.

    The caller checks ``other.user_id not in into.merged_from`` first: this function adds counts
    and so is not idempotent by itself.
    """
    me = into.user_id
    ids = union((into.known_ids, other.known_ids), known_ids_max)
    traits, times = merge_traits(into.traits, into.trait_times, other.traits, other.trait_times)
    return Profile(
        user_id=me,
        traits=traits,
        trait_times=times,
        first_seen_ms=_min(into.first_seen_ms, other.first_seen_ms),
        last_seen_ms=_max(into.last_seen_ms, other.last_seen_ms),
        event_count=into.event_count + other.event_count,
        known_ids=ids,
        last_event=_later(into.last_event, other.last_event),
        identified=into.identified or other.identified,
        merged_into=into.merged_into,
        merged_at=into.merged_at,
        merged_from=(into.merged_from | other.merged_from | {other.user_id}) - {me},
    )
