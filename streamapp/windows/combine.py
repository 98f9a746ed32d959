"""The combiner: a source batch of events pre-aggregated into partials, one per aggregate key.

Runs where the events were read (``events.identified``), before the re-key through
``windows.<name>``: one combiner per aggregate for a whole source batch, so a partial may hold
events of several source partitions (its spans and each contribution's origin say which, and
the owner fences per origin partition). A :class:`Partial` carries both the pre-merged
accumulators (the fast path: the owning partition merges a few accumulators instead of replaying
every event) and one :class:`Contribution` per event (the slow path: per-event lateness and
origin-offset fencing, needed only when a window already closed or a message is replayed). A
contribution keeps the event's correlation id, origin coordinates and body, so a late event
reaches the dead-letter topic as itself (its normalised body, as JSON text).

Partials are cut at ``max_partial_bytes`` of event bodies (measured by the caller as the size of
the record it read), so one message on the repartition topic stays below Kafka's message limit.

Pure: the caller hands in events and drains partials; nothing here produces or reads the clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

import orjson

from streamapp.events import JSON, Event, JSONObject, Origin
from streamapp.packed import ordinal
from streamapp.windows import _json
from streamapp.windows.accumulator import Accumulator, EventValues
from streamapp.windows.assign import windows_for
from streamapp.windows.declare import Aggregate
from streamapp.windows.paths import as_number, render_key, resolve, split_path

DEFAULT_MAX_PARTIAL_BYTES: Final = 512 * 1024
"""Half of Kafka's default 1 MB message limit, leaving room for accumulators and framing."""


@dataclass(slots=True)  # not frozen, yet never mutated: built per event and aggregate
class Contribution:
    """One event inside a partial: enough to fence a replay and to report it late.

    Immutable by convention, not frozen: see :class:`streamapp.events.Event` for the cost.

    ``origin`` is where the event was read (``events.identified`` partition and offset) and
    ``origin_item`` its index inside that record (:mod:`streamapp.packed`); ``None`` disables
    fencing for it (tests, backfills from files). ``body_json`` is the event's body as JSON text,
    kept as text so the owning partition never parses it unless the event is late (then it is the
    dead letter's value).
    """

    correlation_id: str
    event_time_ms: int
    values: EventValues
    origin: Origin | None
    body_json: str
    origin_item: int = 0

    @property
    def origin_position(self) -> int:
        """Where in its origin partition the event was read, as one number that orders events.

        ``(offset, item)`` packed in an int (:func:`streamapp.packed.ordinal`); -1 without an
        origin (then nothing is fenced).
        """
        return -1 if self.origin is None else ordinal(self.origin.offset, self.origin_item)

    def to_json(self) -> JSON:
        """A compact array (one per event, so field names would dominate the partial's size).

        The origin is ``[topic, partition, offset]``, plus the item when it is not 0.
        """
        origin: JSON = None
        if self.origin is not None:
            origin = list(self.origin)
            if self.origin_item:
                origin.append(self.origin_item)
        numbers: JSON = dict(self.values.numbers)
        return [
            self.correlation_id,
            self.event_time_ms,
            origin,
            numbers,
            self.values.user_id,
            self.body_json,
        ]

    @classmethod
    def from_json(cls, data: object) -> Contribution:
        """Read what :meth:`to_json` wrote: ``[cid, time, origin, numbers, user, body_json]``."""
        if not isinstance(data, list) or len(data) != 6:
            raise _json.WindowStateDecodeError("contribution", "expected an array of 6 members")
        cid, event_time_ms, raw_origin, numbers, user, body_json = data
        if not (
            isinstance(cid, str)
            and isinstance(event_time_ms, int)
            and isinstance(numbers, dict)
            and (user is None or isinstance(user, str))
            and isinstance(body_json, str)
        ):
            raise _json.WindowStateDecodeError("contribution", "a member has the wrong type")
        values = EventValues(
            {
                _json.as_str(k, "number path"): _json.as_float(v, "number")
                for k, v in numbers.items()
            },
            user,
        )
        origin, item = _origin_from_json(raw_origin)
        return cls(cid, event_time_ms, values, origin, body_json, item)


def _origin_from_json(data: object) -> tuple[Origin | None, int]:
    if data is None:
        return None, 0
    parts = _json.as_list(data, "contribution origin")
    if len(parts) not in (3, 4):
        raise _json.WindowStateDecodeError("contribution origin", "expected 3 or 4 members")
    origin = Origin(
        _json.as_str(parts[0], "origin topic"),
        _json.as_int(parts[1], "origin partition"),
        _json.as_int(parts[2], "origin offset"),
    )
    return origin, _json.as_int(parts[3], "origin item") if len(parts) == 4 else 0


SpanKey = tuple[str, int] | None
"""An origin partition as ``(topic, partition)``; ``None`` for contributions without an origin."""


