"""The counters value of one user: per event name, a lifetime total and per-UTC-day counts.

Rules:

- An event adds 1 to ``total`` of its name and to the count of its UTC day (of event time).
- Day retention is relative to the **newest day seen in the value** (not to the wall clock):
  days older than ``newest - days_retained + 1`` are dropped; ``total`` keeps counting them. This
  keeps every operation a pure function of its inputs, so merges are order-independent (pruning
  after every operation gives the same result as pruning once at the end: a day dropped early is
  older than any later cutoff too). A user who goes quiet keeps their last ``days_retained`` days.
  The flip side: one event with a far-future event time would prune the rest; the validate stage
  bounds event times, so that is a bug upstream, not a case handled here.
- Merge (identity stitching): totals add, day counts add per day, then retention applies to the
  merged newest day. Commutative and associative.
- Queries take "now" as an input: :func:`lifetime`, :func:`last_days`, :func:`daily`.

Values are never changed: each operation returns a new value, copying only the changed name's
maps (the classes are not frozen only for speed; see :mod:`streamapp.profiles`). Must not read a
clock or know about identities.

Bytes (orjson), exactly the stored shape::

    {"Order Completed": {"total": 7, "days": {"2024-05-01": 2, "2024-05-03": 5}}}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from streamapp.counters.days import day_label, day_of, label_day
from streamapp.state.fence import StateCorrupt


@dataclass(slots=True)  # not frozen, yet never mutated: see streamapp.profiles
class NameCount:
    """The counts of one event name: ``days`` maps ``YYYY-MM-DD`` to a count (retained days)."""

    total: int
    days: Mapping[str, int]


@dataclass(slots=True)  # not frozen, yet never mutated: see streamapp.profiles
class Counters:
    """All counts of one user. ``newest_day`` (a day number) is derived from ``names``' days."""

    names: Mapping[str, NameCount] = field(default_factory=dict)
    newest_day: int | None = None

    def to_json(self) -> dict[str, Any]:
        """Return the JSON-ready object (the documented byte shape)."""
        return {n: {"total": c.total, "days": c.days} for n, c in self.names.items()}

    @classmethod
    def from_json(cls, obj: object) -> Counters:
        """Read the object written by :meth:`to_json`."""
        if not isinstance(obj, dict):
            raise StateCorrupt("counters", "not an object")
        try:
            names: dict[str, NameCount] = {}
            newest: int | None = None
            for name, raw in obj.items():
                total, days = raw["total"], raw["days"]
                if not isinstance(total, int) or not isinstance(days, dict):
                    raise TypeError(f"bad counts of {name!r}")
                names[name] = NameCount(total, days)
                if days:
                    last = label_day(max(days))
                    newest = last if newest is None or last > newest else newest
            return cls(names, newest)
        except (KeyError, TypeError, ValueError) as exc:
            raise StateCorrupt("counters", str(exc)) from None

    def to_bytes(self) -> bytes:
        """Encode as orjson bytes."""
        return orjson.dumps(self.to_json())

    @classmethod
    def from_bytes(cls, raw: bytes) -> Counters:
        """Decode bytes written by :meth:`to_bytes`."""
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise StateCorrupt("counters", str(exc)) from None
        return cls.from_json(obj)


EMPTY = Counters()


def _cutoff(newest_day: int, days_retained: int) -> str:
    """Return the label of the oldest retained day."""
    return day_label(newest_day - days_retained + 1)


def _prune(names: Mapping[str, NameCount], cutoff: str) -> dict[str, NameCount]:
    """Drop day counts older than ``cutoff``; totals stay."""
    out: dict[str, NameCount] = {}
    for name, counts in names.items():
        if counts.days and min(counts.days) < cutoff:
            kept = {d: n for d, n in counts.days.items() if d >= cutoff}
            out[name] = NameCount(counts.total, kept)
        else:
            out[name] = counts
    return out


def _roll(
    names: Mapping[str, NameCount], old_newest: int, new_newest: int, days_retained: int
) -> Mapping[str, NameCount]:
    """Drop the days that leave the window when the newest day moves forward.

    Every kept day is within the window of ``old_newest`` (an invariant of the value), so only
    the days between the old and the new cutoff can go: one label per name on a normal day
    change, instead of a scan of all retained days.
    """
    if new_newest - old_newest >= days_retained:
        dropped: dict[str, NameCount] = {}
        for name, counts in names.items():
            dropped[name] = NameCount(counts.total, {}) if counts.days else counts
        return dropped
    first = old_newest - days_retained + 1
    labels = [day_label(d) for d in range(first, first + new_newest - old_newest)]
    out: dict[str, NameCount] | None = None
    for name, counts in names.items():
        if any(label in counts.days for label in labels):
            days = dict(counts.days)
            for label in labels:
                days.pop(label, None)
            if out is None:
                out = dict(names)
            out[name] = NameCount(counts.total, days)
    return out if out is not None else names


def add_event(
    counters: Counters, name: str, event_time_ms: int, days_retained: int, n: int = 1
) -> Counters:
    """Count ``n`` events called ``name`` at ``event_time_ms``."""
    day = day_of(event_time_ms)
    newest = counters.newest_day
    names: Mapping[str, NameCount] = counters.names
    if newest is None:
        newest = day
    elif day > newest:
        names = _roll(names, newest, day, days_retained)
        newest = day
    current = names.get(name)
    days: Mapping[str, int] = current.days if current is not None else {}
    if day > newest - days_retained:
        label = day_label(day)
        grown = dict(days)
        grown[label] = grown.get(label, 0) + n
        days = grown
    total = (current.total if current is not None else 0) + n
    out = dict(names)
    out[name] = NameCount(total, days)
    return Counters(out, newest)


def merge(a: Counters, b: Counters, days_retained: int) -> Counters:
    """Return the counters of ``a`` and ``b`` together (stitching). Commutative, associative."""
    if not b.names:
        return a
    if not a.names:
        return b
    names: dict[str, NameCount] = dict(a.names)
    for name, theirs in b.names.items():
        ours = names.get(name)
        if ours is None:
            names[name] = theirs
            continue
        days = dict(ours.days)
        for label, n in theirs.days.items():
            days[label] = days.get(label, 0) + n
        names[name] = NameCount(ours.total + theirs.total, days)
    candidates = [d for d in (a.newest_day, b.newest_day) if d is not None]
    newest = max(candidates) if candidates else None
    if newest is not None:
        names = _prune(names, _cutoff(newest, days_retained))
    return Counters(names, newest)


def lifetime(counters: Counters, name: str) -> int:
    """Return how many ``name`` events were ever counted."""
    counts = counters.names.get(name)
    return counts.total if counts is not None else 0


def last_days(counters: Counters, name: str, days: int, now_ms: int) -> int:
    """Return how many ``name`` events fell on the ``days`` UTC days ending with today.

    Only retained days are known: a range longer than ``days_retained`` counts what is kept.
    """
    counts = counters.names.get(name)
    if counts is None or days < 1:
        return 0
    today = day_of(now_ms)
    first, last = day_label(today - days + 1), day_label(today)
    return sum(n for label, n in counts.days.items() if first <= label <= last)


def daily(counters: Counters, name: str, days: int, now_ms: int) -> dict[str, int]:
    """Return the count of each of the ``days`` UTC days ending with today, oldest first."""
    counts = counters.names.get(name)
    known: Mapping[str, int] = counts.days if counts is not None else {}
    today = day_of(now_ms)
    labels = (day_label(d) for d in range(today - days + 1, today + 1))
    return {label: known.get(label, 0) for label in labels}
