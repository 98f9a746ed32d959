"""One ``events.identified`` record through the profiles stage (profiles + counters).

Three record kinds (:mod:`.messages`), each handled by a pure function over the key's current
:class:`~.user_state.UserState` (``None`` if the key has none) and the record's own position:

``on_event`` (an event keyed by the user it counts for)
    If the key is a tombstone (merged into U before this position): forward the record to U.
    Else apply it to the profile and the counters.
``on_handoff`` (keyed by A: move A's state to U)
    If A is ``identified`` (some event with ``userId`` A was applied: A is a real user): refused,
    ``identity_conflict``, nothing moves. Else A becomes a tombstone ``merged_into = U`` (even with
    no state, so stray later records of A are forwarded) and a :class:`~.messages.Merge` with A's
    profile and counters (possibly empty) is sent keyed U. Always sending it keeps one code path
    and records A in U's ``merged_from``. A second hand-off of A to U is a no-op; to another user,
    a conflict.
``on_merge`` (keyed by U)
    If U is a tombstone: forward. If A is in U's ``merged_from`` (a duplicated merge): no-op. Else
    merge: counts add, first/last min/max, traits by latest time, known ids united.

Replay (the fence, :mod:`streamapp.state.fence`). A tombstone freezes the value: nothing is applied
to it afterwards, so its profile and counters are exactly those at hand-off. Decisions are taken
"as of" the record's position: ``merged_at`` says whether the key was a tombstone then, the
``applied`` stamp whether the record is already in the value. A replayed record therefore sends
the same outputs as the first time (the same merge snapshot, the same forwards) and changes nothing.

Forwarding loops (two ids merged into each other through a race of hand-offs) are cut after
``max_hops`` forwards: the record is rejected with ``identity_conflict`` for the DLQ.

Must not send, write, decode records or read a clock: the agent does, from what is returned.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import NamedTuple

from streamapp.config import Settings
from streamapp.counters.counters import add_event
from streamapp.counters.counters import merge as merge_counters
from streamapp.events import Event, Reason, Rejection
from streamapp.identify.handoff import Handoff
from streamapp.profiles.messages import Merge
from streamapp.profiles.profile import apply_event, merge_profile
from streamapp.profiles.user_state import UserState
from streamapp.state.fence import Position, is_reserved

STAGE = "profiles"
DEFAULT_MAX_HOPS = 8


@dataclass(frozen=True, slots=True)
class Limits:
    """The stage's parameters."""

    known_ids_max: int
    days_retained: int
    max_hops: int = DEFAULT_MAX_HOPS

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        """Return the limits from the process settings."""
        return cls(settings.known_ids_max, settings.counter_days_retained)


class Outcome(StrEnum):
    """What the stage did with one record. The set is closed: metrics use it."""

    APPLIED = "applied"
    REPLAYED = "replayed"
    FORWARDED = "forwarded"
    TOMBSTONED = "tombstoned"
    MERGED = "merged"
    DUPLICATE = "duplicate"
    CONFLICT = "identity_conflict"
    REJECTED = "rejected"


class Forward(NamedTuple):
    """Re-send the input record's value unchanged (same kind) keyed ``key``, with ``hops``."""

    key: str
    hops: int


class SendMerge(NamedTuple):
    """Send ``merge`` as a ``merge`` record keyed ``key`` (hops 0)."""

    key: str
    merge: Merge


Output = Forward | SendMerge


@dataclass(slots=True)  # not frozen, yet never mutated: see streamapp.profiles
class Step:
    """The result for one record.

    Attributes:
        outcome: What happened (a metric label).
        state: The value to write under the record's key, ``None`` to write nothing. A replayed
            record returns the stored value so that it is written again (see the fence).
        outputs: What to send, in order; an output's index is its origin index.
        rejection: Set when the record goes to the DLQ (with its original bytes).

    """

    outcome: Outcome
    state: UserState | None = None
    outputs: tuple[Output, ...] = ()
    rejection: Rejection | None = None


