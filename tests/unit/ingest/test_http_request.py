"""Parsing Segment HTTP Tracking API requests: gzip, write keys, limits, shapes."""

from __future__ import annotations

import base64
import gzip
import zlib
from typing import Any

import orjson
import pytest

from streamapp.events import Event, EventType
from streamapp.ingest.http_request import (
    HttpRejection,
    ParsedRequest,
    parse_request,
    write_key_from,
)
from streamapp.ingest.timestamps import parse_iso8601_ms
from streamapp.ingest.validate import validate_object

MAX_EVENT = 32 * 1024
MAX_BATCH = 500 * 1024


def parse(
    path_type: str, body: bytes, *, content_encoding: str | None = None
) -> ParsedRequest | HttpRejection:
    return parse_request(
        path_type,
        body,
        content_encoding=content_encoding,
        max_event_bytes=MAX_EVENT,
        max_batch_bytes=MAX_BATCH,
    )


def ok(result: ParsedRequest | HttpRejection) -> ParsedRequest:
    assert isinstance(result, ParsedRequest), result
    return result


def refused(result: ParsedRequest | HttpRejection, status: int = 400) -> str:
    assert isinstance(result, HttpRejection), result
    assert result.status == status
    return result.reason


def padded_event(size: int) -> dict[str, Any]:
    """A track event whose orjson form is exactly ``size`` bytes."""
    event: dict[str, Any] = {"type": "track", "event": "x", "userId": "u", "pad": ""}
    event["pad"] = "p" * (size - len(orjson.dumps(event)))
    assert len(orjson.dumps(event)) == size
    return event


# --- write keys ---------------------------------------------------------------------------------


def basic(credentials: str) -> str:
    return "Basic " + base64.b64encode(credentials.encode()).decode()


@pytest.mark.parametrize(
    ("authorization", "body_key", "expected"),
    [
        (basic("abc123:"), None, "abc123"),  # Segment's documented form
        ("Basic YWJjMTIzOg==", None, "abc123"),
        (basic("abc123"), None, "abc123"),  # older clients: no colon
        (basic("abc123:ignored-password"), None, "abc123"),
        ("basic " + base64.b64encode(b"abc123:").decode(), None, "abc123"),
        ("Basic YWJjMTIzOg", None, "abc123"),  # padding left off
        (basic("abc123:"), "body-key", "abc123"),  # the header wins
        (None, "body-key", "body-key"),
        ("Bearer some-token", "body-key", "body-key"),  # OAuth: key travels in the body
        ("Basic !!!not-base64!!!", "body-key", "body-key"),
        ("Basic " + base64.b64encode(b"\xff\xfe:").decode(), "body-key", "body-key"),
        (basic(":password-only"), "body-key", "body-key"),
        ("Basic", "body-key", "body-key"),
        (None, None, None),
        (None, "", None),
        (None, 42, None),
        ("", None, None),
    ],
)
def test_write_key_from(authorization: str | None, body_key: Any, expected: str | None) -> None:
    assert write_key_from(authorization, body_key) == expected


# --- single calls -------------------------------------------------------------------------------


def test_single_call_body_is_the_event_and_path_sets_a_missing_type() -> None:
    parsed = ok(parse("identify", b'{"userId":"u1","traits":{"plan":"pro"}}'))
    assert parsed.events == ({"type": "identify", "userId": "u1", "traits": {"plan": "pro"}},)
    assert (parsed.write_key_in_body, parsed.sent_at) == (None, None)


def test_single_call_keeps_a_type_the_client_sent() -> None:
    assert ok(parse("track", b'{"type":"page","userId":"u"}')).events[0]["type"] == "page"


def test_single_call_write_key_is_read_and_removed_from_the_event() -> None:
    parsed = ok(parse("track", b'{"event":"x","userId":"u","writeKey":"k1"}'))
    assert parsed.write_key_in_body == "k1"
    assert "writeKey" not in parsed.events[0]


def test_a_client_cannot_set_received_at() -> None:
    body = b'{"event":"x","userId":"u","receivedAt":"2000-01-01T00:00:00Z"}'
    assert "receivedAt" not in ok(parse("track", body)).events[0]


@pytest.mark.parametrize("path_type", ["track", "identify", "alias", "page", "screen", "group"])
def test_every_single_call_endpoint(path_type: str) -> None:
    assert ok(parse(path_type, b"{}")).events == ({"type": path_type},)


