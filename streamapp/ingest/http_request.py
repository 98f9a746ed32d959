"""Parse a Segment HTTP Tracking API request: body bytes in, event objects or an HTTP error out.

Sits in front of :mod:`streamapp.ingest.validate` on the HTTP path: the aiohttp view hands over the
path (``/v1/<type>``), the body and two headers; this module undoes gzip within a bound, enforces
Segment's size limits (32 KB per event, 500 KB per batch by default) and finds the events. It
never validates the events themselves: the view runs
:func:`~streamapp.ingest.validate.validate_object` on each one (passing
:attr:`ParsedRequest.sent_at`) and answers 400 with the first rejection's detail.

Pure: no aiohttp here, so every request shape is tested without a server. Nothing raises for bad
input; request-level failures are :class:`HttpRejection` values.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from dataclasses import dataclass
from typing import Final

import orjson

from streamapp.events import JSON, JSONObject
from streamapp.ingest.validate import has_out_of_range_integer

BATCH: Final = "batch"
"""The path type of ``/v1/batch``; the other path types are the Segment call types."""

PATH_TYPES: Final = frozenset({"track", "identify", "alias", "page", "screen", "group", BATCH})
"""The ``/v1/<type>`` endpoints of the Segment HTTP Tracking API."""

SERVER_SET_FIELDS: Final = ("receivedAt", "writeKey")
"""Removed from every event: Segment's servers stamp ``receivedAt`` (a client cannot claim it),
and the write key is a credential that has no business on the ``events`` topic."""

_GZIP_WBITS: Final = 16 + zlib.MAX_WBITS


@dataclass(frozen=True, slots=True)
class HttpRejection:
    """A request refused as a whole: the HTTP status to answer and a reason for the client."""

    status: int
    reason: str


@dataclass(frozen=True, slots=True)
class ParsedRequest:
    """The events of one request, not yet validated.

    Attributes:
        events: One JSON object per event, in request order; ``type`` filled in from the path on
            the single-call endpoints; ``receivedAt`` and ``writeKey`` removed.
        write_key_in_body: The body's ``writeKey`` string, for :func:`write_key_from`.
        sent_at: The batch-level ``sentAt``, for events that carry none; ``None`` on single calls
            (their ``sentAt`` is in the event).

    """

    events: tuple[JSONObject, ...]
    write_key_in_body: str | None
    sent_at: str | None


def write_key_from(authorization: str | None, body_write_key: JSON) -> str | None:
    """The write key of a request: HTTP Basic username, else the body's ``writeKey``.

    Segment clients send ``Authorization: Basic base64("<key>:")``; older ones omit the colon,
    which reads the same here. A malformed header falls back to the body, as Segment allows
    either. Returns ``None`` when neither holds a non-empty key; checking it is the caller's job.
    """
    from_header = _basic_username(authorization) if authorization else None
    if from_header:
        return from_header
    if isinstance(body_write_key, str) and body_write_key:
        return body_write_key
    return None


def parse_request(
    path_type: str,
    body: bytes,
    *,
    content_encoding: str | None,
    max_event_bytes: int,
    max_batch_bytes: int,
) -> ParsedRequest | HttpRejection:
    """Find the events of one ``POST /v1/<path_type>`` request.

    Single-call endpoints: the body, at most ``max_event_bytes``, is the event; a missing ``type``
    is set to ``path_type`` (Segment's API does the same). ``batch``: the body, at most
    ``max_batch_bytes``, holds ``batch``, a list of objects each at most ``max_event_bytes`` when
    written by orjson. Limits apply to the decompressed body; gzip is never inflated past the
    limit plus one byte, so a gzip bomb costs no memory.

    Returns 404 for an unknown path type, 415 for an encoding other than gzip, else 400 for any
    request-level failure. Never raises.
    """
    if path_type not in PATH_TYPES:
        return HttpRejection(404, f"unknown endpoint /v1/{path_type[:40]}")
    is_batch = path_type == BATCH
    limit = max_batch_bytes if is_batch else max_event_bytes
    text = _decoded_body(body, content_encoding, limit)
    if isinstance(text, HttpRejection):
        return text
    if len(text) > limit:
        return _too_large(is_batch, limit)
    parsed = _json_object(text)
    if isinstance(parsed, HttpRejection):
        return parsed
    if is_batch:
        return _batch(parsed, max_event_bytes)
    parsed.setdefault("type", path_type)
    write_key = parsed.get("writeKey")
    return ParsedRequest(
        events=(_without_server_fields(parsed),),
        write_key_in_body=write_key if isinstance(write_key, str) else None,
        sent_at=None,
    )


def _basic_username(authorization: str) -> str | None:
    """The username of an HTTP Basic ``Authorization`` header, or ``None`` if it is not one."""
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    token = token.strip()
    try:
        decoded = base64.b64decode(token + "=" * (-len(token) % 4), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):  # UnicodeDecodeError is a ValueError
        return None
    return decoded.partition(":")[0] or None


def _decoded_body(body: bytes, content_encoding: str | None, limit: int) -> bytes | HttpRejection:
    """The body with its Content-Encoding undone; gzip inflated to at most ``limit + 1`` bytes."""
    if not body:
        return HttpRejection(400, "request body is empty")
    encoding = (content_encoding or "identity").strip().lower()
    if encoding == "identity":
        return body
    if encoding != "gzip":
        return HttpRejection(415, f"unsupported Content-Encoding {encoding[:40]!r}")
    try:
        return _gunzip(body, limit + 1)
    except zlib.error:
        return HttpRejection(400, "body is not valid gzip")


def _gunzip(data: bytes, max_bytes: int) -> bytes:
    """Inflate every gzip member of ``data``, stopping once ``max_bytes`` have come out.

    Stopping early is what bounds a gzip bomb: the caller sees ``max_bytes`` bytes, more than its
    limit, and refuses the request without the rest ever being inflated.

    Raises:
        zlib.error: ``data`` is not gzip, or a member is cut short.

    """
    out = bytearray()
    rest = data
    while rest and len(out) < max_bytes:
        inflater = zlib.decompressobj(_GZIP_WBITS)
        out += inflater.decompress(rest, max_bytes - len(out))
        if len(out) >= max_bytes:
            break
        if not inflater.eof:
            raise zlib.error("gzip stream is truncated")
        rest = inflater.unused_data
    return bytes(out)


def _too_large(is_batch: bool, limit: int) -> HttpRejection:
    """The 400 for a body over its limit, naming the limit as Segment's documentation does."""
    what = "batch" if is_batch else "event"
    return HttpRejection(400, f"{what} larger than {_size(limit)}")


def _size(n_bytes: int) -> str:
    """``32768`` -> ``"32 KB"``; sizes that are not whole KB stay in bytes."""
    if n_bytes % 1024 == 0:
        return f"{n_bytes // 1024} KB"
    return f"{n_bytes} bytes"


def _json_object(text: bytes) -> JSONObject | HttpRejection:
    """Parse the body as a JSON object."""
    if not text.strip():
        return HttpRejection(400, "request body is empty")
    try:
        value: JSON = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        return HttpRejection(400, f"body is not valid JSON: {exc.msg}")
    if not isinstance(value, dict):
        return HttpRejection(400, "body must be a JSON object")
    if has_out_of_range_integer(text):
        return HttpRejection(400, "an integer is outside the 64-bit range")
    return value


def _batch(obj: JSONObject, max_event_bytes: int) -> ParsedRequest | HttpRejection:
    """The events of a ``/v1/batch`` body, each checked to be an object within the event limit."""
    items = obj.get(BATCH)
    if not isinstance(items, list):
        return HttpRejection(400, "'batch' must be a list of event objects")
    events: list[JSONObject] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            return HttpRejection(400, f"batch[{index}] is not a JSON object")
        if len(orjson.dumps(item)) > max_event_bytes:
            return HttpRejection(400, f"batch[{index}] larger than {_size(max_event_bytes)}")
        events.append(_without_server_fields(item))
    write_key, sent_at = obj.get("writeKey"), obj.get("sentAt")
    if sent_at is not None and not isinstance(sent_at, str):
        return HttpRejection(400, "'sentAt' must be an ISO-8601 string")
    return ParsedRequest(
        events=tuple(events),
        write_key_in_body=write_key if isinstance(write_key, str) else None,
        sent_at=sent_at,
    )


def _without_server_fields(event: JSONObject) -> JSONObject:
    """The event minus the fields a client must not set (:data:`SERVER_SET_FIELDS`)."""
    for field in SERVER_SET_FIELDS:
        event.pop(field, None)
    return event
