"""The typed API users write in ``topologies/*.py`` to declare windowed aggregates.

Example::

    from streamapp.windows.declare import Aggregate, Count, Max, Sum, Tumbling

    revenue = Aggregate(
        name="revenue_per_currency_hourly",
        events=("Order Completed",),
        key=("properties.currency",),
        window=Tumbling(size_s=3600),
        grace_s=120,
        measures=(Count(), Sum("properties.revenue"), Max("properties.revenue")),
    )

Rules an aggregate follows (documented here once, enforced by ``combine`` and ``state``):

* ``events`` lists :attr:`Event.event_name` values that count; empty means every event.
* ``key`` lists field paths (grammar in :mod:`streamapp.windows.paths`), or :class:`Key` values
  to choose the sink field name. An event whose key field is missing or ``null`` is skipped for
  that aggregate, and the combiner reports it as ``missing_key`` so the edge can count it. Key
  values are rendered as strings. ``key=()`` makes one global group (on one partition).
* ``Sum``/``Min``/``Max`` ignore an event whose field is missing or not a number; ``Count`` still
  counts it. With no number at all in a window they are ``null``.
* ``DistinctUsers`` counts exact distinct user ids (the canonical id the identify stage keyed the
  event by); its memory grows with the users in a window.

Validation happens when an :class:`Aggregate` is built and raises
:class:`~streamapp.errors.TopologyError`; :mod:`streamapp.windows.load` fills in the file name.
Window and measure values are plain data and are validated as part of their aggregate.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import ClassVar, Final, TypeAlias

import orjson

from streamapp.errors import TopologyError
from streamapp.events import JSONObject
from streamapp.windows.paths import path_problem, sanitize

NAME_PATTERN: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
"""Aggregate and output names: valid Avro names that are also safe in Kafka topic names."""

MAX_NAME_LENGTH: Final = 100
"""Leaves room under Kafka's 249-character topic limit for prefixes and changelog suffixes."""

MAX_WINDOWS_PER_EVENT: Final = 1440
"""A hopping window may put one event in at most this many windows (a day in minute steps)."""

RESERVED_FIELDS: Final = ("window_start", "window_end", "aggregate_version")
"""Output fields the sink always writes; keys and measures may not use these names."""

UNKNOWN_FILE: Final = "<declaration>"
"""The ``file`` of a :class:`TopologyError` raised outside the loader."""


@dataclass(frozen=True, slots=True)
class Tumbling:
    """Fixed, non-overlapping windows of ``size_s`` seconds, aligned to the Unix epoch."""

    size_s: int
    kind: ClassVar[str] = "tumbling"

    @property
    def size_ms(self) -> int:
        """Window length in milliseconds."""
        return self.size_s * 1000

    @property
    def step_ms(self) -> int:
        """Distance between window starts: the size, since tumbling windows do not overlap."""
        return self.size_s * 1000

    def to_json(self) -> JSONObject:
        """The canonical description used in the aggregate's version hash."""
        return {"kind": self.kind, "size_s": self.size_s}


@dataclass(frozen=True, slots=True)
class Hopping:
    """Windows of ``size_s`` seconds starting every ``step_s`` seconds (aligned to the epoch).

    ``step_s`` must divide ``size_s``: every instant then lies in exactly ``size_s / step_s``
    windows, and at most :data:`MAX_WINDOWS_PER_EVENT` of them.
    """

    size_s: int
    step_s: int
    kind: ClassVar[str] = "hopping"

    @property
    def size_ms(self) -> int:
        """Window length in milliseconds."""
        return self.size_s * 1000

    @property
    def step_ms(self) -> int:
        """Distance between window starts in milliseconds."""
        return self.step_s * 1000

    def to_json(self) -> JSONObject:
        """The canonical description used in the aggregate's version hash."""
        return {"kind": self.kind, "size_s": self.size_s, "step_s": self.step_s}


Window: TypeAlias = Tumbling | Hopping


@dataclass(frozen=True, slots=True)
class Count:
    """How many selected events fell in the window (also those a numeric measure ignored)."""

    as_: str | None = None
    kind: ClassVar[str] = "count"

    @property
    def output_name(self) -> str:
        """The sink field name."""
        return self.as_ or "count"

    def to_json(self) -> JSONObject:
        """The canonical description used in the aggregate's version hash."""
        return {"kind": self.kind, "as": self.output_name}


@dataclass(frozen=True, slots=True)
class _FieldMeasure:
    """A measure over one numeric field; the subclasses differ only in what they keep."""

    path: str
    as_: str | None = None
    kind: ClassVar[str] = ""

    @property
    def output_name(self) -> str:
        """The sink field name: ``<kind>_<last path segment>`` unless ``as_`` says otherwise."""
        if self.as_:
            return self.as_
        last = self.path.rsplit(".", 1)[-1] if isinstance(self.path, str) else ""
        return f"{self.kind}_{sanitize(last)}"

    def to_json(self) -> JSONObject:
        """The canonical description used in the aggregate's version hash."""
        return {"kind": self.kind, "path": self.path, "as": self.output_name}


