"""The identity head: what identify reads instead of the body must say what the body says."""

from __future__ import annotations

import time

import orjson
import pytest

from benchmarks.workload import generate
from streamapp.events import Event
from streamapp.ingest.normalised import event_from_head, event_from_normalised, identity_head
from streamapp.ingest.validate import decode_record

FIELDS = (
    "type",
    "message_id",
    "event_time_ms",
    "received_at_ms",
    "anonymous_id",
    "user_id",
    "previous_id",
)
NOW_MS = 1_700_000_000_000

HAND_MADE = [
    {"type": "track", "event": "Signed Up", "userId": "u-1", "timestamp": "2023-11-14T22:13:20Z"},
    {"type": "track", "event": "x", "anonymousId": "a-1", "userId": ""},
    {"type": "track", "event": "x", "anonymousId": "", "userId": "u-2"},
    {"type": "alias", "previousId": "a-9", "userId": "u-9"},
    {"type": "identify", "anonymousId": "a-2", "userId": "u-2", "traits": {"plan": "pro"}},
    {"type": "identify", "userId": 42, "context": {"traits": {"email": "x@example.com"}}},
    {"type": "page", "anonymousId": "ä-ü-€", "name": "Home", "messageId": "m-1"},
    {"type": "group", "userId": "u-3", "groupId": "g-1", "sentAt": "2023-11-14T22:13:25Z"},
    {"type": "screen", "anonymousId": "a-3", "receivedAt": "2023-11-14T22:13:21.123Z"},
]


def _validated(raw: bytes) -> Event | None:
    result = decode_record(
        raw, received_at_ms=NOW_MS, max_event_bytes=32 * 1024, new_message_id=lambda: "generated"
    )
    return result if isinstance(result, Event) else None


def _fields(event: Event | None) -> tuple[object, ...]:
    assert event is not None
    return tuple(getattr(event, name) for name in FIELDS)


def _events() -> list[Event]:
    raws = [orjson.dumps(obj) for obj in HAND_MADE]
    base_ms = (int(time.time() * 1000) - 3_600_000) // 60_000 * 60_000
    raws += [value for _key, value in generate(3_000, seed=8, base_ms=base_ms)]
    events = [e for e in map(_validated, raws) if e is not None]
    assert len(events) > 2_900  # the workload's 1 % malformed are rejected, the rest decode
    return events


def test_the_head_reads_as_the_body_does_for_every_field_identify_uses() -> None:
    for event in _events():
        from_body = event_from_normalised(orjson.dumps(event.body))
        from_head = event_from_head(identity_head(event))
        assert _fields(from_head) == _fields(from_body), event.body


def test_the_identity_key_is_the_same_from_head_and_body() -> None:
    for event in _events():
        from_head = event_from_head(identity_head(event))
        assert from_head is not None
        assert from_head.identity_key == event.identity_key


@pytest.mark.parametrize(
    "raw",
    [
        None,
        b"",
        b"not json",
        b"{}",
        b'["track","m",1,2,null,"u"]',  # one member short
        b'["nope","m",1,2,null,"u",null]',  # not a call type
        b'["track",7,1,2,null,"u",null]',  # messageId not a string
        b'["track","m","1",2,null,"u",null]',  # time not an int
        b'["track","m",1,2,"","u",null]',  # an empty id is written as null, never ""
        b'["track","m",1,2,null,5,null]',
    ],
)
def test_an_unreadable_head_is_none_so_identify_decodes_the_body(raw: bytes | None) -> None:
    assert event_from_head(raw) is None