class Partial:
    """What one source batch contributed to one aggregate key.

    ``windows`` maps window start to the merged accumulator of the contributions in that window;
    every contribution lies in the windows listed (and, for hopping windows, in several).

    ``spans`` (lowest and highest origin position per origin partition), ``max_event_time_ms``
    and ``count`` summarise the contributions. They are all the owning partition needs on the
    fast path (no window closed, nothing fenced), so a partial read from ``windows.<name>``
    decodes its contributions only when something asks for them: the slow path, after a crash
    or for a late event. Parsing every contribution of every partial cost the owner about a
    third of its time.
    """

    __slots__ = ("_contributions", "_raw", "count", "key", "max_event_time_ms", "spans", "windows")

    def __init__(
        self,
        key: tuple[str, ...],
        windows: Mapping[int, Accumulator],
        contributions: tuple[Contribution, ...],
    ) -> None:
        self.key = key
        self.windows = windows
        self._contributions: tuple[Contribution, ...] | None = contributions
        self._raw: list[object] | None = None
        spans: dict[SpanKey, tuple[int, int]] = {}
        latest: int | None = None
        for c in contributions:
            op = None if c.origin is None else (c.origin.topic, c.origin.partition)
            position = c.origin_position
            span = spans.get(op)
            spans[op] = (
                (position, position)
                if span is None
                else (min(span[0], position), max(span[1], position))
            )
            if latest is None or c.event_time_ms > latest:
                latest = c.event_time_ms
        self.spans: Mapping[SpanKey, tuple[int, int]] = spans
        self.max_event_time_ms = latest
        self.count = len(contributions)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Partial):
            return NotImplemented
        return (self.key, dict(self.windows), self.contributions, dict(self.spans)) == (
            other.key,
            dict(other.windows),
            other.contributions,
            dict(other.spans),
        ) and (self.max_event_time_ms, self.count) == (other.max_event_time_ms, other.count)

    __hash__ = None  # type: ignore[assignment]  # mutable cache inside: not hashable

    def __repr__(self) -> str:
        return f"Partial(key={self.key!r}, windows={sorted(self.windows)!r}, count={self.count})"

    @property
    def contributions(self) -> tuple[Contribution, ...]:
        """Every contribution, in offset order (decoded on first use for a partial read back)."""
        if self._contributions is None:
            raw = self._raw if self._raw is not None else []
            self._contributions = tuple(Contribution.from_json(c) for c in raw)
            self._raw = None
        return self._contributions

    def to_json(self) -> JSONObject:
        """An orjson-able object: the value written to ``windows.<name>``."""
        windows: list[JSON] = [[start, acc.to_json()] for start, acc in self.windows.items()]
        spans: list[JSON] = [
            [None, None, lo, hi] if op is None else [op[0], op[1], lo, hi]
            for op, (lo, hi) in self.spans.items()
        ]
        return {
            "key": list(self.key),
            "windows": windows,
            "spans": spans,
            "max_time": self.max_event_time_ms,
            "n": self.count,
            "contributions": [c.to_json() for c in self.contributions],
        }

    @classmethod
    def from_json(cls, data: object) -> Partial:
        """Read what :meth:`to_json` wrote; the contributions stay undecoded until asked for.

        A partial without ``spans`` (written before they existed) is decoded in full.
        """
        obj = _json.as_dict(data, "partial")
        windows: dict[int, Accumulator] = {}
        for item in _json.as_list(_json.field(obj, "windows", "partial"), "partial.windows"):
            start, acc = _json.as_list(item, "partial window")
            windows[_json.as_int(start, "window start")] = Accumulator.from_json(acc)
        key = _json.as_str_tuple(_json.field(obj, "key", "partial"), "partial.key")
        raw = _json.as_list(_json.field(obj, "contributions", "partial"), "contributions")
        if "spans" not in obj:
            return cls(key, windows, tuple(Contribution.from_json(c) for c in raw))
        partial = cls.__new__(cls)
        partial.key, partial.windows = key, windows
        partial._contributions, partial._raw = None, raw
        partial.spans = _spans_from_json(obj["spans"])
        max_time = obj.get("max_time")
        partial.max_event_time_ms = None if max_time is None else _json.as_int(max_time, "max_time")
        partial.count = _json.as_int(obj.get("n"), "partial.n")
        if partial.count != len(raw):
            raise _json.WindowStateDecodeError("partial", "n differs from its contributions")
        return partial


def _spans_from_json(data: object) -> dict[SpanKey, tuple[int, int]]:
    spans: dict[SpanKey, tuple[int, int]] = {}
    for item in _json.as_list(data, "partial.spans"):
        parts = _json.as_list(item, "partial span")
        if len(parts) != 4:
            raise _json.WindowStateDecodeError("partial span", "expected 4 members")
        topic, partition, lo, hi = parts
        op: SpanKey = None
        if topic is not None:
            op = (_json.as_str(topic, "span topic"), _json.as_int(partition, "span partition"))
        spans[op] = (_json.as_int(lo, "span lowest"), _json.as_int(hi, "span highest"))
    return spans


