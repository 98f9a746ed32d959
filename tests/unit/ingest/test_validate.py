"""The validate stage's pure core: decode_record and validate_object."""

from __future__ import annotations

import itertools
import json

import orjson
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from streamapp.events import JSON, Event, EventType, JSONObject, Reason, Rejection
from streamapp.ingest.timestamps import (
    EARLIEST_MS,
    LATEST_MS,
    format_iso8601_ms,
    parse_iso8601_ms,
)
from streamapp.ingest.validate import MAX_DEPTH, STAGE, decode_record, validate_object

NOW_MS = parse_iso8601_ms("2024-01-01T12:00:00Z")
MAX_EVENT_BYTES = 32 * 1024


def fixed_id() -> str:
    return "generated-id"


def decode(
    raw: bytes, *, received_at_ms: int = NOW_MS, max_event_bytes: int = MAX_EVENT_BYTES
) -> Event | Rejection:
    return decode_record(
        raw,
        received_at_ms=received_at_ms,
        max_event_bytes=max_event_bytes,
        new_message_id=fixed_id,
    )


def validate(obj: JSONObject, *, sent_at: str | None = None) -> Event | Rejection:
    return validate_object(obj, received_at_ms=NOW_MS, new_message_id=fixed_id, sent_at=sent_at)


def accepted(result: Event | Rejection) -> Event:
    assert isinstance(result, Event), result
    return result


def rejected(result: Event | Rejection) -> Rejection:
    assert isinstance(result, Rejection), result
    assert result.stage == STAGE
    return result


def track(**fields: JSON) -> bytes:
    return orjson.dumps({"type": "track", "event": "Signed Up", "userId": "u1", **fields})


def nested(depth: int) -> bytes:
    """An object whose containers nest ``depth`` levels (the top-level object is level 1)."""
    return b'{"type":"track","x":' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"


# --- bad input: every kind with its exact reason -------------------------------------------------

