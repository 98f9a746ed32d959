"""Validate: untrusted Segment JSON in, an :class:`Event` or a :class:`Rejection` out.

The first stage of the dataflow. :func:`decode_record` reads one record of the ``events`` topic;
:func:`validate_object` checks one already-decoded object (the HTTP endpoint calls it for each
event of a request). Both follow the Segment spec, normalise the object (``messageId``,
``receivedAt`` and the clock-skew-corrected ``timestamp`` filled in) and never raise: any input,
however broken, comes back as a rejection value for the edge to dead-letter or answer 400 with.

Pure: no Faust, aiokafka, rocksdict or aiohttp. The clock is an input (``received_at_ms``), and so
is the message-id generator, so tests are deterministic.

Normalising is idempotent: validating an ``Event.body`` again yields the same event. That matters
because the HTTP endpoint writes normalised bodies to ``events`` and the validate stage reads them
back; a second clock-skew correction would shift the event time by ``sentAt - receivedAt`` again.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final, NamedTuple

import orjson

from streamapp.events import JSON, Event, EventType, JSONObject, Reason, Rejection
from streamapp.ingest.timestamps import format_iso8601_ms, in_supported_range, parse_iso8601_ms

STAGE: Final = "validate"
"""The stage name every rejection of this module carries (metrics and dead-letter headers)."""

MAX_DEPTH: Final = 32
"""Deepest nesting of objects and arrays accepted; the top-level object is depth 1.

