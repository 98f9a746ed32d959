"""A seeded generator of hostile input: every payload is invalid by construction, and says why.

Each generator draws one payload of a kind users' worst clients produce: random bytes, broken
UTF-8, valid JSON of the wrong shape, wrong field types, huge and deeply nested values, numbers
out of range, oversized events and batches, bad gzip, bad or missing write keys, and Kafka
records carrying forged ``streamapp-*`` headers. ``http_payload`` and ``kafka_payload`` pick a
kind with the seeded random, so a run is reproducible from its seed.

Valid events are not made here: the scenario mixes its own in, under user ids of their own, and
checks their counters exactly.
"""

from __future__ import annotations

import base64
import gzip
import random
from dataclasses import dataclass, field
from typing import Any

import orjson

HOSTILE_USER = "hostile"


@dataclass(frozen=True)
class HttpPayload:
    kind: str
    path: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    write_key: str | None = "ok"
    """``ok``: the deployment's key; None: no key at all; anything else: sent as is."""


@dataclass(frozen=True)
class KafkaPayload:
    kind: str
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()


def _event(rng: random.Random) -> dict[str, Any]:
    return {
        "type": "track",
        "userId": f"{HOSTILE_USER}{rng.randrange(1000)}",
        "event": "Hostile",
        "properties": {"n": rng.randrange(100)},
    }


def _random_bytes(rng: random.Random) -> bytes:
    return rng.randbytes(rng.randrange(0, 600))


def _broken_utf8(rng: random.Random) -> bytes:
    raw = orjson.dumps(_event(rng))
    cut = raw.index(b"Hostile") + rng.randrange(0, 7)
    bad = rng.choice((b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"\xc0\xaf"))
    return raw[:cut] + bad + raw[cut:]


WRONG_TYPES: tuple[tuple[str, Any], ...] = (
    ("userId", {"a": 1}),
    ("userId", [1, 2]),
    ("userId", True),
    ("anonymousId", {"x": None}),
    ("event", 5),
    ("event", ["a"]),
    ("event", None),
    ("event", {"name": "x"}),
    ("properties", [1, 2]),
    ("properties", "props"),
    ("properties", 7),
    ("timestamp", "yesterday"),
    ("timestamp", "2026-13-45T99:00:00Z"),
    ("type", "nope"),
    ("type", 3),
    ("type", None),
    ("messageId", ""),
    ("context", [1]),
)


def _wrong_type(rng: random.Random) -> dict[str, Any]:
    body = _event(rng)
    name, value = rng.choice(WRONG_TYPES)
    body[name] = value
    return body


def _deep(rng: random.Random) -> bytes:
    levels = rng.randrange(40, 3000)
    inner = rng.choice(('{"a":' * levels + "1" + "}" * levels, "[" * levels + "]" * levels))
    return (
        b'{"type":"track","userId":"hostile","event":"e","properties":{"p":'
        + inner.encode()
        + b"}}"
    )


def _huge_value(rng: random.Random) -> bytes:
    roll = rng.randrange(4)
    if roll == 0:
        body = _event(rng)
        body["properties"] = {"blob": "x" * rng.randrange(33 * 1024, 120 * 1024)}
        return orjson.dumps(body)
    if roll == 1:
        number = rng.choice(("1e999999", "-1e400", "123456789012345678901234567890", "NaN"))
        return (
            b'{"type":"track","userId":"hostile","event":"e","properties":{"n":'
            + number.encode()
            + b"}}"
        )
    if roll == 2:
        body = _event(rng)
        body["properties"] = {f"k{i}": i for i in range(rng.randrange(3000, 6000))}
        return orjson.dumps(body)
    body = _event(rng)
    body["userId"] = "u" * rng.randrange(33 * 1024, 60 * 1024)
    return orjson.dumps(body)


def _wrong_shape(rng: random.Random) -> bytes:
    return rng.choice(
        (b"[1,2,3]", b"42", b'"str"', b"null", b"true", b"{}", b"", b"{nope", b'{"a":1')
    )