BAD_RECORDS: list[tuple[str, bytes, Reason]] = [
    ("empty", b"", Reason.EMPTY),
    ("whitespace only", b" \n\t ", Reason.EMPTY),
    ("invalid UTF-8 byte", b"\xff\xfe{}", Reason.INVALID_UTF8),
    ("invalid UTF-8 inside a string", b'{"type":"track","event":"\xc3("}', Reason.INVALID_UTF8),
    ("UTF-8-encoded surrogate", b'{"type":"\xed\xa0\x80"}', Reason.INVALID_UTF8),
    ("truncated JSON", b'{"type":"track"', Reason.NOT_JSON),
    ("trailing garbage", b'{"type":"track"} x', Reason.NOT_JSON),
    ("NaN literal", b'{"a":NaN}', Reason.NOT_JSON),
    ("single quotes", b"{'type':'track'}", Reason.NOT_JSON),
    ("lone surrogate escape", b'{"event":"\\ud800"}', Reason.NOT_JSON),
    ("byte order mark", b'\xef\xbb\xbf{"type":"track"}', Reason.NOT_JSON),
    ("array", b"[1,2]", Reason.NOT_AN_OBJECT),
    ("string", b'"track"', Reason.NOT_AN_OBJECT),
    ("null", b"null", Reason.NOT_AN_OBJECT),
    ("number", b"42", Reason.NOT_AN_OBJECT),
    (
        "integer above u64",
        track(properties=None)[:-1] + b',"n":18446744073709551616}',
        Reason.NUMBER_OUT_OF_RANGE,
    ),
    ("integer below i64", b'{"type":"track","n":-9223372036854775809}', Reason.NUMBER_OUT_OF_RANGE),
    (
        "40-digit integer id",
        b'{"type":"track","userId":1' + b"0" * 39 + b"}",
        Reason.NUMBER_OUT_OF_RANGE,
    ),
    ("infinite float", b'{"type":"track","n":1e400}', Reason.NUMBER_OUT_OF_RANGE),
    ("400-digit integer", b'{"n":1' + b"0" * 400 + b"}", Reason.NUMBER_OUT_OF_RANGE),
    ("nesting one level too deep", nested(MAX_DEPTH + 1), Reason.TOO_DEEP),
    ("nesting orjson refuses", nested(1100), Reason.TOO_DEEP),
    ("no type", b'{"event":"x","userId":"u"}', Reason.MISSING_TYPE),
    ("null type", b'{"type":null,"userId":"u"}', Reason.MISSING_TYPE),
    ("empty type", b'{"type":"","userId":"u"}', Reason.MISSING_TYPE),
    ("numeric type", b'{"type":1,"userId":"u"}', Reason.WRONG_TYPE),
    ("unknown type", b'{"type":"purchase","userId":"u"}', Reason.UNKNOWN_TYPE),
    ("type in capitals", b'{"type":"Track","event":"x","userId":"u"}', Reason.UNKNOWN_TYPE),
    ("track without event", b'{"type":"track","userId":"u"}', Reason.MISSING_FIELD),
    ("track with empty event", track(event=""), Reason.MISSING_FIELD),
    ("track with numeric event", track(event=5), Reason.WRONG_TYPE),
    ("track without any id", b'{"type":"track","event":"x"}', Reason.MISSING_FIELD),
    ("track with empty ids", track(userId="", anonymousId=""), Reason.MISSING_FIELD),
    ("track with null ids", track(userId=None, anonymousId=None), Reason.MISSING_FIELD),
    ("userId is a list", track(userId=["u"]), Reason.WRONG_TYPE),
    ("userId is a boolean", track(userId=True), Reason.WRONG_TYPE),
    ("userId is a float", track(userId=1.5), Reason.WRONG_TYPE),
    ("anonymousId is an object", track(anonymousId={"a": 1}), Reason.WRONG_TYPE),
    ("identify without ids", b'{"type":"identify","traits":{}}', Reason.MISSING_FIELD),
    ("page without ids", b'{"type":"page","name":"Home"}', Reason.MISSING_FIELD),
    ("screen without ids", b'{"type":"screen"}', Reason.MISSING_FIELD),
    ("alias without previousId", b'{"type":"alias","userId":"u"}', Reason.MISSING_FIELD),
    (
        "alias with only anonymousId",
        b'{"type":"alias","previousId":"a","anonymousId":"b"}',
        Reason.MISSING_FIELD,
    ),
    (
        "alias with bad previousId",
        b'{"type":"alias","previousId":[],"userId":"u"}',
        Reason.WRONG_TYPE,
    ),
    ("group without groupId", b'{"type":"group","userId":"u"}', Reason.MISSING_FIELD),
    ("group without user", b'{"type":"group","groupId":"g"}', Reason.MISSING_FIELD),
    ("properties is a list", track(properties=[1]), Reason.WRONG_TYPE),
    ("traits is a string", track(traits="vip"), Reason.WRONG_TYPE),
    ("context is a number", track(context=1), Reason.WRONG_TYPE),
    ("integrations is a boolean", track(integrations=True), Reason.WRONG_TYPE),
    (
        "identify context.traits not an object",
        b'{"type":"identify","userId":"u","context":{"traits":[1]}}',
        Reason.WRONG_TYPE,
    ),
    ("page name is a number", b'{"type":"page","userId":"u","name":3}', Reason.WRONG_TYPE),
    ("empty messageId", track(messageId=""), Reason.WRONG_TYPE),
    ("numeric messageId", track(messageId=42), Reason.WRONG_TYPE),
    ("timestamp is prose", track(timestamp="yesterday"), Reason.BAD_TIMESTAMP),
    ("timestamp is epoch seconds", track(timestamp=1_700_000_000), Reason.BAD_TIMESTAMP),
    ("timestamp is a date only", track(timestamp="2024-01-01"), Reason.BAD_TIMESTAMP),
    ("timestamp before 1970", track(timestamp="1969-12-31T23:59:59Z"), Reason.BAD_TIMESTAMP),
    ("sentAt after 2200", track(sentAt="2201-01-01T00:00:00Z"), Reason.BAD_TIMESTAMP),
    (
        "originalTimestamp invalid day",
        track(originalTimestamp="2023-02-29T00:00:00Z"),
        Reason.BAD_TIMESTAMP,
    ),
    ("receivedAt is an object", track(receivedAt={}), Reason.BAD_TIMESTAMP),
    (
        "skew correction leaves the range",
        track(timestamp="1970-01-01T00:00:00Z", sentAt="2200-01-01T00:00:00Z"),
        Reason.BAD_TIMESTAMP,
    ),
]