Real events are a few levels deep; deep nesting only costs every later stage (Avro, RocksDB,
recursion in merges). orjson refuses more than 1024 levels by itself; both become TOO_DEEP.
"""

_INT_MIN: Final = -(2**63)
_INT_MAX: Final = 2**64 - 1
"""orjson writes integers in [-2**63, 2**64 - 1]; anything else cannot be forwarded."""

_HUGE_FLOAT: Final = float(2**63)
"""orjson turns integer literals outside its range into floats at least this large."""

_LONG_DIGITS: Final = re.compile(rb"\d{19,}")
"""A digit run long enough to be outside the 64-bit range (2**63 has 19 digits)."""

_ID_FIELDS: Final = ("userId", "anonymousId", "previousId", "groupId")
_OBJECT_FIELDS: Final = ("properties", "traits", "context", "integrations")
_TEXT_FIELDS: Final = ("event", "name")
_TIME_FIELDS: Final = ("timestamp", "sentAt", "originalTimestamp", "receivedAt")


def decode_record(
    raw: bytes,
    *,
    received_at_ms: int,
    max_event_bytes: int,
    new_message_id: Callable[[], str],
) -> Event | Rejection:
    """Decode and validate one record value of the ``events`` topic.

    Checks, in order: empty, larger than ``max_event_bytes``, JSON (with invalid UTF-8, numbers
    orjson cannot hold and nesting orjson refuses told apart), a JSON object, nesting and numbers,
    then :func:`validate_object`. A ``receivedAt`` already in the record (stamped by our HTTP
    endpoint) wins over ``received_at_ms``, the time the consumer read it.

    Never raises; every failure is a :class:`Rejection` with ``stage="validate"``.
    """
    try:
        return _decode(
            raw,
            received_at_ms=received_at_ms,
            max_event_bytes=max_event_bytes,
            new_message_id=new_message_id,
        )
    except _Invalid as invalid:
        return invalid.rejection()
    except Exception as exc:  # the contract is "never raise": a bug here must not stop a worker
        return _unexpected(exc)


def validate_object(
    obj: JSONObject,
    *,
    received_at_ms: int,
    new_message_id: Callable[[], str],
    sent_at: str | None = None,
) -> Event | Rejection:
    """Validate one decoded Segment object and build its :class:`Event`.

    Segment's rules: ``type`` is one of :class:`EventType`; ``track`` names its ``event``;
    ``alias`` has ``previousId`` and ``userId``; ``group`` has ``groupId``; every other call has
    ``userId`` or ``anonymousId``. Ids may be strings or integers and come back as strings; ``""``
    and ``null`` count as absent, as do ``null`` values of every other optional field.

    Event time is ``receivedAt - (sentAt - timestamp)`` when the object (or, failing that, the
    batch: ``sent_at``) has ``sentAt``; else the client ``timestamp`` (or ``originalTimestamp``);
    else ``receivedAt``. ``receivedAt`` is the object's own when present, else ``received_at_ms``;
    an object with its own ``receivedAt`` was already normalised, so its ``timestamp`` is taken
    as the event time without a second correction.

    Never raises; every failure is a :class:`Rejection` with ``stage="validate"``.
    """
    try:
        _check_tree(obj)
        return _validate(
            obj, received_at_ms=received_at_ms, new_message_id=new_message_id, sent_at=sent_at
        )
    except _Invalid as invalid:
        return invalid.rejection()
    except Exception as exc:  # the contract is "never raise": a bug here must not stop a worker
        return _unexpected(exc)


@dataclass(eq=False)
class _Invalid(Exception):
    """Early exit from the private checks; turned into a :class:`Rejection` at the public edge."""

    reason: Reason
    detail: str

    def rejection(self) -> Rejection:
        """The value the public functions return instead of raising."""
        return Rejection(stage=STAGE, reason=self.reason, detail=self.detail)


def _unexpected(exc: Exception) -> Rejection:
    """A rejection for a failure no rule foresaw: kept apart by its detail, never raised."""
    return Rejection(STAGE, Reason.WRONG_TYPE, f"unexpected {type(exc).__name__} while validating")


# --- decoding -----------------------------------------------------------------------------------


def _decode(
    raw: bytes,
    *,
    received_at_ms: int,
    max_event_bytes: int,
    new_message_id: Callable[[], str],
) -> Event:
    """:func:`decode_record` with failures raised as :class:`_Invalid`."""
    if not raw:
        raise _Invalid(Reason.EMPTY, "record value is empty")
    if len(raw) > max_event_bytes:
        raise _Invalid(
            Reason.TOO_LARGE, f"record is {len(raw)} bytes, more than the {max_event_bytes} allowed"
        )
    value = _loads(raw)
    if not isinstance(value, dict):
        raise _Invalid(Reason.NOT_AN_OBJECT, f"record is a JSON {_json_kind(value)}, not an object")
    if _check_tree(value) and _has_out_of_range_integer(raw):
        raise _Invalid(Reason.NUMBER_OUT_OF_RANGE, "an integer is outside the 64-bit range")
    return _validate(
        value, received_at_ms=received_at_ms, new_message_id=new_message_id, sent_at=None
    )


def _loads(raw: bytes) -> JSON:
    """Parse JSON with orjson, sorting its errors into our reasons."""
    try:
        value: JSON = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise _classify_decode_error(raw, exc.msg) from None
    return value


def _classify_decode_error(raw: bytes, message: str) -> _Invalid:
    """Which reason an orjson decode error stands for; orjson only tells us in its message."""
    if not raw.strip():
        return _Invalid(Reason.EMPTY, "record value is only whitespace")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return _Invalid(Reason.INVALID_UTF8, f"record is not valid UTF-8 at byte {exc.start}")
    if "depth limit" in message:
        return _Invalid(Reason.TOO_DEEP, f"JSON nests deeper than {MAX_DEPTH} levels")
    if "infinity" in message or "64-bit" in message:
        return _Invalid(Reason.NUMBER_OUT_OF_RANGE, f"a number is out of range: {message}")
    return _Invalid(Reason.NOT_JSON, f"record is not JSON: {message}")


class _IntegerOutOfRange(Exception):
    """Raised by :func:`_checked_int` to stop the second parse at the first overflow."""


def _checked_int(digits: str) -> int:
    """``parse_int`` hook of the stdlib parser: refuse integers orjson turned into floats."""
    if len(digits.lstrip("-")) > 20:  # also keeps int() clear of its 4300-digit limit
        raise _IntegerOutOfRange
    value = int(digits)
    if not _INT_MIN <= value <= _INT_MAX:
        raise _IntegerOutOfRange
    return value


def has_out_of_range_integer(raw: bytes) -> bool:
    """Whether ``raw`` (JSON that orjson accepted) holds an integer outside the 64-bit range.

    For callers that parsed with orjson themselves (the HTTP endpoint): a cheap scan for a long
    digit run first, the exact stdlib check only when one is there.
    """
    return _LONG_DIGITS.search(raw) is not None and _has_out_of_range_integer(raw)


def _has_out_of_range_integer(raw: bytes) -> bool:
    """Whether the text holds an integer literal outside the 64-bit range.

    orjson parses such integers as floats without a word, losing digits (an id of 20+ digits
    would change). Only the stdlib parser shows us the literal, so we run it, but only when
    orjson produced a float of magnitude 2**63 or more, and only after the depth check, which
    keeps its recursion shallow.
    """
    try:
        json.loads(raw, parse_int=_checked_int)
    except _IntegerOutOfRange:
        return True
    except ValueError:  # orjson accepted it; if the stdlib does not, orjson's reading stands
        return False
    return False


def _json_kind(value: JSON) -> str:
    """The JSON name of a decoded value's type, for details."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _check_tree(obj: object) -> bool:
    """Refuse what later stages cannot carry: deep nesting, numbers orjson cannot write, non-JSON.

    Iterative and depth-first, so a very deep (or cyclic) Python object is refused after at most
    ``MAX_DEPTH`` steps down instead of exhausting the stack. Hot path: every record passes here,
    so the common leaf types are tested by exact type first.

    Returns:
        Whether a float of magnitude 2**63 or more was seen: the only form an out-of-range
        integer literal takes after orjson parsed it (see :func:`_has_out_of_range_integer`).

    """
    if not isinstance(obj, dict):
        raise _Invalid(Reason.NOT_AN_OBJECT, f"event is a {type(obj).__name__}, not an object")
    huge_float = False
    stack: list[tuple[dict[object, object] | list[object], int]] = [(obj, 1)]
    while stack:
        container, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise _Invalid(Reason.TOO_DEEP, f"JSON nests deeper than {MAX_DEPTH} levels")
        for value in _children(container):
            kind = type(value)
            if kind is str or value is None or kind is bool:
                continue
            if isinstance(value, dict | list):
                stack.append((value, depth + 1))
            else:
                huge_float |= _check_number(value)
    return huge_float


