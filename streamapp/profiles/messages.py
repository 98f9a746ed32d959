"""What ``events.identified`` carries, besides events: the record kinds and the merge command.

Record kinds (the integrator tags each record, e.g. with a ``streamapp-kind`` header):

- ``event``: a Segment event body, keyed by the user id it counts for. Re-sent unchanged when a
  tombstone forwards it (with a hop count, e.g. a ``streamapp-hops`` header; absent = 0).
- ``handoff``: :class:`~streamapp.identify.handoff.Handoff`, keyed by the id whose state moves.
- ``merge``: :class:`Merge`, keyed by the user the state moves into; re-sent unchanged (hops + 1)
  when that user is itself a tombstone.

Bytes of a merge (orjson)::

    {"from_id": "anon-1", "profile": {...Profile.to_json()...}, "counters": {...}}
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import orjson

from streamapp.counters.counters import Counters
from streamapp.profiles.profile import Profile
from streamapp.state.fence import StateCorrupt


class Kind(StrEnum):
    """The kind of an ``events.identified`` record."""

    EVENT = "event"
    HANDOFF = "handoff"
    MERGE = "merge"


@dataclass(frozen=True, slots=True)
class Merge:
    """Merge the snapshot of ``from_id`` (its profile and counters at hand-off) into the key."""

    from_id: str
    profile: Profile
    counters: Counters

    def to_bytes(self) -> bytes:
        """Encode as orjson bytes."""
        return orjson.dumps(
            {
                "from_id": self.from_id,
                "profile": self.profile.to_json(),
                "counters": self.counters.to_json(),
            }
        )

    @classmethod
    def from_bytes(cls, raw: bytes) -> Merge:
        """Decode bytes written by :meth:`to_bytes`."""
        try:
            obj = orjson.loads(raw)
            from_id = obj["from_id"]
            if not isinstance(from_id, str):
                raise TypeError("from_id is not a string")
            return cls(
                from_id, Profile.from_json(obj["profile"]), Counters.from_json(obj["counters"])
            )
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            raise StateCorrupt("merge", str(exc)) from None
