"""Which version keeps answering while a changed aggregate's new version is backfilled.

The issue's promise: *the old version keeps answering until the new one has caught up, then the
new one takes over.* A worker that starts with a changed ``topologies/`` no longer has the old
declaration, so it rebuilds the old version from the definition recorded with its decision on the
control log (:mod:`streamapp.replay.control`) and keeps running it live next to the new one
(:mod:`streamapp.windows.agent`): same input partials, its own table, its own sink records. Each
owner partition retires it when the new version's done-marker releases that partition.

Pure: the control log folded in, a decision out (with the reason, for the worker's log).
"""

from __future__ import annotations

from dataclasses import dataclass

from streamapp.replay.control import ControlState, Mode
from streamapp.windows.declare import Aggregate
from streamapp.windows.definition import DefinitionError, aggregate_from_definition


@dataclass(frozen=True, slots=True)
class Previous:
    """The version to keep running next to ``current`` (None: nothing to keep), and why."""

    aggregate: Aggregate | None
    reason: str


def previous_for(state: ControlState, current: Aggregate) -> Previous:
    """The previous version of ``current`` to keep answering while ``current`` is backfilled.

    None when ``current`` is not being backfilled, its backfill is already done, it is newly
    added (no earlier version with a complete history), or the earlier version's definition was
    not recorded or does not rebuild into that version (then the new version's partial state
    answers, marked ``backfilling``, as before this existed).
    """
    name, version = current.name, current.version
    decision = state.decision(name, version)
    if decision is None or decision.mode is not Mode.BACKFILL:
        return Previous(None, "not backfilled")
    if state.is_done(name, version):
        return Previous(None, "its backfill is done")
    previous = state.previous(name, version)
    if previous is None:
        return Previous(None, "newly added: no earlier version with a complete history")
    definition = state.definition(name, previous)
    if definition is None:
        return Previous(None, f"version {previous} recorded no definition to rebuild it from")
    try:
        aggregate = aggregate_from_definition(definition, previous)
    except DefinitionError as exc:
        return Previous(None, f"version {previous} cannot be rebuilt: {exc}")
    return Previous(aggregate, f"version {previous} answers until {version} has caught up")