def _children(container: dict[object, object] | list[object]) -> Iterable[object]:
    """The values of a container; object keys must be strings."""
    if isinstance(container, list):
        return container
    for key in container:
        if type(key) is not str and not isinstance(key, str):
            raise _Invalid(Reason.WRONG_TYPE, f"object key {key!r} is not a string")
    return container.values()


def _check_number(value: object) -> bool:
    """A leaf that is not a string, boolean or null must be a number orjson writes back unchanged.

    Returns whether it is a float of magnitude 2**63 or more (see :func:`_check_tree`).
    """
    if isinstance(value, str | bool):  # subclasses, which the exact-type fast path let through
        return False
    if isinstance(value, int):
        if not _INT_MIN <= value <= _INT_MAX:
            raise _Invalid(Reason.NUMBER_OUT_OF_RANGE, "an integer is outside the 64-bit range")
        return False
    if isinstance(value, float):
        if not math.isfinite(value):  # orjson would silently write null
            raise _Invalid(Reason.NUMBER_OUT_OF_RANGE, "a number is NaN or infinite")
        return abs(value) >= _HUGE_FLOAT
    raise _Invalid(Reason.WRONG_TYPE, f"a value of type {type(value).__name__} is not JSON")


# --- the Segment rules --------------------------------------------------------------------------


class _Ids(NamedTuple):
    """The identity fields, normalised to strings; ``None`` when absent or empty."""

    user_id: str | None
    anonymous_id: str | None
    previous_id: str | None
    group_id: str | None


class _Times(NamedTuple):
    """When the event happened and when streamapp received it, both epoch milliseconds.

    ``client_field`` names the field whose value was corrected for clock skew, if one was.
    """

    event_time_ms: int
    received_at_ms: int
    client_field: str | None
    batch_sent_at: str | None