@pytest.mark.parametrize(
    ("raw", "reason"),
    [(raw, reason) for _, raw, reason in BAD_RECORDS],
    ids=[name for name, _, _ in BAD_RECORDS],
)
def test_bad_records_are_rejected_with_their_reason(raw: bytes, reason: Reason) -> None:
    rejection = rejected(decode(raw))
    assert rejection.reason is reason
    assert rejection.detail
    assert not rejection.detail.startswith("unexpected")


def test_too_large_is_checked_on_the_raw_bytes() -> None:
    raw = track()
    assert isinstance(decode(raw, max_event_bytes=len(raw)), Event)
    assert rejected(decode(raw, max_event_bytes=len(raw) - 1)).reason is Reason.TOO_LARGE


def test_nesting_up_to_max_depth_is_accepted() -> None:
    accepted(decode(nested(MAX_DEPTH)[:-1] + b',"event":"x","userId":"u"}'))


def test_integers_at_the_64_bit_edges_are_kept_exactly() -> None:
    raw = track(properties={"max": 18446744073709551615, "min": -9223372036854775808})
    assert accepted(decode(raw)).properties == {
        "max": 18446744073709551615,
        "min": -9223372036854775808,
    }


def test_long_digit_runs_inside_strings_are_fine() -> None:
    event = accepted(decode(track(userId="1" * 40)))
    assert event.user_id == "1" * 40


@pytest.mark.parametrize(
    ("raw", "detail"),
    [
        (b'{"type":"track","userId":"u"}', "track requires a non-empty string 'event'"),
        (b'{"type":"alias","userId":"u"}', "alias requires 'previousId' and 'userId'"),
        (b'{"type":"group","userId":"u"}', "group requires 'groupId'"),
        (b'{"type":"page"}', "page requires 'userId' or 'anonymousId'"),
        (track(userId=1.5), "'userId' must be a string or an integer, not a number"),
        (track(properties=[]), "'properties' must be an object, not a array"),
        (track(timestamp="soon"), "'timestamp' is not an ISO-8601 date-time"),
    ],
)
def test_details_name_the_field(raw: bytes, detail: str) -> None:
    assert rejected(decode(raw)).detail == detail


@pytest.mark.parametrize(
    ("obj", "reason"),
    [
        ({"type": "track", "event": "x", "userId": "u", "n": 2**64}, Reason.NUMBER_OUT_OF_RANGE),
        ({"type": "track", "event": "x", "userId": -(2**63) - 1}, Reason.NUMBER_OUT_OF_RANGE),
        (
            {"type": "track", "event": "x", "userId": "u", "n": float("nan")},
            Reason.NUMBER_OUT_OF_RANGE,
        ),
        (
            {"type": "track", "event": "x", "userId": "u", "n": float("-inf")},
            Reason.NUMBER_OUT_OF_RANGE,
        ),
        ({"type": "track", "event": "x", "userId": "u", "p": {1: "int key"}}, Reason.WRONG_TYPE),
        ({"type": "track", "event": "x", "userId": "u", "p": object()}, Reason.WRONG_TYPE),
        ({"type": "track", "event": "x", "userId": "u", "p": ("tuple",)}, Reason.WRONG_TYPE),
        ({"type": "track", "event": "x", "userId": "u", "p": b"bytes"}, Reason.WRONG_TYPE),
    ],
)
def test_validate_object_refuses_what_orjson_could_not_write_back(
    obj: dict[str, object], reason: Reason
) -> None:
    assert rejected(validate(obj)).reason is reason  # type: ignore[arg-type]


def test_validate_object_refuses_deep_and_cyclic_python_objects() -> None:
    deep: JSONObject = {"type": "track"}
    cursor = deep
    for _ in range(5000):
        child: JSONObject = {}
        cursor["x"] = child
        cursor = child
    assert rejected(validate(deep)).reason is Reason.TOO_DEEP
    cyclic: dict[str, object] = {"type": "track"}
    cyclic["a"] = cyclic
    cyclic["b"] = cyclic
    assert rejected(validate(cyclic)).reason is Reason.TOO_DEEP  # type: ignore[arg-type]