class Outcome(StrEnum):
    """What :meth:`Combiner.add` did with an event; the edge counts the non-``added`` ones."""

    ADDED = "added"
    NOT_SELECTED = "not_selected"
    MISSING_KEY = "missing_key"


@dataclass(frozen=True, slots=True)
class Extractor:
    """An aggregate's selection and paths, split once: what is resolved per event."""

    events: frozenset[str]
    key: tuple[tuple[str, ...], ...]
    numeric: tuple[tuple[str, tuple[str, ...]], ...]
    counts_users: bool

    @classmethod
    def of(cls, aggregate: Aggregate) -> Extractor:
        """The extractor of one (validated) aggregate."""
        return cls(
            events=frozenset(aggregate.events),
            key=tuple(split_path(path) for path in aggregate.key_paths),
            numeric=tuple((path, split_path(path)) for path in aggregate.numeric_paths),
            counts_users=aggregate.counts_users,
        )

    def selects(self, event: Event) -> bool:
        """Whether ``event`` counts (its name is listed, or no names are)."""
        return not self.events or event.event_name in self.events

    def key_of(self, event: Event) -> tuple[str, ...] | None:
        """The rendered key values of ``event``, or ``None`` when a key field is missing/null."""
        values = []
        for segments in self.key:
            value = render_key(resolve(event, segments))
            if value is None:
                return None
            values.append(value)
        return tuple(values)

    def values_of(self, event: Event, user_id: str | None = None) -> EventValues:
        """What ``event`` contributes to the measures.

        ``user_id`` is the canonical user id (the key of ``events.identified``); without it the
        event's own ``userId``, else its ``anonymousId``, stands in.
        """
        numbers = {}
        for path, segments in self.numeric:
            number = as_number(resolve(event, segments))
            if number is not None:
                numbers[path] = number
        user = (user_id or event.user_id or event.anonymous_id) if self.counts_users else None
        return EventValues(numbers=numbers, user_id=user)


@dataclass(slots=True)
class _Building:
    windows: dict[int, Accumulator] = field(default_factory=dict)
    contributions: list[Contribution] = field(default_factory=list)
    size_bytes: int = 0


class Combiner:
    """Pre-aggregates the events of one source batch for one aggregate.

    Usage per batch: :meth:`add` each event in offset order, then :meth:`drain` and send each
    partial to ``windows.<name>`` keyed by :attr:`Partial.key`. Mutable; one per agent.
    """

    def __init__(
        self, aggregate: Aggregate, *, max_partial_bytes: int = DEFAULT_MAX_PARTIAL_BYTES
    ) -> None:
        self._window = aggregate.window
        self._extract = Extractor.of(aggregate)
        self._max_partial_bytes = max_partial_bytes
        self._building: dict[tuple[str, ...], _Building] = {}
        self._done: list[Partial] = []

    def add(
        self,
        event: Event,
        *,
        correlation_id: str,
        size_bytes: int,
        origin: Origin | None = None,
        user_id: str | None = None,
        origin_item: int = 0,
        body_json: str | None = None,
    ) -> Outcome:
        """Fold ``event`` into its key's partial.

        Args:
            event: The validated, identified event.
            correlation_id: Carried to the late report, so the event can be traced.
            size_bytes: Size of the record the event was read from; bounds a partial's size.
            origin: Where it was read, for replay fencing on the owning partition.
            origin_item: Its index inside the record read there (:mod:`streamapp.packed`).
            user_id: The canonical user id, for ``DistinctUsers``.
            body_json: ``event.body`` as JSON text, when the caller has it already (one
                serialisation per event, however many aggregates it feeds).

        Returns:
            ``added``, or why the event does not count for this aggregate.

        """
        if not self._extract.selects(event):
            return Outcome.NOT_SELECTED
        key = self._extract.key_of(event)
        if key is None:
            return Outcome.MISSING_KEY
        values = self._extract.values_of(event, user_id)
        building = self._building_for(key, size_bytes)
        for window in windows_for(event.event_time_ms, self._window):
            building.windows.setdefault(window.start_ms, Accumulator()).add(values)
        if body_json is None:
            body_json = orjson.dumps(event.body).decode()
        building.contributions.append(
            Contribution(
                correlation_id, event.event_time_ms, values, origin, body_json, origin_item
            )
        )
        building.size_bytes += size_bytes
        return Outcome.ADDED

    def _building_for(self, key: tuple[str, ...], size_bytes: int) -> _Building:
        building = self._building.get(key)
        if building is not None and building.size_bytes + size_bytes > self._max_partial_bytes:
            self._done.append(_finish(key, building))
            building = None
        if building is None:
            building = self._building[key] = _Building()
        return building

    def drain(self) -> list[Partial]:
        """Every partial built since the last drain, in the order keys were first seen."""
        partials = self._done + [_finish(key, b) for key, b in self._building.items()]
        self._done, self._building = [], {}
        return partials


def _finish(key: tuple[str, ...], building: _Building) -> Partial:
    return Partial(key, building.windows, tuple(building.contributions))