def on_event(
    state: UserState | None, key: str, event: Event, at: Position, hops: int, limits: Limits
) -> Step:
    """Apply an event to the key's profile and counters, or forward it from a tombstone."""
    if is_reserved(key):
        return _reserved(key)
    target = _tombstone_target(state, at)
    if target is not None:
        return _forward(target, hops, limits)
    if state is not None and state.applied is not None and state.applied >= at:
        return Step(Outcome.REPLAYED, state)
    base = state if state is not None else UserState.empty(key)
    profile = apply_event(base.profile, event, limits.known_ids_max)
    counters = add_event(base.counters, event.event_name, event.event_time_ms, limits.days_retained)
    return Step(Outcome.APPLIED, UserState(profile, counters, at))


def on_handoff(
    state: UserState | None, key: str, handoff: Handoff, at: Position, limits: Limits
) -> Step:
    """Turn the key into a tombstone merged into ``handoff.to_id`` and send its snapshot there."""
    to = handoff.to_id
    if is_reserved(key) or is_reserved(to):
        return _reserved(key if is_reserved(key) else to)
    if handoff.from_id != key or to == key:
        detail = f"hand-off {handoff.from_id!r} -> {to!r} read under key {key!r}"
        return Step(Outcome.REJECTED, rejection=Rejection(STAGE, Reason.CONFLICT, detail))
    if state is not None:
        profile = state.profile
        if profile.merged_into is not None and profile.merged_at is not None:
            if profile.merged_at == at:  # our own replay of this very hand-off
                merge = _snap(state)
                return Step(Outcome.TOMBSTONED, state, (SendMerge(profile.merged_into, merge),))
            if profile.merged_at < at:
                same = profile.merged_into == to
                return Step(Outcome.DUPLICATE if same else Outcome.CONFLICT)
        if state.applied is not None and state.applied >= at:
            return Step(Outcome.CONFLICT)  # replayed, and it did not tombstone: it was refused
        if profile.identified:
            return Step(Outcome.CONFLICT)
    base = state if state is not None else UserState.empty(key)
    tomb = UserState(replace(base.profile, merged_into=to, merged_at=at), base.counters, at)
    return Step(Outcome.TOMBSTONED, tomb, (SendMerge(to, _snap(base)),))


def on_merge(
    state: UserState | None, key: str, merge: Merge, at: Position, hops: int, limits: Limits
) -> Step:
    """Merge another id's snapshot into the key, unless already merged; forward from a tombstone."""
    if is_reserved(key):
        return _reserved(key)
    target = _tombstone_target(state, at)
    if target is not None:
        return _forward(target, hops, limits)
    if state is not None and state.applied is not None and state.applied >= at:
        return Step(Outcome.REPLAYED, state)
    base = state if state is not None else UserState.empty(key)
    if merge.from_id == key or merge.from_id in base.profile.merged_from:
        return Step(Outcome.DUPLICATE)
    profile = merge_profile(base.profile, merge.profile, limits.known_ids_max)
    counters = merge_counters(base.counters, merge.counters, limits.days_retained)
    return Step(Outcome.MERGED, UserState(profile, counters, at))


def _tombstone_target(state: UserState | None, at: Position) -> str | None:
    """Return where the key was merged into, if it already was a tombstone before ``at``."""
    if state is None:
        return None
    profile = state.profile
    if profile.merged_into is None or profile.merged_at is None or profile.merged_at >= at:
        return None
    return profile.merged_into


def _snap(state: UserState) -> Merge:
    """Return the merge carrying the state's profile (tombstone marks cleared) and counters."""
    profile = replace(state.profile, merged_into=None, merged_at=None)
    return Merge(profile.user_id, profile, state.counters)


def _forward(target: str, hops: int, limits: Limits) -> Step:
    if hops >= limits.max_hops:
        detail = f"forwarded {hops} times without reaching a live profile (cycle of merged ids)"
        return Step(Outcome.REJECTED, rejection=Rejection(STAGE, Reason.CONFLICT, detail))
    return Step(Outcome.FORWARDED, outputs=(Forward(target, hops + 1),))


def _reserved(key: str) -> Step:
    detail = f"id {key!r} starts with the reserved NUL character"
    return Step(Outcome.REJECTED, rejection=Rejection(STAGE, Reason.WRONG_TYPE, detail))
