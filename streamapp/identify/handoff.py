"""The hand-off command: identify tells the profiles stage to move A's state to user U.

Sent by the identify stage on ``events.identified`` keyed by ``from_id`` (A), so it reaches the
partition where A's profile and counters live; that partition turns A into a tombstone and sends
a merge keyed by U (:mod:`streamapp.profiles.stage`). This module only defines the value.

Bytes (orjson): ``{"from_id": "anon-1", "to_id": "u-42"}``.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from streamapp.state.fence import StateCorrupt


@dataclass(frozen=True, slots=True)
class Handoff:
    """Move the state of ``from_id`` (an anonymous id or alias ``previousId``) to ``to_id``."""

    from_id: str
    to_id: str

    def to_bytes(self) -> bytes:
        """Encode as orjson bytes."""
        return orjson.dumps({"from_id": self.from_id, "to_id": self.to_id})

    @classmethod
    def from_bytes(cls, raw: bytes) -> Handoff:
        """Decode bytes written by :meth:`to_bytes`."""
        try:
            obj = orjson.loads(raw)
            from_id, to_id = obj["from_id"], obj["to_id"]
            if not isinstance(from_id, str) or not isinstance(to_id, str):
                raise TypeError("ids must be strings")
            return cls(from_id, to_id)
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            raise StateCorrupt("handoff", str(exc)) from None
