"""Mergeable window accumulators: what one window of one aggregate key has seen so far.

Used twice in the dataflow: by the combiner (a source batch pre-aggregated per key and window)
and by the owning partition (partials merged into stored windows). ``add`` and ``merge`` are
commutative and associative *exactly*: sums are kept as a list of non-overlapping floats
(Shewchuk's algorithm, the one behind :func:`math.fsum`), so a window's output does not depend
on arrival order, batching or a replay. A re-emit after a crash therefore carries the same bytes.

An accumulator is deliberately mutable (it is state, updated in place per batch); copy it before
sharing. Pure: no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction

from streamapp.events import JSON, JSONObject
from streamapp.windows import _json
from streamapp.windows.declare import Count, DistinctUsers, Max, Measure, Min, Sum


@dataclass(slots=True)  # not frozen, yet never mutated: built per event and aggregate
class EventValues:
    """What one event contributes to one aggregate, before windowing.

    Immutable by convention, not frozen: see :class:`streamapp.events.Event` for the cost.

    ``numbers`` holds, per numeric field path the aggregate reads, the event's value when it is a
    usable number (missing paths are absent). ``user_id`` is set only for aggregates that count
    distinct users.
    """

    numbers: Mapping[str, float]
    user_id: str | None = None

    def to_json(self) -> JSONObject:
        """An orjson-able object."""
        return {"numbers": dict(self.numbers), "user_id": self.user_id}

    @classmethod
    def from_json(cls, data: object) -> EventValues:
        """Read what :meth:`to_json` wrote."""
        obj = _json.as_dict(data, "event values")
        numbers = _json.as_dict(_json.field(obj, "numbers", "event values"), "numbers")
        return cls(
            numbers={path: _json.as_float(v, "number") for path, v in numbers.items()},
            user_id=_json.as_optional_str(obj.get("user_id"), "user_id"),
        )


def _grow(partials: list[float], x: float) -> None:
    """Add ``x`` to the exact sum held as non-overlapping ``partials`` (in place)."""
    i = 0
    for y in partials:
        if abs(x) < abs(y):
            x, y = y, x
        hi = x + y
        lo = y - (hi - x)
        if lo:
            partials[i] = lo
            i += 1
        x = hi
    partials[i:] = [x]


def _exact(partials: list[float]) -> Fraction:
    return sum((Fraction(p) for p in partials), Fraction(0))


@dataclass(slots=True, eq=False)
class Accumulator:
    """Count, exact sums, minima, maxima and distinct users of one window of one key.

    Sums, minima and maxima are kept per numeric field path (only paths an event had a number
    for appear). Equality compares the exact values, not how the sums happen to be split.
    """

    count: int = 0
    sums: dict[str, list[float]] = field(default_factory=dict)
    mins: dict[str, float] = field(default_factory=dict)
    maxes: dict[str, float] = field(default_factory=dict)
    users: dict[str, None] = field(default_factory=dict)
    """The distinct users, in the order they first came (a dict used as an ordered set).

    Why not a ``set``: the garbage collector walks every element of a set on each full
    collection, and an open window can hold 100,000 users. A dict whose keys and values are
    strings and ``None`` is untracked by the collector, so it costs nothing there. Measured with
    sets (1,000,000-event benchmark run): a full collection every 0.75 s, ~100 ms each, 11-21 %
    of the worker's time; with this dict (and the packer's cache a plain dict) each took ~60 ms.
    """
    known_distinct: int | None = None
    """The distinct-user count of a closed window restored without its users (they are not
    persisted once it closed: only the count reaches the sink). ``None``: count ``users``."""

    def add(self, values: EventValues) -> None:
        """Count one event and fold in its numbers and user."""
        self.count += 1
        for path, number in values.numbers.items():
            _grow(self.sums.setdefault(path, []), number)
            self.mins[path] = min(self.mins.get(path, number), number)
            self.maxes[path] = max(self.maxes.get(path, number), number)
        if values.user_id is not None:
            self.users[values.user_id] = None

    def merge(self, other: Accumulator) -> None:
        """Fold ``other`` into this accumulator; ``other`` is not changed.

        Raises:
            ValueError: ``other`` lost its users (``known_distinct``) and this one is not empty:
                a union cannot be counted without them.

        """
        if other.known_distinct is not None:
            if self.count or self.users or self.known_distinct is not None:
                raise ValueError("cannot merge an accumulator whose users were not kept")
            self.known_distinct = other.known_distinct
        self.count += other.count
        for path, partials in other.sums.items():
            mine = self.sums.setdefault(path, [])
            for partial in partials:
                _grow(mine, partial)
        for path, low in other.mins.items():
            self.mins[path] = min(self.mins.get(path, low), low)
        for path, high in other.maxes.items():
            self.maxes[path] = max(self.maxes.get(path, high), high)
        self.users |= other.users

    def copy(self) -> Accumulator:
        """An independent copy."""
        clone = Accumulator()
        clone.merge(self)
        return clone

    def sum_of(self, path: str) -> float | None:
        """The correctly rounded exact sum of ``path``, or ``None`` if no event had a number."""
        partials = self.sums.get(path)
        return None if partials is None else math.fsum(partials)

    def value_of(self, measure: Measure) -> int | float | None:
        """The output value of one measure."""
        match measure:
            case Count():
                return self.count
            case Sum(path=path):
                return self.sum_of(path)
            case Min(path=path):
                return self.mins.get(path)
            case Max(path=path):
                return self.maxes.get(path)
            case DistinctUsers():
                return len(self.users) if self.known_distinct is None else self.known_distinct

    def to_json(self, *, users: bool = True) -> JSONObject:
        """An orjson-able object; ``users=False`` keeps only their number (``distinct_users``).

        Users are listed in the order they came, not sorted: the owner persists every changed
        window each batch, and sorting a large distinct-users set each time cost 8x the
        serialising itself (13 ms for 50,000 users), which made the owner the slowest stage once
        windows grew.
        Nothing compares these bytes; outputs use :meth:`value_of`. Without users, a window's
        entry stays small however many users it counts (the owner keeps them in chunk records).
        """
        sums: dict[str, JSON] = {path: list(p) for path, p in self.sums.items()}
        data: JSONObject = {
            "count": self.count,
            "sums": sums,
            "mins": dict(self.mins),
            "maxes": dict(self.maxes),
        }
        if users and self.known_distinct is None:
            data["users"] = list(self.users)
        else:
            data["distinct_users"] = self.value_of(DistinctUsers())
        return data

    @classmethod
    def from_json(cls, data: object) -> Accumulator:
        """Read what :meth:`to_json` wrote."""
        what = "accumulator"
        obj = _json.as_dict(data, what)

        def numbers(name: str) -> dict[str, float]:
            raw = _json.as_dict(_json.field(obj, name, what), f"{what}.{name}")
            return {path: _json.as_float(v, f"{what}.{name}") for path, v in raw.items()}

        sums_raw = _json.as_dict(_json.field(obj, "sums", what), f"{what}.sums")
        return cls(
            count=_json.as_int(_json.field(obj, "count", what), f"{what}.count"),
            sums={
                path: [_json.as_float(x, f"{what}.sums") for x in _json.as_list(p, what)]
                for path, p in sums_raw.items()
            },
            mins=numbers("mins"),
            maxes=numbers("maxes"),
            users=dict.fromkeys(_json.as_str_tuple(obj["users"], f"{what}.users"))
            if "users" in obj
            else {},
            known_distinct=(
                None
                if "users" in obj
                else _json.as_int(_json.field(obj, "distinct_users", what), f"{what}.users")
            ),
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Accumulator):
            return NotImplemented
        return (
            self.count == other.count
            and self.mins == other.mins
            and self.maxes == other.maxes
            and self.users == other.users
            and self.known_distinct == other.known_distinct
            and self.sums.keys() == other.sums.keys()
            and all(_exact(p) == _exact(other.sums[k]) for k, p in self.sums.items())
        )