def http_payload(rng: random.Random) -> HttpPayload:
    """One hostile HTTP request; each must be answered 4xx."""
    kind = rng.choice(HTTP_KINDS)
    path = rng.choice(("track", "batch", "identify", "page"))
    if kind == "random bytes":
        return HttpPayload(kind, path, _random_bytes(rng))
    if kind == "broken utf-8":
        return HttpPayload(kind, "track", _broken_utf8(rng))
    if kind == "wrong shape":
        return HttpPayload(kind, path, _wrong_shape(rng))
    if kind == "wrong type":
        body = _wrong_type(rng)
        if path == "batch":
            good = [_event(rng) for _ in range(rng.randrange(0, 5))]
            good.insert(rng.randrange(len(good) + 1), body)
            return HttpPayload(kind, "batch", orjson.dumps({"batch": good}))
        return HttpPayload(kind, "track", orjson.dumps(body))
    if kind == "deep nesting":
        return HttpPayload(kind, "track", _deep(rng))
    if kind == "huge value":
        return HttpPayload(kind, "track", _huge_value(rng))
    if kind == "oversized batch":
        size = rng.randrange(20, 40)
        events = [{**_event(rng), "properties": {"p": "y" * 30_000}} for _ in range(size)]
        raw = orjson.dumps({"batch": events})
        if rng.random() < 0.5:
            return HttpPayload(kind, "batch", gzip.compress(raw), {"Content-Encoding": "gzip"})
        return HttpPayload(kind, "batch", raw)
    if kind == "batch not a list":
        bad = rng.choice(({"batch": {"type": "track"}}, {"batch": "x"}, {"batch": None}))
        return HttpPayload(kind, "batch", orjson.dumps(bad))
    if kind == "bad gzip":
        raw = orjson.dumps(_event(rng))
        zipped = gzip.compress(raw)
        body = rng.choice((raw, zipped[: len(zipped) // 2], rng.randbytes(200), b"\x1f\x8b" + raw))
        return HttpPayload(kind, "track", body, {"Content-Encoding": "gzip"})
    if kind == "gzip bomb":
        body = gzip.compress(b'{"batch":[' + b" " * rng.randrange(2_000_000, 6_000_000) + b"]}")
        return HttpPayload(kind, "batch", body, {"Content-Encoding": "gzip"})
    if kind == "bad auth":
        raw = orjson.dumps(_event(rng))
        choice = rng.randrange(5)
        if choice == 0:
            return HttpPayload(kind, "track", raw, write_key=None)
        if choice == 1:
            return HttpPayload(kind, "track", raw, write_key=f"wrong{rng.randrange(99)}")
        header = rng.choice(
            (
                "Basic !!!not-base64",
                "Bearer test-token",
                "Basic " + base64.b64encode(b"\xff\xfe:").decode(),
                "Digest username=x",
            )
        )
        return HttpPayload(kind, "track", raw, {"Authorization": header}, write_key=None)
    raise AssertionError(kind)


HTTP_KINDS = (
    "random bytes",
    "broken utf-8",
    "wrong shape",
    "wrong type",
    "deep nesting",
    "huge value",
    "oversized batch",
    "batch not a list",
    "bad gzip",
    "gzip bomb",
    "bad auth",
)

FORGED_HEADERS = (
    ("streamapp-origin-topic", b"events.identify"),
    ("streamapp-origin-partition", b"0"),
    ("streamapp-origin-offset", b"999999999"),
    ("streamapp-origin-index", b"0"),
    ("streamapp-cid", b"forged"),
    ("streamapp-ingest", b"http"),
    ("streamapp-hops", b"99"),
    ("streamapp-kind", b"\xff\xfe"),
    ("streamapp-reason", b"none"),
)


def forged_headers(rng: random.Random) -> tuple[tuple[str, bytes], ...]:
    """A random subset of internal header names with misleading values."""
    return tuple(rng.sample(FORGED_HEADERS, rng.randrange(1, len(FORGED_HEADERS) + 1)))


def kafka_payload(rng: random.Random) -> KafkaPayload:
    """One hostile Kafka record; each must land on events.dlq with a reason."""
    kind = rng.choice(KAFKA_KINDS)
    key = rng.choice((None, b"", rng.randbytes(rng.randrange(1, 40)), b"k"))
    if kind == "random bytes":
        value = _random_bytes(rng)
    elif kind == "broken utf-8":
        value = _broken_utf8(rng)
    elif kind == "wrong shape":
        value = _wrong_shape(rng)
    elif kind == "wrong type":
        value = orjson.dumps(_wrong_type(rng))
    elif kind == "deep nesting":
        value = _deep(rng)
    elif kind == "huge value":
        value = _huge_value(rng)
    elif kind == "missing type":
        body = _event(rng)
        del body["type"]
        value = orjson.dumps(body)
    else:
        raise AssertionError(kind)
    headers = forged_headers(rng) if rng.random() < 0.3 else ()
    return KafkaPayload(kind, key, value, headers)


KAFKA_KINDS = (
    "random bytes",
    "broken utf-8",
    "wrong shape",
    "wrong type",
    "deep nesting",
    "huge value",
    "missing type",
)
