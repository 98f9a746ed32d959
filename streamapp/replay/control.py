"""The control log of backfills (``streamapp.backfills``): record formats and their fold.

One partition, never compacted, and the *first* record of each key wins (see
:mod:`streamapp.replay`): two writers that race (a worker deciding ``live``, the command deciding
``backfill``; two workers taking a cut) both read the log back after writing and agree on the
earlier record. Pure: no Kafka here; the edges hand in ``(key, value)`` pairs in log order.

Keys (UTF-8)::

    decision|<name>|<version>       {"mode": "backfill", "from": "earliest", "from_ms": null,
                                     "definition": {...}, ...}
    cut|<name>|<version>|<p>        {"offset": 1234, "by": "<worker id>", ...}
    done|<name>|<version>           {"events": 5000, ...}
    start|<name>|<version>          {"start": "<nonce>", "by": "<worker id>", "at_ms": ...}

``start`` records are events, not decisions (every worker start appends one per aggregate it
runs, and all of them count): the latest start of a name tells which version the deployment
meant last, so a worker still running an earlier version (a rolling restart across a topology
change) finds itself superseded.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

import orjson

from streamapp.events import JSONObject

BACKFILL_DONE: Final = b"backfill-done"
"""The ``streamapp-kind`` header of the done-marker sent to each partition of ``windows.<name>``."""

BACKFILL_ORIGIN_SUFFIX: Final = "#backfill"
"""Appended to the origin topic of backfilled contributions: their own fence domain."""


class Mode(StrEnum):
    """How a version got its history: from a backfill, or only live (no backfill)."""

    BACKFILL = "backfill"
    LIVE = "live"


@dataclass(frozen=True, slots=True)
class Decision:
    """The first decision recorded for a version."""

    mode: Mode
    from_text: str | None = None
    from_ms: int | None = None
    """``None`` with ``mode`` backfill: from the earliest retained record."""


def decision_key(name: str, version: str) -> bytes:
    """The key of a version's decision."""
    return f"decision|{name}|{version}".encode()


def cut_key(name: str, version: str, partition: int) -> bytes:
    """The key of a version's cut on one partition of ``events.identified``."""
    return f"cut|{name}|{version}|{partition}".encode()


def done_key(name: str, version: str) -> bytes:
    """The key of a version's done record."""
    return f"done|{name}|{version}".encode()


def start_key(name: str, version: str) -> bytes:
    """The key of a worker's start record for one aggregate version it runs."""
    return f"start|{name}|{version}".encode()


def start_value(nonce: str, *, by: str, at_ms: int) -> bytes:
    """The value of a start record; ``nonce`` tells the worker its own record when read back."""
    return orjson.dumps({"start": nonce, "by": by, "at_ms": at_ms})


def decision_value(
    decision: Decision, *, by: str, at_ms: int, definition: JSONObject | None = None
) -> bytes:
    """The value of a decision record.

    ``definition`` (the aggregate's canonical definition) lets a worker that runs a later version
    rebuild this one, to keep it answering while the later one is backfilled.
    """
    return orjson.dumps(
        {
            "mode": decision.mode.value,
            "from": decision.from_text,
            "from_ms": decision.from_ms,
            "by": by,
            "at_ms": at_ms,
            "definition": definition,
        }
    )


def cut_value(offset: int, *, by: str, at_ms: int) -> bytes:
    """The value of a cut record."""
    return orjson.dumps({"offset": offset, "by": by, "at_ms": at_ms})


def done_value(events: int, *, at_ms: int) -> bytes:
    """The value of a done record."""
    return orjson.dumps({"events": events, "at_ms": at_ms})


