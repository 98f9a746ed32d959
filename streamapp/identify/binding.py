"""The identity binding: an anonymous id (or an alias ``previousId``) bound to a user id, once.

A binding is never changed after it is made: a later attempt to bind the same id to another user
is refused as an identity conflict (:mod:`.resolve`). ``since`` is the identify stage's own input
position of the record that made it, so routing can be judged "as of" any position: a replay of
an event that preceded the binding routes exactly as it did the first time.

Bytes (orjson): ``{"user_id": "u-42", "since": [1041, 0]}``.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from streamapp.state.fence import Position, StateCorrupt


@dataclass(frozen=True, slots=True)
class Binding:
    """``identity -> user_id``, made at own input position ``since``."""

    user_id: str
    since: Position

    def to_bytes(self) -> bytes:
        """Encode as orjson bytes."""
        return orjson.dumps({"user_id": self.user_id, "since": self.since.to_json()})

    @classmethod
    def from_bytes(cls, raw: bytes) -> Binding:
        """Decode bytes written by :meth:`to_bytes`."""
        try:
            obj = orjson.loads(raw)
            user_id = obj["user_id"]
            if not isinstance(user_id, str):
                raise TypeError("user_id is not a string")
            return cls(user_id, Position.from_json(obj["since"]))
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            raise StateCorrupt("binding", str(exc)) from None