def _validate(
    obj: JSONObject,
    *,
    received_at_ms: int,
    new_message_id: Callable[[], str],
    sent_at: str | None,
) -> Event:
    """Apply the Segment rules to a tree-checked object and build the event."""
    event_type = _event_type(obj)
    ids = _ids(obj, event_type)
    texts = {field: _optional_text(obj, field) for field in _TEXT_FIELDS}
    if event_type is EventType.TRACK and not texts["event"]:
        raise _Invalid(Reason.MISSING_FIELD, "track requires a non-empty string 'event'")
    objects = {field: _optional_object(obj, field) for field in _OBJECT_FIELDS}
    times = _times(obj, received_at_ms, sent_at)
    message_id = _message_id(obj) or new_message_id()  # last: no id spent on a rejection
    return Event(
        type=event_type,
        message_id=message_id,
        event_time_ms=times.event_time_ms,
        received_at_ms=times.received_at_ms,
        anonymous_id=ids.anonymous_id,
        user_id=ids.user_id,
        event=texts["event"],
        name=texts["name"],
        previous_id=ids.previous_id,
        group_id=ids.group_id,
        properties=objects["properties"] or {},
        traits=_traits(event_type, objects["traits"], objects["context"]),
        body=_normalised_body(obj, ids, message_id, times),
    )


def _event_type(obj: JSONObject) -> EventType:
    """The call type: required, a string, one of Segment's six."""
    value = obj.get("type")
    if value is None or value == "":
        raise _Invalid(Reason.MISSING_TYPE, "event has no 'type'")
    if not isinstance(value, str):
        raise _Invalid(Reason.WRONG_TYPE, f"'type' must be a string, not a {_json_kind(value)}")
    try:
        return EventType(value)
    except ValueError:
        known = ", ".join(t.value for t in EventType)
        raise _Invalid(
            Reason.UNKNOWN_TYPE, f"'type' {value[:40]!r} is not one of {known}"
        ) from None


def _ids(obj: JSONObject, event_type: EventType) -> _Ids:
    """Read the identity fields and check the ones the call type requires."""
    ids = _Ids(*(_optional_id(obj, field) for field in _ID_FIELDS))
    if event_type is EventType.ALIAS:
        if ids.previous_id is None or ids.user_id is None:
            raise _Invalid(Reason.MISSING_FIELD, "alias requires 'previousId' and 'userId'")
    elif ids.user_id is None and ids.anonymous_id is None:
        raise _Invalid(Reason.MISSING_FIELD, f"{event_type} requires 'userId' or 'anonymousId'")
    if event_type is EventType.GROUP and ids.group_id is None:
        raise _Invalid(Reason.MISSING_FIELD, "group requires 'groupId'")
    return ids


def _optional_id(obj: JSONObject, field: str) -> str | None:
    """An id as a string: Segment SDKs may send numbers; ``""`` and ``null`` mean absent."""
    value = obj.get(field)
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise _Invalid(
        Reason.WRONG_TYPE, f"'{field}' must be a string or an integer, not a {_json_kind(value)}"
    )


def _optional_text(obj: JSONObject, field: str) -> str | None:
    """A string field that may be absent or ``null``."""
    value = obj.get(field)
    if value is None or isinstance(value, str):
        return value
    raise _Invalid(Reason.WRONG_TYPE, f"'{field}' must be a string, not a {_json_kind(value)}")


def _optional_object(obj: JSONObject, field: str) -> JSONObject | None:
    """An object field that may be absent or ``null``."""
    value = obj.get(field)
    if value is None or isinstance(value, dict):
        return value
    raise _Invalid(Reason.WRONG_TYPE, f"'{field}' must be an object, not a {_json_kind(value)}")


def _message_id(obj: JSONObject) -> str | None:
    """The client's messageId (the dedupe key): a non-empty string, or absent."""
    value = obj.get("messageId")
    if value is None:
        return None
    if isinstance(value, str) and value:
        return value
    raise _Invalid(Reason.WRONG_TYPE, "'messageId' must be a non-empty string")


