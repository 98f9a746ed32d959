"""Which records of ``events.identified`` count for windowed aggregates.

Shared by the combine agent (live) and ``streamapp replay`` (backfill), so the two paths select
exactly the same events. Pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from streamapp.agents import header
from streamapp.events import Event
from streamapp.ingest.normalised import event_from_normalised
from streamapp.profiles.messages import Kind
from streamapp.topics import Header

EVENT_KIND: Final = Kind.EVENT.value.encode()


def counted_event(headers: Sequence[tuple[str, bytes]] | None, value: bytes | None) -> Event | None:
    """The event a record carries, or ``None`` for what windows never count.

    Hand-offs and merges (``streamapp-kind`` other than ``event``) and copies forwarded from a
    stitched id (``streamapp-hops``) are not new events; an undecodable body is dead-lettered by
    the profiles stage, not here.
    """
    return event_from_normalised(value or b"") if counts(headers) else None


def counts(headers: Sequence[tuple[str, bytes]] | None) -> bool:
    """Whether a record with these headers carries a new event (see :func:`counted_event`)."""
    kind = header(headers, Header.KIND)
    return (kind is None or kind == EVENT_KIND) and not header(headers, Header.HOPS)