def test_single_call_limit_is_the_event_limit() -> None:
    assert ok(parse("track", orjson.dumps(padded_event(MAX_EVENT))))
    reason = refused(parse("track", orjson.dumps(padded_event(MAX_EVENT + 1))))
    assert reason == "event larger than 32 KB"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "request body is empty"),
        (b"  \n ", "request body is empty"),
        (b"[]", "body must be a JSON object"),
        (b'"track"', "body must be a JSON object"),
        (b"null", "body must be a JSON object"),
        (b"{", "body is not valid JSON: unexpected end of data"),
        (b'{"a":1}{"b":2}', "body is not valid JSON: unexpected content after document"),
        (b"\xff", "body is not valid JSON: str is not valid UTF-8: surrogates not allowed"),
    ],
)
def test_bad_single_call_bodies(body: bytes, reason: str) -> None:
    assert refused(parse("track", body)) == reason


def test_unknown_endpoint_is_404() -> None:
    assert refused(parse("purchase", b"{}"), 404) == "unknown endpoint /v1/purchase"


# --- batch --------------------------------------------------------------------------------------


def test_batch() -> None:
    body = orjson.dumps(
        {
            "batch": [
                {"type": "track", "event": "a", "userId": "u", "writeKey": "inner"},
                {"type": "identify", "anonymousId": "x", "receivedAt": "2000-01-01T00:00:00Z"},
            ],
            "sentAt": "2024-01-01T12:05:00Z",
            "writeKey": "k1",
        }
    )
    parsed = ok(parse("batch", body))
    assert parsed.events == (
        {"type": "track", "event": "a", "userId": "u"},
        {"type": "identify", "anonymousId": "x"},
    )
    assert (parsed.write_key_in_body, parsed.sent_at) == ("k1", "2024-01-01T12:05:00Z")


def test_batch_events_keep_their_own_type_or_none() -> None:
    # Per-event checks (a missing type among them) are the view's validate_object call.
    parsed = ok(parse("batch", b'{"batch":[{"userId":"u"}]}'))
    assert parsed.events == ({"userId": "u"},)


def test_an_empty_batch_is_accepted() -> None:
    assert ok(parse("batch", b'{"batch":[]}')).events == ()


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{}", "'batch' must be a list of event objects"),
        (b'{"batch":{}}', "'batch' must be a list of event objects"),
        (b'{"batch":null}', "'batch' must be a list of event objects"),
        (b'{"batch":[{},[]]}', "batch[1] is not a JSON object"),
        (b'{"batch":["x"]}', "batch[0] is not a JSON object"),
        (b'{"batch":[],"sentAt":5}', "'sentAt' must be an ISO-8601 string"),
        (b"[]", "body must be a JSON object"),
    ],
)
def test_bad_batch_bodies(body: bytes, reason: str) -> None:
    assert refused(parse("batch", body)) == reason