def _traits(
    event_type: EventType, traits: JSONObject | None, context: JSONObject | None
) -> JSONObject:
    """Top-level ``traits``; for identify, Segment libraries may put them in ``context.traits``.

    Only identify falls back to ``context.traits``: on other calls those are the user's traits
    riding along, and treating them as the call's own would let a track rewrite a profile.
    """
    if traits is not None:
        return traits
    if event_type is EventType.IDENTIFY and context is not None:
        return _optional_object(context, "traits") or {}
    return {}


# --- time ---------------------------------------------------------------------------------------


def _times(obj: JSONObject, received_at_ms: int, batch_sent_at: str | None) -> _Times:
    """Event time with Segment's clock-skew fix, and the receive time.

    The fix: the client's clock is off by ``sentAt - receivedAt``, so the true event time is
    ``receivedAt - (sentAt - timestamp)``. A record that already carries ``receivedAt`` was
    normalised by an ingestion edge (our HTTP endpoint, which drops client-sent ones, or Segment
    itself for replayed exports): its ``timestamp`` is already the corrected event time and is
    taken as it is, which is what makes validating a normalised body again a no-op.
    """
    stamps = {field: _optional_time(obj, field) for field in _TIME_FIELDS}
    own_received = stamps["receivedAt"]
    received = received_at_ms if own_received is None else own_received
    sent = stamps["sentAt"]
    from_batch = None
    if sent is None and batch_sent_at is not None:
        sent, from_batch = _parse_time("sentAt", batch_sent_at), batch_sent_at
    client_field = "timestamp" if stamps["timestamp"] is not None else "originalTimestamp"
    client = stamps[client_field]
    if client is None:
        return _Times(received, received, None, from_batch)
    already_corrected = own_received is not None and client_field == "timestamp"
    if sent is None or already_corrected:
        return _Times(client, received, None, from_batch)
    event_time_ms = received - (sent - client)
    if not in_supported_range(event_time_ms):
        raise _Invalid(
            Reason.BAD_TIMESTAMP,
            f"'{client_field}' corrected by 'sentAt' falls outside years 1970..2200",
        )
    return _Times(event_time_ms, received, client_field, from_batch)


def _optional_time(obj: JSONObject, field: str) -> int | None:
    """A timestamp field that may be absent or ``null``, as epoch milliseconds."""
    value = obj.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _Invalid(
            Reason.BAD_TIMESTAMP, f"'{field}' must be an ISO-8601 string, not a {_json_kind(value)}"
        )
    return _parse_time(field, value)


def _parse_time(field: str, text: str) -> int:
    """Parse one timestamp and check it lies in years 1970..2200."""
    try:
        ms = parse_iso8601_ms(text)
    except (ValueError, OverflowError):
        raise _Invalid(Reason.BAD_TIMESTAMP, f"'{field}' is not an ISO-8601 date-time") from None
    if not in_supported_range(ms):
        raise _Invalid(Reason.BAD_TIMESTAMP, f"'{field}' is outside years 1970..2200")
    return ms


# --- the normalised body ------------------------------------------------------------------------


def _normalised_body(obj: JSONObject, ids: _Ids, message_id: str, times: _Times) -> JSONObject:
    """The object internal topics carry: the original plus what streamapp filled in.

    Ids become strings; ``messageId``, ``receivedAt`` and the corrected ``timestamp`` are set;
    ``originalTimestamp`` keeps the client's value when it was corrected; a batch-level
    ``sentAt`` is copied in, as Segment does, so the body can be validated again to the same event.
    """
    body = dict(obj)
    for field, value in zip(_ID_FIELDS, ids, strict=True):
        if value is not None:
            body[field] = value
    body["messageId"] = message_id
    body["receivedAt"] = format_iso8601_ms(times.received_at_ms)
    if times.client_field is not None:
        body["originalTimestamp"] = obj[times.client_field]
    if times.batch_sent_at is not None:
        body["sentAt"] = times.batch_sent_at
    body["timestamp"] = format_iso8601_ms(times.event_time_ms)
    return body