@dataclass(frozen=True, slots=True)
class Sum(_FieldMeasure):
    """Sum of a numeric field (exact: independent of arrival order and batching)."""

    kind: ClassVar[str] = "sum"


@dataclass(frozen=True, slots=True)
class Min(_FieldMeasure):
    """Smallest value of a numeric field."""

    kind: ClassVar[str] = "min"


@dataclass(frozen=True, slots=True)
class Max(_FieldMeasure):
    """Largest value of a numeric field."""

    kind: ClassVar[str] = "max"


@dataclass(frozen=True, slots=True)
class DistinctUsers:
    """How many distinct users sent a selected event in the window (exact)."""

    as_: str | None = None
    kind: ClassVar[str] = "distinct_users"

    @property
    def output_name(self) -> str:
        """The sink field name."""
        return self.as_ or "distinct_users"

    def to_json(self) -> JSONObject:
        """The canonical description used in the aggregate's version hash."""
        return {"kind": self.kind, "as": self.output_name}


@dataclass(frozen=True, slots=True)
class Key:
    """A key field with a chosen sink name: ``Key("context.library.name", as_="platform")``."""

    path: str
    as_: str | None = None


Measure: TypeAlias = Count | Sum | Min | Max | DistinctUsers
MEASURE_TYPES: Final = (Count, Sum, Min, Max, DistinctUsers)


@dataclass(frozen=True, slots=True, kw_only=True)
class Aggregate:
    """One windowed aggregate: which events, grouped by what, over which windows, measuring what.

    Built once at start from ``topologies/``; a changed definition gets a new :attr:`version`.
    Lists given for ``events``, ``key`` or ``measures`` are turned into tuples.
    """

    name: str
    events: tuple[str, ...] = ()
    key: tuple[str | Key, ...]
    window: Window
    grace_s: int
    measures: tuple[Measure, ...]

    def __post_init__(self) -> None:
        for name in ("events", "key", "measures"):
            value = getattr(self, name)
            if isinstance(value, list):
                object.__setattr__(self, name, tuple(value))
        problem = _first_problem(self)
        if problem is not None:
            aggregate = self.name if isinstance(self.name, str) else repr(self.name)
            raise TopologyError(UNKNOWN_FILE, aggregate, problem[0], problem[1])

    @property
    def grace_ms(self) -> int:
        """Grace period in milliseconds."""
        return self.grace_s * 1000

    @property
    def key_paths(self) -> tuple[str, ...]:
        """The field paths of the key, in key order."""
        return tuple(k.path if isinstance(k, Key) else k for k in self.key)

    @property
    def key_fields(self) -> tuple[str, ...]:
        """The sink field names of the key, in key order.

        ``Key.as_`` when given; else the last segment, sanitized (``properties.product_id`` ->
        ``product_id``), or the whole path where two keys would share a name or a key would take
        a reserved one (``context.device.type`` -> ``context_device_type``).
        """
        return _key_fields(self.key)

    @property
    def numeric_paths(self) -> tuple[str, ...]:
        """The distinct field paths read by ``Sum``/``Min``/``Max``, in declaration order."""
        paths = [m.path for m in self.measures if isinstance(m, Sum | Min | Max)]
        return tuple(dict.fromkeys(paths))

    @property
    def counts_users(self) -> bool:
        """Whether a ``DistinctUsers`` measure needs the user ids kept."""
        return any(isinstance(m, DistinctUsers) for m in self.measures)

    def definition(self) -> JSONObject:
        """The canonical JSON of the definition: what :attr:`version` hashes.

        Event names are sorted (their order means nothing); key and measure order are kept
        (they shape the sink schema).
        """
        return {
            "name": self.name,
            "events": list(sorted(set(self.events))),
            "key": list(self.key_paths),
            "key_fields": list(self.key_fields),
            "window": self.window.to_json(),
            "grace_s": self.grace_s,
            "measures": [m.to_json() for m in self.measures],
        }

    @property
    def version(self) -> str:
        """8 hex characters of the SHA-256 of :meth:`definition`: a changed aggregate is new."""
        canonical = orjson.dumps(self.definition(), option=orjson.OPT_SORT_KEYS)
        return hashlib.sha256(canonical).hexdigest()[:8]


def _key_fields(key: tuple[str | Key, ...]) -> tuple[str, ...]:
    chosen = [k.as_ if isinstance(k, Key) else None for k in key]
    paths = [k.path if isinstance(k, Key) else k for k in key]
    short = [
        as_ or sanitize(path.rsplit(".", 1)[-1]) for path, as_ in zip(paths, chosen, strict=True)
    ]
    return tuple(
        sanitize(path.replace(".", "_"))
        if as_ is None and (short.count(name) > 1 or name in RESERVED_FIELDS)
        else name
        for path, as_, name in zip(paths, chosen, short, strict=True)
    )


