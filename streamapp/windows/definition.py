"""An :class:`~streamapp.windows.declare.Aggregate` rebuilt from its canonical definition JSON.

The control log (:mod:`streamapp.replay.control`) records each version's
:meth:`~streamapp.windows.declare.Aggregate.definition` when it is first decided on. A worker that
runs a *changed* aggregate rebuilds the version it replaces from that record, so the old version
keeps running (and answering) until the new one's backfill has caught up, although its source is
gone from ``topologies/``. Pure: no Kafka, no file access.

What this must not do: return an aggregate whose version differs from the recorded one (its
table and partials would be another version's).
"""

from __future__ import annotations

from collections.abc import Mapping

from streamapp.errors import TopologyError
from streamapp.events import JSON
from streamapp.windows.declare import (
    Aggregate,
    Count,
    DistinctUsers,
    Hopping,
    Key,
    Max,
    Measure,
    Min,
    Sum,
    Tumbling,
    Window,
)

_FIELD_MEASURES: dict[str, type[Sum] | type[Min] | type[Max]] = {
    "sum": Sum,
    "min": Min,
    "max": Max,
}


class DefinitionError(ValueError):
    """A recorded definition that cannot be rebuilt into the version it claims to be."""


def aggregate_from_definition(definition: Mapping[str, JSON], version: str) -> Aggregate:
    """The aggregate whose canonical definition is ``definition``, checked to be ``version``.

    Key fields and measure output names are given explicitly (``as_``), which renders the same
    canonical definition as the original declaration, whatever defaults it relied on.

    Raises:
        DefinitionError: the record is malformed, fails validation, or hashes to another version.

    """
    try:
        aggregate = Aggregate(
            name=_str(definition["name"]),
            events=tuple(_str(e) for e in _list(definition["events"])),
            key=tuple(
                Key(_str(path), as_=_str(field))
                for path, field in zip(
                    _list(definition["key"]), _list(definition["key_fields"]), strict=True
                )
            ),
            window=_window(definition["window"]),
            grace_s=_int(definition["grace_s"]),
            measures=tuple(_measure(m) for m in _list(definition["measures"])),
        )
    except (KeyError, TypeError, ValueError, TopologyError) as exc:
        raise DefinitionError(f"malformed definition: {exc!r}") from exc
    if aggregate.version != version:
        raise DefinitionError(f"definition hashes to {aggregate.version}, not {version}")
    return aggregate


def _window(raw: JSON) -> Window:
    obj = _dict(raw)
    if obj["kind"] == Tumbling.kind:
        return Tumbling(size_s=_int(obj["size_s"]))
    if obj["kind"] == Hopping.kind:
        return Hopping(size_s=_int(obj["size_s"]), step_s=_int(obj["step_s"]))
    raise ValueError(f"unknown window kind {obj['kind']!r}")


def _measure(raw: JSON) -> Measure:
    obj = _dict(raw)
    kind, as_ = obj["kind"], _str(obj["as"])
    if kind == Count.kind:
        return Count(as_=as_)
    if kind == DistinctUsers.kind:
        return DistinctUsers(as_=as_)
    if isinstance(kind, str) and kind in _FIELD_MEASURES:
        return _FIELD_MEASURES[kind](_str(obj["path"]), as_=as_)
    raise ValueError(f"unknown measure kind {kind!r}")


def _dict(raw: JSON) -> dict[str, JSON]:
    if not isinstance(raw, dict):
        raise TypeError(f"expected an object, got {type(raw).__name__}")
    return raw


def _list(raw: JSON) -> list[JSON]:
    if not isinstance(raw, list):
        raise TypeError(f"expected a list, got {type(raw).__name__}")
    return raw


def _str(raw: JSON) -> str:
    if not isinstance(raw, str):
        raise TypeError(f"expected a string, got {type(raw).__name__}")
    return raw


def _int(raw: JSON) -> int:
    if not isinstance(raw, int) or isinstance(raw, bool):
        raise TypeError(f"expected an integer, got {type(raw).__name__}")
    return raw
