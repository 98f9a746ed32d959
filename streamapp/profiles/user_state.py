"""The one value the profiles stage keeps per user key: profile, counters and the fence stamp.

Profile and counters share a value because every event changes both: one value means one table
write per user per batch, and no crash can leave one of the two written without the other.
``applied`` is the own input position of the last record that changed the value (the fence's
per-key stamp): a record at or before it is already in the value and is never applied again.

Bytes (orjson)::

    {"profile": {...Profile.to_json()...}, "counters": {...Counters.to_json()...},
     "applied": [offset, index] | null}
"""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson

from streamapp.counters.counters import Counters
from streamapp.profiles.profile import Profile
from streamapp.state.fence import Position, StateCorrupt


@dataclass(slots=True)  # not frozen, yet never mutated: see streamapp.profiles
class UserState:
    """Everything stored under one user key of the profiles table."""

    profile: Profile
    counters: Counters = field(default_factory=Counters)
    applied: Position | None = None

    @classmethod
    def empty(cls, user_id: str) -> UserState:
        """Return the state of an id never seen."""
        return cls(Profile(user_id))

    def to_bytes(self) -> bytes:
        """Encode as orjson bytes."""
        return orjson.dumps(
            {
                "profile": self.profile.to_json(),
                "counters": self.counters.to_json(),
                "applied": None if self.applied is None else self.applied.to_json(),
            }
        )

    @classmethod
    def from_bytes(cls, raw: bytes) -> UserState:
        """Decode bytes written by :meth:`to_bytes`."""
        try:
            obj = orjson.loads(raw)
            applied = obj["applied"]
            return cls(
                Profile.from_json(obj["profile"]),
                Counters.from_json(obj["counters"]),
                None if applied is None else Position.from_json(applied),
            )
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            raise StateCorrupt("user state", str(exc)) from None