def test_validate_object_refuses_a_non_object() -> None:
    assert rejected(validate([1, 2])).reason is Reason.NOT_AN_OBJECT  # type: ignore[arg-type]


def test_a_failing_message_id_generator_becomes_a_rejection() -> None:
    def broken() -> str:
        raise RuntimeError("entropy ran out")

    result = validate_object(
        {"type": "track", "event": "x", "userId": "u"}, received_at_ms=NOW_MS, new_message_id=broken
    )
    assert rejected(result).detail == "unexpected RuntimeError while validating"


# --- good events of every type ------------------------------------------------------------------


def test_track() -> None:
    event = accepted(decode(track(anonymousId="a1", properties={"plan": "pro"}, messageId="m-1")))
    assert event.type is EventType.TRACK
    assert (event.event, event.user_id, event.anonymous_id) == ("Signed Up", "u1", "a1")
    assert event.message_id == "m-1"
    assert event.properties == {"plan": "pro"}
    assert event.traits == {}
    assert event.identity_key == "a1"
    assert event.event_name == "Signed Up"


def test_identify_takes_top_level_traits_first() -> None:
    raw = orjson.dumps(
        {
            "type": "identify",
            "userId": "u1",
            "traits": {"email": "top@example.org"},
            "context": {"traits": {"email": "context@example.org"}},
        }
    )
    assert accepted(decode(raw)).traits == {"email": "top@example.org"}


def test_identify_falls_back_to_context_traits() -> None:
    raw = orjson.dumps(
        {"type": "identify", "anonymousId": "a1", "context": {"traits": {"plan": "free"}}}
    )
    event = accepted(decode(raw))
    assert event.type is EventType.IDENTIFY
    assert event.traits == {"plan": "free"}
    assert event.user_id is None


def test_track_does_not_take_context_traits_as_its_own() -> None:
    assert accepted(decode(track(context={"traits": {"plan": "free"}}))).traits == {}


def test_alias() -> None:
    raw = orjson.dumps({"type": "alias", "previousId": "anon-7", "userId": "u1"})
    event = accepted(decode(raw))
    assert (event.type, event.previous_id, event.user_id) == (EventType.ALIAS, "anon-7", "u1")
    assert event.identity_key == "anon-7"


@pytest.mark.parametrize("call", ["page", "screen"])
def test_page_and_screen(call: str) -> None:
    raw = orjson.dumps(
        {"type": call, "anonymousId": "a1", "name": "Home", "properties": {"path": "/"}}
    )
    event = accepted(decode(raw))
    assert event.type is EventType(call)
    assert (event.name, event.properties) == ("Home", {"path": "/"})
    assert event.event_name == call


def test_page_name_is_optional() -> None:
    assert accepted(decode(b'{"type":"page","userId":"u"}')).name is None


def test_group() -> None:
    raw = orjson.dumps(
        {"type": "group", "userId": "u1", "groupId": "acme", "traits": {"seats": 20}}
    )
    event = accepted(decode(raw))
    assert (event.type, event.group_id, event.traits) == (EventType.GROUP, "acme", {"seats": 20})


def test_integer_ids_become_strings_in_the_event_and_the_body() -> None:
    raw = orjson.dumps({"type": "group", "userId": 42, "groupId": -7, "anonymousId": 0})
    event = accepted(decode(raw))
    assert (event.user_id, event.group_id, event.anonymous_id) == ("42", "-7", "0")
    assert (event.body["userId"], event.body["groupId"], event.body["anonymousId"]) == (
        "42",
        "-7",
        "0",
    )


def test_nulls_count_as_absent() -> None:
    raw = track(
        anonymousId=None,
        properties=None,
        context=None,
        name=None,
        messageId=None,
        timestamp=None,
        sentAt=None,
    )
    event = accepted(decode(raw))
    assert event.anonymous_id is None
    assert event.properties == {}
    assert event.message_id == "generated-id"
    assert event.event_time_ms == NOW_MS


