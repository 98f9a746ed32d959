"""Typed readers for the JSON this package writes itself (partials, persisted window state).

The data comes back from our own Kafka topics and tables, so a mismatch means a bug, a foreign
producer or a format change: it raises :class:`WindowStateDecodeError` naming what was being read,
and the edge treats it as bad input (dead letter), never as something to guess around.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from streamapp.errors import StreamappError


@dataclass(eq=False)
class WindowStateDecodeError(StreamappError):
    """A partial or a persisted window state does not have the shape this version writes."""

    what: str
    reason: str

    def __str__(self) -> str:
        return f"cannot decode {self.what}: {self.reason}"


def as_dict(value: object, what: str) -> dict[str, object]:
    """``value`` as a JSON object, or raise naming ``what``."""
    if not isinstance(value, dict):
        raise WindowStateDecodeError(what, f"expected an object, got {type(value).__name__}")
    return cast(dict[str, object], value)


def as_list(value: object, what: str) -> list[object]:
    """``value`` as a JSON array, or raise naming ``what``."""
    if not isinstance(value, list):
        raise WindowStateDecodeError(what, f"expected an array, got {type(value).__name__}")
    return cast(list[object], value)


def as_int(value: object, what: str) -> int:
    """``value`` as an integer (not a bool), or raise naming ``what``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise WindowStateDecodeError(what, f"expected an integer, got {type(value).__name__}")
    return value


def as_optional_int(value: object, what: str) -> int | None:
    """``value`` as an integer or ``None``."""
    return None if value is None else as_int(value, what)


def as_float(value: object, what: str) -> float:
    """``value`` as a float; JSON writers may render a whole float as an integer."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise WindowStateDecodeError(what, f"expected a number, got {type(value).__name__}")
    return float(value)


def as_str(value: object, what: str) -> str:
    """``value`` as a string, or raise naming ``what``."""
    if not isinstance(value, str):
        raise WindowStateDecodeError(what, f"expected a string, got {type(value).__name__}")
    return value


def as_optional_str(value: object, what: str) -> str | None:
    """``value`` as a string or ``None``."""
    return None if value is None else as_str(value, what)


def as_str_tuple(value: object, what: str) -> tuple[str, ...]:
    """``value`` as an array of strings, returned as a tuple."""
    return tuple(as_str(item, what) for item in as_list(value, what))


def field(obj: dict[str, object], name: str, what: str) -> object:
    """Member ``name`` of ``obj``, or raise naming ``what`` and the missing member."""
    try:
        return obj[name]
    except KeyError:
        raise WindowStateDecodeError(what, f"missing member {name!r}") from None
