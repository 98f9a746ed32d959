"""Field paths: the small grammar an aggregate uses to name a value of an event.

A path is dotted. Its first segment (the root) is one of:

* a scalar root, used alone: ``event`` (the :attr:`Event.event_name`, so ``page``, ``screen`` and
  ``identify`` calls group under their call type), ``type``, ``userId``, ``anonymousId``,
  ``groupId``, ``name``, ``channel``;
* an object root followed by at least one segment: ``properties.<x>``, ``traits.<x>``,
  ``context.<a>.<b>`` (``properties`` and ``traits`` read the typed fields of the event,
  ``context`` reads ``Event.body``).

Sits between the declaration (``declare`` checks paths with :func:`path_problem`) and the
combiner (which resolves them per event). Pure: reads only the :class:`Event` it is given.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Final

import orjson

from streamapp.events import Event

SCALAR_ROOTS: Final = frozenset(
    {"event", "type", "userId", "anonymousId", "groupId", "name", "channel"}
)
OBJECT_ROOTS: Final = frozenset({"properties", "traits", "context"})

MAX_MAGNITUDE: Final = 2.0**1000
"""Numbers at or beyond this magnitude are ignored by numeric measures.

The exact sums in ``accumulator`` cannot overflow below 2**1024; this bound leaves room for 2**23
such values in one window, and no real revenue or duration comes near it.
"""

_NOT_NAME_CHAR = re.compile(r"[^A-Za-z0-9_]")


def path_problem(path: object) -> str | None:
    """Why ``path`` is not a valid field path, or ``None`` when it is."""
    if not isinstance(path, str):
        return f"must be a string like 'properties.product_id', got {type(path).__name__}"
    segments = path.split(".")
    root, rest = segments[0], segments[1:]
    if any(not segment for segment in segments):
        return f"{path!r} has an empty segment"
    if root in SCALAR_ROOTS:
        return None if not rest else f"{root!r} is a plain value and has no members"
    if root in OBJECT_ROOTS:
        return None if rest else f"{root!r} needs a member, e.g. '{root}.some_field'"
    roots = ", ".join(sorted(SCALAR_ROOTS | OBJECT_ROOTS))
    return f"{path!r} does not start with a known root ({roots})"


def split_path(path: str) -> tuple[str, ...]:
    """The segments of a valid path; split once, resolved many times."""
    return tuple(path.split("."))


def sanitize(text: str) -> str:
    """``text`` as an Avro name: other characters become ``_``, a leading digit gets a ``_``."""
    name = _NOT_NAME_CHAR.sub("_", text)
    return "_" + name if name[:1].isdigit() or not name else name


def resolve(event: Event, segments: tuple[str, ...]) -> object:
    """The value at a path in ``event``, or ``None`` when any step is missing or not an object."""
    value = _root_value(event, segments[0])
    for segment in segments[1:]:
        if not isinstance(value, Mapping):
            return None
        value = value.get(segment)
    return value


def _root_value(event: Event, root: str) -> object:
    match root:
        case "event":
            return event.event_name
        case "type":
            return event.type.value
        case "userId":
            return event.user_id
        case "anonymousId":
            return event.anonymous_id
        case "groupId":
            return event.group_id
        case "name":
            return event.name
        case "properties":
            return event.properties
        case "traits":
            return event.traits
        case _:
            return event.body.get(root)


def render_key(value: object) -> str | None:
    """A key value as the string the sink writes; ``None`` (missing) stays ``None``.

    JSON does not tell ``1`` from ``1.0``, so whole floats render as integers; booleans render as
    JSON does; objects and arrays render as compact JSON with sorted keys, so equal values always
    make equal keys.
    """
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return orjson.dumps(value, default=str, option=orjson.OPT_SORT_KEYS).decode()


def as_number(value: object) -> float | None:
    """A value a numeric measure can use, or ``None`` (missing, not a number, a bool, too large).

    Numbers sent as strings (``"12.50"``) are not numbers: the Segment spec types revenue and
    price as numbers, and guessing would make a typo count.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, int) and abs(value) >= MAX_MAGNITUDE:
        return None  # checked before float(): a huge int would overflow there
    number = float(value)
    if not math.isfinite(number) or abs(number) >= MAX_MAGNITUDE:
        return None
    return number + 0.0  # -0.0 becomes 0.0, so min/max do not depend on arrival order