def test_body_is_the_original_plus_what_streamapp_filled_in() -> None:
    event = accepted(decode(track(properties={"n": 1}, context={"ip": "1.2.3.4"})))
    assert event.body == {
        "type": "track",
        "event": "Signed Up",
        "userId": "u1",
        "properties": {"n": 1},
        "context": {"ip": "1.2.3.4"},
        "messageId": "generated-id",
        "receivedAt": "2024-01-01T12:00:00.000Z",
        "timestamp": "2024-01-01T12:00:00.000Z",
    }


def test_message_id_is_generated_only_when_absent() -> None:
    ids = itertools.count(1)

    def sequence() -> str:
        return f"id-{next(ids)}"

    def run(raw: bytes) -> str:
        result = decode_record(
            raw, received_at_ms=NOW_MS, max_event_bytes=MAX_EVENT_BYTES, new_message_id=sequence
        )
        return accepted(result).message_id

    assert run(track()) == "id-1"
    assert run(track(messageId="mine")) == "mine"
    assert run(track()) == "id-2"


# --- time: receivedAt and the clock-skew fix ----------------------------------------------------


def test_skew_is_corrected_with_concrete_numbers() -> None:
    # The client's clock runs 5 minutes fast: it sent at 12:05 (its clock) what we received at
    # 12:00, and says the event happened a minute before sending, so it happened at 11:59.
    raw = track(timestamp="2024-01-01T12:04:00Z", sentAt="2024-01-01T12:05:00Z")
    event = accepted(decode(raw))
    assert event.event_time_ms == parse_iso8601_ms("2024-01-01T11:59:00Z")
    # receivedAt - (sentAt - timestamp) = 1704110400000 - (1704110700000 - 1704110640000)
    assert event.event_time_ms == 1_704_110_400_000 - (1_704_110_700_000 - 1_704_110_640_000)
    assert event.event_time_ms == 1_704_110_340_000
    assert event.received_at_ms == NOW_MS
    assert event.body["timestamp"] == "2024-01-01T11:59:00.000Z"
    assert event.body["originalTimestamp"] == "2024-01-01T12:04:00Z"
    assert event.body["sentAt"] == "2024-01-01T12:05:00Z"
    assert event.body["receivedAt"] == "2024-01-01T12:00:00.000Z"


def test_skew_correction_of_a_slow_clock_with_offsets_and_fractions() -> None:
    # Client clock 2.5 s slow, in +02:00; event 250 ms before sending.
    raw = track(timestamp="2024-01-01T13:59:57.250+02:00", sentAt="2024-01-01T13:59:57.500+02:00")
    assert accepted(decode(raw)).event_time_ms == NOW_MS - 250


def test_timestamp_without_sent_at_is_taken_as_is() -> None:
    event = accepted(decode(track(timestamp="2023-06-01T08:00:00+02:00")))
    assert event.event_time_ms == parse_iso8601_ms("2023-06-01T06:00:00Z")
    assert event.body["timestamp"] == "2023-06-01T06:00:00.000Z"
    assert "originalTimestamp" not in event.body


def test_no_timestamp_means_received_at() -> None:
    event = accepted(decode(track(sentAt="2024-01-01T12:05:00Z")))
    assert event.event_time_ms == NOW_MS
    assert event.body["timestamp"] == "2024-01-01T12:00:00.000Z"


def test_original_timestamp_stands_in_for_a_missing_timestamp() -> None:
    raw = track(originalTimestamp="2024-01-01T12:04:00Z", sentAt="2024-01-01T12:05:00Z")
    event = accepted(decode(raw))
    assert event.event_time_ms == parse_iso8601_ms("2024-01-01T11:59:00Z")
    assert event.body["originalTimestamp"] == "2024-01-01T12:04:00Z"


def test_timestamp_wins_over_original_timestamp_from_a_client() -> None:
    raw = track(
        timestamp="2024-01-01T12:04:00Z",
        originalTimestamp="2024-01-01T10:00:00Z",
        sentAt="2024-01-01T12:05:00Z",
    )
    event = accepted(decode(raw))
    assert event.event_time_ms == parse_iso8601_ms("2024-01-01T11:59:00Z")
    assert event.body["originalTimestamp"] == "2024-01-01T12:04:00Z"