def test_batch_limit_is_the_batch_limit() -> None:
    event = padded_event(30_000)
    events = [event] * (MAX_BATCH // 30_000)
    body = orjson.dumps({"batch": events, "pad": ""})
    fits = orjson.dumps({"batch": events, "pad": "p" * (MAX_BATCH - len(body))})
    assert len(fits) == MAX_BATCH
    assert len(ok(parse("batch", fits)).events) == len(events)
    too_big = orjson.dumps({"batch": events, "pad": "p" * (MAX_BATCH - len(body) + 1)})
    assert refused(parse("batch", too_big)) == "batch larger than 500 KB"


def test_each_batch_event_is_held_to_the_event_limit_by_index() -> None:
    small, large = padded_event(100), padded_event(MAX_EVENT + 1)
    assert ok(parse("batch", orjson.dumps({"batch": [small, padded_event(MAX_EVENT)]})))
    reason = refused(parse("batch", orjson.dumps({"batch": [small, small, large]})))
    assert reason == "batch[2] larger than 32 KB"


def test_event_size_is_measured_as_orjson_writes_it() -> None:
    # Whitespace the client sent does not count against the event limit.
    event = orjson.dumps(padded_event(MAX_EVENT))
    body = b'{"batch": [ ' + event.replace(b",", b" ,  ") + b" ]}"
    assert ok(parse("batch", body))


def test_limits_that_are_not_whole_kilobytes_are_named_in_bytes() -> None:
    result = parse_request(
        "track", b'{"a":"xxxx"}', content_encoding=None, max_event_bytes=10, max_batch_bytes=20
    )
    assert refused(result) == "event larger than 10 bytes"


# --- gzip ---------------------------------------------------------------------------------------


def test_gzip_body_is_inflated() -> None:
    body = gzip.compress(b'{"batch":[{"type":"track","event":"x","userId":"u"}]}')
    parsed = ok(parse("batch", body, content_encoding="gzip"))
    assert parsed.events[0]["event"] == "x"


@pytest.mark.parametrize("encoding", ["GZIP", " gzip ", "Gzip"])
def test_content_encoding_is_case_insensitive(encoding: str) -> None:
    assert ok(parse("track", gzip.compress(b"{}"), content_encoding=encoding))


@pytest.mark.parametrize("encoding", [None, "identity", "IDENTITY"])
def test_identity_encoding_is_the_raw_body(encoding: str | None) -> None:
    assert ok(parse("track", b"{}", content_encoding=encoding))


def test_multi_member_gzip_is_one_body() -> None:
    body = gzip.compress(b'{"batch":[{"userId":') + gzip.compress(b'"u"}]}')
    assert ok(parse("batch", body, content_encoding="gzip")).events == ({"userId": "u"},)


def test_gzip_bomb_is_refused_without_inflating_it() -> None:
    bomb = gzip.compress(b"\0" * (50 * 1024 * 1024), compresslevel=9)
    assert len(bomb) < 100_000
    assert refused(parse("batch", bomb, content_encoding="gzip")) == "batch larger than 500 KB"
    assert refused(parse("track", bomb, content_encoding="gzip")) == "event larger than 32 KB"


def test_gzip_inflating_to_exactly_the_limit_is_accepted() -> None:
    body = orjson.dumps(padded_event(MAX_EVENT))
    assert ok(parse("track", gzip.compress(body), content_encoding="gzip"))
    assert (
        refused(parse("track", gzip.compress(body + b" "), content_encoding="gzip"))
        == "event larger than 32 KB"
    )


@pytest.mark.parametrize(
    "body",
    [
        b"{}",  # not compressed at all
        gzip.compress(b'{"userId":"u"}')[:-6],  # truncated
        gzip.compress(b"{}") + b"trailing garbage",
        zlib.compress(b"{}"),  # zlib, not gzip
    ],
)
def test_broken_gzip_is_400(body: bytes) -> None:
    assert refused(parse("track", body, content_encoding="gzip")) == "body is not valid gzip"


def test_empty_gzip_body_is_an_empty_body() -> None:
    assert refused(parse("track", b"", content_encoding="gzip")) == "request body is empty"
    empty = gzip.compress(b"")
    assert refused(parse("track", empty, content_encoding="gzip")) == "request body is empty"


def test_other_encodings_are_415() -> None:
    assert refused(parse("track", b"{}", content_encoding="br"), 415) == (
        "unsupported Content-Encoding 'br'"
    )


# --- a real Segment SDK -------------------------------------------------------------------------


def test_what_analytics_python_sends_parses_and_validates(monkeypatch: pytest.MonkeyPatch) -> None:
    from segment.analytics import request as segment_request
    from segment.analytics.client import Client

    sent: list[dict[str, Any]] = []

    class Accepted:
        status_code = 200

    def capture(url: str, **kwargs: Any) -> Accepted:
        sent.append({"url": url, **kwargs})
        return Accepted()

    monkeypatch.setattr(segment_request._session, "post", capture)
    client = Client("sdk-write-key", host="http://streamapp.test", sync_mode=True, gzip=True)
    client.identify("u1", {"plan": "pro"}, anonymous_id="a1")
    client.track("u1", "Signed Up", {"n": 1})
    client.alias("a1", "u1")
    client.group("u1", "acme", {"seats": 3})
    client.page("u1", "Docs", "Home")
    client.screen("u1", "App", "Settings")

    assert [call["url"] for call in sent] == ["http://streamapp.test/v1/batch"] * 6
    types = []
    for call in sent:
        headers = call["headers"]
        parsed = ok(parse("batch", call["data"], content_encoding=headers["Content-Encoding"]))
        key = write_key_from(headers["Authorization"], parsed.write_key_in_body)
        assert key == "sdk-write-key"
        assert parsed.sent_at is not None
        for obj in parsed.events:
            result = validate_object(
                obj,
                received_at_ms=parse_iso8601_ms(parsed.sent_at),
                new_message_id=lambda: "unused",
                sent_at=parsed.sent_at,
            )
            assert isinstance(result, Event), result
            assert result.message_id != "unused"
            types.append(result.type)
    assert types == [
        EventType.IDENTIFY,
        EventType.TRACK,
        EventType.ALIAS,
        EventType.GROUP,
        EventType.PAGE,
        EventType.SCREEN,
    ]
