"""Identity resolution: where an event goes, and whether it binds an anonymous id to a user.

A pure function of (event, the binding of the event's identity key, own input position). The
rules, in the order they are applied:

1. ``userId`` is authoritative: an event that carries one is sent keyed by it, whatever the
   bindings say.
2. An event carrying both ``anonymousId`` A and ``userId`` U (any call type; A != U) binds A -> U
   if A is unbound, at this record's position; outputs: a :class:`~.handoff.Handoff` keyed A
   (the profiles stage moves A's state to U), then the event keyed U.
3. If A is already bound to U1 != U, the binding is refused (``identity_conflict``, counted): no
   rebinding, the event still goes to U (rule 1), and A's later anonymous-only events stay with U1.
4. ``alias`` (previousId P, userId U) is keyed by P and binds P -> U by rules 2 and 3.
5. An anonymous-only event of A goes to the bound user if A is bound and the record comes after
   the binding's position, else to A itself ("mapping as of position": a replay of an event that
   preceded the binding routes exactly as it did the first time).
6. Re-running the record that made a binding (same position) yields the same two outputs again.

It must not look at profiles (whether P or A is itself an identified user is only known at the
profiles stage, which refuses such a hand-off) and must not read any state but the one binding.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

from streamapp.events import Event, EventType, Reason, Rejection
from streamapp.identify.binding import Binding
from streamapp.identify.handoff import Handoff
from streamapp.state.fence import Position, is_reserved

STAGE = "identify"


class Outcome(StrEnum):
    """What the identify stage did with one record. The set is closed: metrics use it."""

    USER = "user"
    ANONYMOUS = "anonymous"
    STITCHED = "stitched"
    BOUND = "bound"
    CONFLICT = "identity_conflict"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"


class SendHandoff(NamedTuple):
    """Send ``handoff`` on ``events.identified`` keyed ``key`` (the id whose state moves)."""

    key: str
    handoff: Handoff


class SendEvent(NamedTuple):
    """Send the event record's value, unchanged, on ``events.identified`` keyed ``key``."""

    key: str


Output = SendHandoff | SendEvent


@dataclass(frozen=True, slots=True)
class Resolution:
    """The decision on one event.

    ``outputs`` are in sending order; an output's index in it is its origin index. ``binding`` is
    the value to write under the subject's binding key (a new binding, or the replay of the record
    that made it), ``None`` when this record writes no binding.
    """

    outcome: Outcome
    outputs: tuple[Output, ...] = ()
    binding: Binding | None = None
    rejection: Rejection | None = None


def binding_subject(event: Event) -> str | None:
    """Return the id whose binding :func:`resolve` needs, or ``None`` if it needs none.

    That id is the event's identity key (the ``events.identify`` record key), so its binding is in
    the partition that reads the record.
    """
    if event.type is EventType.ALIAS:
        return event.previous_id
    return event.anonymous_id


def resolve(event: Event, binding: Binding | None, at: Position) -> Resolution:
    """Decide where ``event`` goes; ``binding`` is the binding of :func:`binding_subject`."""
    bad = _check_ids(event)
    if bad is not None:
        return Resolution(Outcome.REJECTED, rejection=bad)
    user = event.user_id
    subject = binding_subject(event)
    if subject is not None and user is not None:
        return _bind(subject, user, binding, at)
    if user is not None:
        return Resolution(Outcome.USER, (SendEvent(user),))
    if subject is None:  # unreachable after _check_ids; keeps the types honest
        return Resolution(Outcome.REJECTED, rejection=_missing("userId or anonymousId"))
    if binding is not None and binding.since < at:
        return Resolution(Outcome.STITCHED, (SendEvent(binding.user_id),))
    return Resolution(Outcome.ANONYMOUS, (SendEvent(subject),))


def _bind(subject: str, user: str, binding: Binding | None, at: Position) -> Resolution:
    """Rules 2, 3, 4 and 6: bind ``subject`` to ``user`` unless it is bound to someone else."""
    if subject == user:
        return Resolution(Outcome.USER, (SendEvent(user),))
    if binding is None or (binding.user_id == user and binding.since == at):
        made = binding if binding is not None else Binding(user, at)
        outputs = (SendHandoff(subject, Handoff(subject, user)), SendEvent(user))
        return Resolution(Outcome.BOUND, outputs, made)
    if binding.user_id == user:
        return Resolution(Outcome.USER, (SendEvent(user),))
    return Resolution(Outcome.CONFLICT, (SendEvent(user),))


def _check_ids(event: Event) -> Rejection | None:
    """Refuse an event without the ids its call needs, or with an id in the reserved namespace."""
    if event.type is EventType.ALIAS:
        if not event.previous_id or not event.user_id:
            return _missing("previousId and userId")
    elif not event.anonymous_id and not event.user_id:
        return _missing("userId or anonymousId")
    for value in (event.anonymous_id, event.user_id, event.previous_id):
        if value is not None and is_reserved(value):
            return Rejection(STAGE, Reason.WRONG_TYPE, "an id must not start with a NUL character")
    return None


def _missing(what: str) -> Rejection:
    return Rejection(STAGE, Reason.MISSING_FIELD, f"needs {what}")