def test_batch_sent_at_applies_when_the_event_has_none() -> None:
    obj: JSONObject = {
        "type": "track",
        "event": "x",
        "userId": "u",
        "timestamp": "2024-01-01T12:04:00Z",
    }
    event = accepted(validate(dict(obj), sent_at="2024-01-01T12:05:00Z"))
    assert event.event_time_ms == parse_iso8601_ms("2024-01-01T11:59:00Z")
    assert event.body["sentAt"] == "2024-01-01T12:05:00Z"
    own = accepted(
        validate({**obj, "sentAt": "2024-01-01T12:04:00Z"}, sent_at="2099-01-01T00:00:00Z")
    )
    assert own.event_time_ms == parse_iso8601_ms("2024-01-01T12:00:00Z")


def test_a_bad_batch_sent_at_is_a_bad_timestamp() -> None:
    obj: JSONObject = {"type": "track", "event": "x", "userId": "u"}
    rejection = rejected(validate(obj, sent_at="later"))
    assert (rejection.reason, rejection.detail) == (
        Reason.BAD_TIMESTAMP,
        "'sentAt' is not an ISO-8601 date-time",
    )


def test_received_at_in_the_record_wins_over_the_consumer_clock() -> None:
    raw = track(receivedAt="2024-01-01T11:00:00.000Z")
    event = accepted(decode(raw, received_at_ms=NOW_MS + 60_000))
    assert event.received_at_ms == parse_iso8601_ms("2024-01-01T11:00:00Z")
    assert event.event_time_ms == event.received_at_ms
    assert event.body["receivedAt"] == "2024-01-01T11:00:00.000Z"


def test_a_segment_export_is_not_corrected_twice() -> None:
    # What Segment stores: timestamp already equals receivedAt - (sentAt - originalTimestamp).
    raw = track(
        originalTimestamp="2024-01-01T12:04:00.000Z",
        sentAt="2024-01-01T12:05:00.000Z",
        receivedAt="2024-01-01T12:00:00.000Z",
        timestamp="2024-01-01T11:59:00.000Z",
    )
    assert accepted(decode(raw)).event_time_ms == parse_iso8601_ms("2024-01-01T11:59:00Z")


def test_validating_a_normalised_body_again_gives_the_same_event() -> None:
    # The HTTP endpoint writes Event.body to ``events``; the validate agent reads it back.
    first = accepted(
        validate(
            {"type": "track", "event": "x", "userId": 7, "timestamp": "2024-01-01T12:04:00Z"},
            sent_at="2024-01-01T12:05:00Z",
        )
    )
    again = decode(orjson.dumps(dict(first.body)), received_at_ms=NOW_MS + 3_600_000)
    assert again == first


# --- properties: never raise, and the skew formula ----------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from(["track", "identify", "alias", "page", "screen", "group", ""])
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)
timestamps = st.one_of(
    st.integers(min_value=-(10**12), max_value=10**13).map(format_iso8601_ms),
    st.sampled_from(["2024-01-01T00:00:00Z", "2024-01-01", "1969-12-31T23:59:59Z", "x"]),
    json_values,
)
ids = st.one_of(st.text(max_size=6), st.integers(), json_values)
field_values: dict[str, st.SearchStrategy[JSON]] = {
    "type": st.sampled_from([*EventType, "other"]) | json_values,
    "event": st.text(max_size=6) | json_values,
    "name": st.text(max_size=6) | json_values,
    "userId": ids,
    "anonymousId": ids,
    "previousId": ids,
    "groupId": ids,
    "messageId": st.text(max_size=6) | json_values,
    "properties": st.dictionaries(st.text(max_size=4), json_values, max_size=3) | json_values,
    "traits": st.dictionaries(st.text(max_size=4), json_values, max_size=3) | json_values,
    "context": st.fixed_dictionaries({}, optional={"traits": json_values}) | json_values,
    "integrations": json_values,
    "timestamp": timestamps,
    "sentAt": timestamps,
    "originalTimestamp": timestamps,
    "receivedAt": timestamps,
}
event_like = st.fixed_dictionaries({}, optional=field_values)

