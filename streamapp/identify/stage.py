"""One record through the identify stage: dedupe by messageId, then resolve identity.

The agent reads the two values this needs (the dedupe entry of the messageId and the binding of
:func:`~streamapp.identify.resolve.binding_subject`) from its batch working set or its table, calls
:func:`identify`, writes back the values it returns, and sends the outputs in order with origin
index = position in ``outputs``. Call it for ``FRESH`` and ``OWN_REPLAY`` records alike (skip
only ``UPSTREAM_DUPLICATE``): the values' own positions make a replay produce the same outputs and
no new effect. It must not send, write or read a clock itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from streamapp.events import Event, Rejection
from streamapp.identify.binding import Binding
from streamapp.identify.dedupe import Duplicate, Seen, check_seen
from streamapp.identify.resolve import Outcome, Output, resolve
from streamapp.state.fence import Position


@dataclass(frozen=True, slots=True)
class IdentifyStep:
    """The result for one record.

    Attributes:
        outcome: What happened (a metric label).
        outputs: What to send, in order.
        seen: Value to write under ``seen_key(event.message_id)``; ``None``: write nothing.
        binding: Value to write under ``binding_key(binding_subject(event))``; ``None``: nothing.
        rejection: Set when the record goes to the DLQ (with its original bytes).
        duplicate_of: For ``DUPLICATE``, the entry of the copy that was accepted.

    """

    outcome: Outcome
    outputs: tuple[Output, ...] = ()
    seen: Seen | None = None
    binding: Binding | None = None
    rejection: Rejection | None = None
    duplicate_of: Seen | None = None


def identify(
    event: Event,
    *,
    seen: Seen | None,
    binding: Binding | None,
    partition: int,
    at: Position,
    horizon_ms: int,
) -> IdentifyStep:
    """Dedupe ``event`` by messageId, then resolve where it goes.

    Args:
        event: The decoded event.
        seen: The stored dedupe entry of ``event.message_id``.
        binding: The stored binding of ``binding_subject(event)`` (``None`` if it has none).
        partition: The own input partition.
        at: The own input position of the record.
        horizon_ms: The dedupe horizon.

    Returns:
        The step; a rejected event writes nothing and is not remembered for dedupe.

    """
    resolution = resolve(event, binding, at)
    if resolution.rejection is not None:
        return IdentifyStep(Outcome.REJECTED, rejection=resolution.rejection)
    verdict = check_seen(seen, partition, at, event.received_at_ms, horizon_ms)
    if isinstance(verdict, Duplicate):
        return IdentifyStep(Outcome.DUPLICATE, duplicate_of=verdict.first)
    return IdentifyStep(
        resolution.outcome, resolution.outputs, verdict, resolution.binding, None, None
    )
