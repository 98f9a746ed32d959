"""Read an event back from an internal topic, where the validate stage already normalised it.

``events.identify`` and ``events.identified`` carry :attr:`Event.body` as written by validate:
ids are strings, ``messageId``, ``receivedAt`` and the corrected ``timestamp`` are present. This
decode trusts that and skips the full rules (the hot path of every later stage); a record that
does not decode is reported as ``None`` and the caller dead-letters it.

The identity head: the identify stage needs only an event's type, ids and two times, never its
properties or traits, yet parsing the whole body (~400 bytes) and building the event cost it about
a third of its time. So validate also writes those few fields as a small header
(:data:`~streamapp.topics.Header.IDENTITY`, :func:`identity_head`), and identify reads them with
:func:`event_from_head`; the value it forwards is the body's bytes, unchanged. A record without a
readable head (a ``dlq retry`` copy, another producer's record) is decoded in full as before.
"""

from __future__ import annotations

from typing import Any

import orjson

from streamapp.events import Event, EventType
from streamapp.ingest.timestamps import parse_iso8601_ms
from streamapp.packed import NOT_DECODED, Item

_TYPES = {t.value: t for t in EventType}


def _text(obj: dict[str, Any], field: str) -> str | None:
    value = obj.get(field)
    return value if isinstance(value, str) and value else None


def _object(obj: dict[str, Any], field: str) -> dict[str, Any]:
    value = obj.get(field)
    return value if isinstance(value, dict) else {}


def event_from_normalised(raw: bytes) -> Event | None:
    """The event of an internal record, or ``None`` when the record is not a normalised event."""
    try:
        obj = orjson.loads(raw)
        if not isinstance(obj, dict):
            return None
        kind = _TYPES[obj["type"]]
        traits = _object(obj, "traits")
        if kind is EventType.IDENTIFY and not isinstance(obj.get("traits"), dict):
            traits = _object(_object(obj, "context"), "traits")
        return Event(
            type=kind,
            message_id=obj["messageId"],
            event_time_ms=parse_iso8601_ms(obj["timestamp"]),
            received_at_ms=parse_iso8601_ms(obj["receivedAt"]),
            anonymous_id=_text(obj, "anonymousId"),
            user_id=_text(obj, "userId"),
            event=_text(obj, "event"),
            name=_text(obj, "name"),
            previous_id=_text(obj, "previousId"),
            group_id=_text(obj, "groupId"),
            properties=_object(obj, "properties"),
            traits=traits,
            body=obj,
        )
    except (KeyError, TypeError, ValueError, orjson.JSONDecodeError):
        return None


def identity_head(event: Event) -> bytes:
    """The fields of ``event`` the identify stage reads, as the value of the identity header.

    ``[type, messageId, timestamp ms, receivedAt ms, anonymousId, userId, previousId]``: the
    values :func:`event_from_normalised` gives for the body validate writes.
    """
    return orjson.dumps(
        [
            event.type.value,
            event.message_id,
            event.event_time_ms,
            event.received_at_ms,
            event.anonymous_id or None,
            event.user_id or None,
            event.previous_id or None,
        ]
    )


def event_from_head(raw: bytes | None) -> Event | None:
    """The event an identity head describes (no body, properties or traits); ``None`` if unreadable.

    For the identify stage only: its outputs forward the record's value, never this event.
    """
    if raw is None:
        return None
    try:
        kind, message_id, event_time_ms, received_at_ms, anonymous_id, user_id, previous_id = (
            orjson.loads(raw)
        )
        if not (
            isinstance(message_id, str)
            and type(event_time_ms) is int
            and type(received_at_ms) is int
            and all(v is None or (isinstance(v, str) and v) for v in (anonymous_id, user_id))
            and (previous_id is None or (isinstance(previous_id, str) and previous_id))
        ):
            return None
        return Event(
            type=_TYPES[kind],
            message_id=message_id,
            event_time_ms=event_time_ms,
            received_at_ms=received_at_ms,
            anonymous_id=anonymous_id,
            user_id=user_id,
            previous_id=previous_id,
        )
    except (KeyError, TypeError, ValueError, orjson.JSONDecodeError):
        return None


def item_event(item: Item) -> Event | None:
    """:func:`event_from_normalised` of an item's value, decoded once per item and kept on it."""
    if item.decoded is NOT_DECODED:
        item.decoded = event_from_normalised(item.value or b"")
    event: Event | None = item.decoded
    return event