in_range_times = st.integers(min_value=EARLIEST_MS, max_value=LATEST_MS - 1).map(format_iso8601_ms)
good_ids = st.text(min_size=1, max_size=6) | st.integers(min_value=-(2**63), max_value=2**64 - 1)
plausible_events = st.fixed_dictionaries(
    {
        "type": st.sampled_from(list(EventType)).map(str),
        "event": st.text(min_size=1, max_size=6),
        "userId": good_ids,
        "previousId": good_ids,
        "groupId": good_ids,
    },
    optional={
        "anonymousId": good_ids | st.none(),
        "name": st.text(max_size=6) | st.none(),
        "messageId": st.text(min_size=1, max_size=6),
        "properties": st.dictionaries(st.text(max_size=4), json_values, max_size=3),
        "traits": st.dictionaries(st.text(max_size=4), json_values, max_size=3),
        "context": st.fixed_dictionaries(
            {}, optional={"traits": st.dictionaries(st.text(max_size=4), json_values, max_size=2)}
        ),
        "timestamp": in_range_times,
        "sentAt": in_range_times,
        "originalTimestamp": in_range_times,
        "receivedAt": in_range_times,
    },
)


def to_bytes(value: object) -> bytes:
    """orjson refuses integers past 64 bits; the stdlib writes them (and NaN) for us to refuse."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value).encode()


def check_outcome(result: Event | Rejection) -> None:
    event(type(result).__name__ if isinstance(result, Event) else result.reason.value)
    if isinstance(result, Rejection):
        assert result.stage == STAGE
        assert isinstance(result.reason, Reason)
        assert not result.detail.startswith("unexpected"), result
        return
    assert isinstance(result, Event)
    assert EARLIEST_MS <= result.event_time_ms < LATEST_MS
    again = decode(orjson.dumps(dict(result.body)), received_at_ms=0)
    assert again == result


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=200),
        json_values.map(to_bytes),
        event_like.map(to_bytes),
        plausible_events.map(to_bytes),
    )
)
def test_decode_record_never_raises_for_any_bytes(raw: bytes) -> None:
    check_outcome(decode(raw, max_event_bytes=600))


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        event_like,
        plausible_events,
        st.dictionaries(st.text(max_size=8), json_values, max_size=6),
    )
)
def test_validate_object_never_raises_for_any_json_like_object(obj: JSONObject) -> None:
    check_outcome(validate(obj))


def test_every_generated_field_kind_can_also_be_valid() -> None:
    # Guards the property tests above against only ever exploring rejections.
    assert isinstance(validate({"type": "track", "event": "x", "userId": 0}), Event)


minute_ms = 60_000
year_2024 = parse_iso8601_ms("2024-01-01T00:00:00Z")


@settings(max_examples=500, deadline=None)
@given(
    received_ms=st.integers(min_value=year_2024, max_value=year_2024 + 365 * 24 * 60 * minute_ms),
    skew_ms=st.integers(min_value=-(10**10), max_value=10**10),
    lead_ms=st.integers(min_value=0, max_value=10**9),
)
def test_skew_formula_recovers_the_true_event_time(
    received_ms: int, skew_ms: int, lead_ms: int
) -> None:
    # The client's clock is off by skew_ms; the event happened lead_ms before it was sent, and
    # the network delivered instantly. The corrected time is the true one, whatever the skew.
    sent_client_ms = received_ms + skew_ms
    timestamp_client_ms = sent_client_ms - lead_ms
    obj: JSONObject = {
        "type": "track",
        "event": "x",
        "userId": "u",
        "sentAt": format_iso8601_ms(sent_client_ms),
        "timestamp": format_iso8601_ms(timestamp_client_ms),
    }
    result = validate_object(obj, received_at_ms=received_ms, new_message_id=fixed_id)
    event = accepted(result)
    assert event.event_time_ms == received_ms - lead_ms
    assert event.event_time_ms == received_ms - (sent_client_ms - timestamp_client_ms)