@dataclass(slots=True)
class ControlState:
    """What the control log says, folded: the first record of each key."""

    decisions: dict[tuple[str, str], Decision] = field(default_factory=dict)
    cuts: dict[tuple[str, str], dict[int, int]] = field(default_factory=dict)
    done: set[tuple[str, str]] = field(default_factory=set)
    definitions: dict[tuple[str, str], JSONObject] = field(default_factory=dict)
    """The definition recorded with each version's (first) decision, where one was."""
    last_start: dict[str, tuple[str, int]] = field(default_factory=dict)
    """Per aggregate name: the version of its latest start record, and that record's position."""
    start_positions: dict[str, int] = field(default_factory=dict)
    """The position (records folded before it) of each start record, by nonce."""
    records: int = 0
    ignored: int = 0
    """Records that were not understood (another tool's, or a newer format): counted, skipped."""

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        """Fold one record, in log order. A key seen before keeps its first value."""
        try:
            parts = (key or b"").decode().split("|")
            obj = orjson.loads(value or b"")
            if not isinstance(obj, dict):
                raise TypeError("not an object")
            self._apply(parts, obj)
        except (UnicodeDecodeError, orjson.JSONDecodeError, TypeError, ValueError, KeyError):
            self.ignored += 1
        self.records += 1

    def _apply(self, parts: list[str], obj: dict[str, object]) -> None:
        kind = parts[0]
        if kind == "decision" and len(parts) == 3:
            version = (parts[1], parts[2])
            if version not in self.decisions:
                from_ms = obj.get("from_ms")
                from_text = obj.get("from")
                self.decisions[version] = Decision(
                    Mode(str(obj["mode"])),
                    from_text if isinstance(from_text, str) else None,
                    from_ms if isinstance(from_ms, int) else None,
                )
                definition = obj.get("definition")
                if isinstance(definition, dict):
                    self.definitions[version] = definition
        elif kind == "cut" and len(parts) == 4:
            offset = obj["offset"]
            if not isinstance(offset, int) or offset < 0:
                raise ValueError("cut offset")
            self.cuts.setdefault((parts[1], parts[2]), {}).setdefault(int(parts[3]), offset)
        elif kind == "done" and len(parts) == 3:
            self.done.add((parts[1], parts[2]))
        elif kind == "start" and len(parts) == 3:
            nonce = obj["start"]
            if not isinstance(nonce, str):
                raise TypeError("start nonce")
            self.start_positions[nonce] = self.records
            self.last_start[parts[1]] = (parts[2], self.records)
        else:
            raise ValueError("unknown key")

    def decision(self, name: str, version: str) -> Decision | None:
        """The version's decision, if any."""
        return self.decisions.get((name, version))

    def cuts_of(self, name: str, version: str) -> dict[int, int]:
        """The version's cuts taken so far, by partition of ``events.identified``."""
        return dict(self.cuts.get((name, version), {}))

    def is_done(self, name: str, version: str) -> bool:
        """Whether the version's backfill finished (every done-marker was sent)."""
        return (name, version) in self.done

    def previous(self, name: str, version: str) -> str | None:
        """The version ``version`` of ``name`` replaces: what answers while it is backfilled.

        The latest other version of ``name`` decided before ``version`` (log order) that has a
        complete history: run ``live``, or a backfill that is done. A backfill abandoned before
        it was done is skipped (its history is incomplete). None for a newly added aggregate.
        """
        found: str | None = None
        for decided_name, decided_version in self.decisions:
            if decided_name != name:
                continue
            if decided_version == version:
                break
            decision = self.decisions[(decided_name, decided_version)]
            if decision.mode is Mode.LIVE or self.is_done(name, decided_version):
                found = decided_version
        return found

    def superseded_by(self, name: str, version: str, nonce: str) -> str | None:
        """The version of ``name`` a worker started after the start ``nonce`` (of ``version``).

        None while the latest start of ``name`` is of ``version`` (or ``nonce`` was not read yet):
        a worker whose aggregate is superseded runs an older ``topologies/`` than one started
        after it, which the backfill protocol forbids (see :mod:`streamapp.replay`).
        """
        mine = self.start_positions.get(nonce)
        last = self.last_start.get(name)
        if mine is None or last is None or last[0] == version or last[1] < mine:
            return None
        return last[0]

    def definition(self, name: str, version: str) -> JSONObject | None:
        """The version's recorded definition, if its decision carried one."""
        return self.definitions.get((name, version))

    @classmethod
    def fold(cls, records: Iterable[tuple[bytes | None, bytes | None]]) -> ControlState:
        """The state after ``records`` (log order)."""
        state = cls()
        for key, value in records:
            state.apply(key, value)
        return state
