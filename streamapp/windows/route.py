"""Which version of an aggregate a record on ``windows.<name>`` is for: the owner's dispatch.

Pure: the record's ``streamapp-kind`` and ``streamapp-aggregate-version`` headers in, a
:class:`Route` out. Used by :mod:`streamapp.windows.owner`; the rules are the backfill
protocol's "own version only" (:mod:`streamapp.replay`) plus the previous version kept while a
changed aggregate is backfilled (:mod:`streamapp.replay.previous`).
"""

from __future__ import annotations

from enum import Enum
from typing import Final

from streamapp.replay.control import BACKFILL_DONE

TICK: Final = b"tick"
"""The ``streamapp-kind`` header of a tick record (wall time through the ordered stream)."""


class Route(Enum):
    """Where an owner sends one record of ``windows.<name>``."""

    TICK = "tick"
    """Wall time only: nothing to apply."""
    MARKER = "marker"
    """A backfill's done-marker (of some version: its value says which)."""
    OWN = "own"
    """A partial of the version the owner runs."""
    PREVIOUS = "previous"
    """A partial of the previous version the owner keeps running next to its own."""
    FOREIGN = "foreign"
    """A partial of any other version (left unread before a change, or of a retired previous
    version): skipped."""


def route(kind: bytes | None, made_by: bytes | None, own: bytes, previous: bytes | None) -> Route:
    """The route of a record with these headers, for an owner of version ``own``.

    ``previous`` is the previous version's while it still runs on the owner's partition, else
    None. A partial with no version header predates versioned partials: the owner's own.
    """
    if kind == TICK:
        return Route.TICK
    if kind == BACKFILL_DONE:
        return Route.MARKER
    if made_by is None or made_by == own:
        return Route.OWN
    if previous is not None and made_by == previous:
        return Route.PREVIOUS
    return Route.FOREIGN