Problem: TypeAlias = tuple[str, str]
"""(field, reason) of the first thing wrong with a declaration."""


def _first_problem(agg: Aggregate) -> Problem | None:
    for check in (_name_problem, _window_problem, _grace_problem, _events_problem):
        problem = check(agg)
        if problem is not None:
            return problem
    return _key_problem(agg.key) or _measures_problem(agg)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _name_problem(agg: Aggregate) -> Problem | None:
    return _valid_name("name", agg.name)


def _valid_name(field: str, value: object) -> Problem | None:
    if not isinstance(value, str) or not NAME_PATTERN.fullmatch(value):
        return field, f"{value!r} must match [A-Za-z_][A-Za-z0-9_]* (an Avro name, topic-safe)"
    if len(value) > MAX_NAME_LENGTH:
        return field, f"must be at most {MAX_NAME_LENGTH} characters"
    return None


def _window_problem(agg: Aggregate) -> Problem | None:
    window = agg.window
    if not isinstance(window, Tumbling | Hopping):
        return "window", "must be Tumbling(size_s=...) or Hopping(size_s=..., step_s=...)"
    if not _is_int(window.size_s) or window.size_s <= 0:
        return "window.size_s", f"must be a whole number of seconds > 0, got {window.size_s!r}"
    if isinstance(window, Hopping):
        step = window.step_s
        if not _is_int(step) or step <= 0:
            return "window.step_s", f"must be a whole number of seconds > 0, got {step!r}"
        if step > window.size_s or window.size_s % step:
            return "window.step_s", f"must divide size_s ({window.size_s}), got {step}"
        if window.size_s // step > MAX_WINDOWS_PER_EVENT:
            return "window.step_s", f"size_s/step_s must be <= {MAX_WINDOWS_PER_EVENT}"
    return None


def _grace_problem(agg: Aggregate) -> Problem | None:
    if not _is_int(agg.grace_s) or agg.grace_s < 0:
        return "grace_s", f"must be a whole number of seconds >= 0, got {agg.grace_s!r}"
    return None


def _events_problem(agg: Aggregate) -> Problem | None:
    if not isinstance(agg.events, tuple):
        return "events", "must be a tuple of event names, e.g. ('Order Completed',)"
    for i, name in enumerate(agg.events):
        if not isinstance(name, str) or not name:
            return f"events[{i}]", f"must be a non-empty event name, got {name!r}"
    return None


def _key_problem(key: object) -> Problem | None:
    if not isinstance(key, tuple):
        return "key", "must be a tuple of field paths, e.g. ('properties.product_id',)"
    paths: list[str] = []
    for i, entry in enumerate(key):
        path = entry.path if isinstance(entry, Key) else entry
        problem = path_problem(path)
        if problem is not None:
            return f"key[{i}]", problem
        if isinstance(entry, Key) and entry.as_ is not None:
            name_problem = _valid_name(f"key[{i}].as_", entry.as_)
            if name_problem is not None:
                return name_problem
        if path in paths:
            return f"key[{i}]", f"{path!r} is listed twice"
        paths.append(path)
    fields = _key_fields(key)
    for i, name in enumerate(fields):
        if name in RESERVED_FIELDS or fields.index(name) != i:
            return f"key[{i}]", f"its sink name {name!r} is reserved or taken; use Key(..., as_=)"
    return None


def _measures_problem(agg: Aggregate) -> Problem | None:
    if not isinstance(agg.measures, tuple) or not agg.measures:
        return "measures", "must be a non-empty tuple, e.g. (Count(),)"
    taken = {name: "a reserved field" for name in RESERVED_FIELDS}
    taken.update({name: f"key field {name!r}" for name in agg.key_fields})
    for i, measure in enumerate(agg.measures):
        problem = _measure_problem(f"measures[{i}]", measure)
        if problem is not None:
            return problem
        name = measure.output_name
        if name in taken:
            return f"measures[{i}]", f"output name {name!r} is already {taken[name]}; set as_="
        taken[name] = f"measure {name!r}"
    return None


def _measure_problem(field: str, measure: object) -> Problem | None:
    if not isinstance(measure, MEASURE_TYPES):
        known = ", ".join(t.__name__ for t in MEASURE_TYPES)
        return field, f"unknown measure {type(measure).__name__}; known: {known}"
    if isinstance(measure, Sum | Min | Max):
        problem = path_problem(measure.path)
        if problem is not None:
            return f"{field}.path", problem
    if measure.as_ is not None:
        return _valid_name(f"{field}.as_", measure.as_)
    return None
