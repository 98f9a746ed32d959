"""Bad input never crashes a worker and never disappears: a 4xx with its reason, or a dead letter.

Table-driven over HTTP and over Kafka, against a real worker and the real broker; at the end the
worker is still up and its counters equal what was sent.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import urllib.error
import urllib.request
from collections import Counter

import orjson
from prometheus_client.parser import text_string_to_metric_families

from tests.support.kafka import produce, read_all, unpacked
from tests.support.workers import Deployment, Worker


def _deep(levels: int) -> str:
    return (
        '{"type":"track","userId":"u","event":"e","properties":'
        + '{"a":' * levels
        + "1"
        + "}" * levels
        + "}"
    )


BIG_PROPS = "x" * (33 * 1024)

# (name, path, body bytes, extra headers, status, reason fragment)
HTTP_CASES: list[tuple[str, str, bytes, dict[str, str], int, str]] = [
    ("not json", "track", b"{nope", {}, 400, "body is not valid JSON"),
    ("invalid utf-8", "track", b'{"userId":"\xff\xfe","event":"e"}', {}, 400, "UTF-8"),
    ("json array", "track", b"[1,2,3]", {}, 400, "body must be a JSON object"),
    ("empty body", "track", b"", {}, 400, "request body is empty"),
    (
        "batch missing type",
        "batch",
        b'{"batch":[{"userId":"u","event":"e"}]}',
        {},
        400,
        "event 0: event has no 'type'",
    ),
    (
        "unknown type",
        "batch",
        b'{"batch":[{"type":"nope","userId":"u"}]}',
        {},
        400,
        "event 0: 'type' 'nope' is not one of",
    ),
    ("track without event", "track", b'{"userId":"u"}', {}, 400, "'event'"),
    ("userId an object", "track", b'{"userId":{"a":1},"event":"e"}', {}, 400, "userId"),
    (
        "properties a list",
        "track",
        b'{"userId":"u","event":"e","properties":[1]}',
        {},
        400,
        "properties",
    ),
    (
        "bad timestamp",
        "track",
        b'{"userId":"u","event":"e","timestamp":"yesterday"}',
        {},
        400,
        "timestamp",
    ),
    (
        "33 KB event",
        "track",
        orjson.dumps({"userId": "u", "event": "e", "properties": {"p": BIG_PROPS}}),
        {},
        400,
        "event larger than 32 KB",
    ),
    (
        "600 KB batch",
        "batch",
        orjson.dumps(
            {
                "batch": [
                    {"type": "track", "userId": "u", "event": "e", "properties": {"p": "y" * 20000}}
                ]
                * 30
            }
        ),
        {},
        400,
        "batch larger than 500 KB",
    ),
    ("deep nesting", "track", _deep(100).encode(), {}, 400, "nests deeper than 32 levels"),
    (
        "huge number",
        "track",
        b'{"userId":"u","event":"e","properties":{"n":123456789012345678901234567890}}',
        {},
        400,
        "range",
    ),
    ("alias without previousId", "alias", b'{"userId":"u"}', {}, 400, "previousId"),
    ("group without groupId", "group", b'{"userId":"u"}', {}, 400, "groupId"),
    ("identify without ids", "identify", b'{"traits":{"a":1}}', {}, 400, "userId"),
    ("batch not a list", "batch", b'{"batch":{"type":"track"}}', {}, 400, "batch"),
    ("gzip garbage", "track", b"not gzip at all", {"Content-Encoding": "gzip"}, 400, "gzip"),
    (
        "empty messageId",
        "track",
        b'{"userId":"u","event":"e","messageId":""}',
        {},
        400,
        "messageId",
    ),
    ("event name a number", "track", b'{"userId":"u","event":5}', {}, 400, "'event'"),
]

# (name, raw bytes, expected reason header)
KAFKA_CASES: list[tuple[str, bytes, str]] = [
    ("not json", b"{nope", "not_json"),
    ("invalid utf-8", b'{"type":"track","userId":"\xff","event":"e"}', "invalid_utf8"),
    ("json array", b"[1,2]", "not_an_object"),
    ("a bare number", b"42", "not_an_object"),
    ("missing type", b'{"userId":"u","event":"e"}', "missing_type"),
    ("unknown type", b'{"type":"nope","userId":"u"}', "unknown_type"),
    ("track without event", b'{"type":"track","userId":"u"}', "missing_field"),
    ("wrong id type", b'{"type":"track","userId":[1],"event":"e"}', "wrong_type"),
    (
        "bad timestamp",
        b'{"type":"track","userId":"u","event":"e","timestamp":"2026-13-45"}',
        "bad_timestamp",
    ),
    (
        "33 KB event",
        orjson.dumps({"type": "track", "userId": "u", "event": "e", "p": BIG_PROPS}),
        "too_large",
    ),
    ("empty record", b"", "empty"),
    ("deep nesting", _deep(200).encode(), "too_deep"),
    (
        "huge number",
        b'{"type":"track","userId":"u","event":"e","n":1e999999}',
        "number_out_of_range",
    ),
    (
        "huge integer",
        b'{"type":"track","userId":"u","event":"e","n":99999999999999999999999}',
        "number_out_of_range",
    ),
    ("NaN literal", b'{"type":"track","userId":"u","event":"e","n":NaN}', "not_json"),
]


def _post(
    worker: Worker, path: str, body: bytes, headers: dict[str, str], key: str | None
) -> tuple[int, dict]:
    req = urllib.request.Request(f"{worker.url}/v1/{path}", data=body, method="POST")
    req.add_header("Content-Type", "application/json")
    if key is not None:
        req.add_header("Authorization", "Basic " + base64.b64encode(f"{key}:".encode()).decode())
    for k, v in headers.items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def _metrics(worker: Worker) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"{worker.url}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def test_bad_http_requests_get_their_reason_and_are_counted(
    workers, deployment: Deployment
) -> None:
    worker = workers()
    worker.wait_ready(topic=deployment.topic("events"))
    assert len(HTTP_CASES) >= 20
    statuses: Counter[str] = Counter()
    for name, path, body, headers, status, fragment in HTTP_CASES:
        got_status, answer = _post(worker, path, body, headers, deployment.write_key)
        assert got_status == status, (name, got_status, answer)
        assert answer["success"] is False
        assert fragment.lower() in answer["error"].lower(), (name, answer)
        statuses[f"/v1/{path}|{status}"] += 1
    # Write keys: unknown and missing are refused before anything else.
    good = b'{"userId":"u","event":"e"}'
    assert _post(worker, "track", good, {}, "wrong-key")[0] == 401
    assert _post(worker, "track", good, {}, None)[0] == 401
    assert (
        _post(worker, "track", b'{"userId":"u","event":"e","writeKey":"nope"}', {}, None)[0] == 401
    )
    assert (
        _post(worker, "track", b'{"userId":"u","event":"e","writeKey":"test-write-key"}', {}, None)[
            0
        ]
        == 200
    )
    gz = gzip.compress(good)
    assert _post(worker, "track", gz, {"Content-Encoding": "gzip"}, deployment.write_key)[0] == 200
    statuses["/v1/track|401"] += 3
    statuses["/v1/track|200"] += 2

    assert worker.health() is not None
    metrics = _metrics(worker)
    for key, count in statuses.items():
        route, status = key.split("|")
        sample = ("streamapp_http_requests_total", (("route", route), ("status", status)))
        assert metrics.get(sample) == count, (key, count, metrics.get(sample))
    # Nothing of a refused request reached the topic; the two good ones did.
    records = asyncio.run(read_all(deployment.bootstrap, deployment.topic("events")))
    assert len(records) == 2


def test_bad_kafka_records_are_dead_lettered_byte_for_byte(workers, deployment: Deployment) -> None:
    worker = workers()
    worker.wait_ready(topic=deployment.topic("events"))
    assert len(KAFKA_CASES) >= 15
    good = [(b"k", b'{"type":"track","userId":"u","event":"ok"}')] * 20
    items = [(name.encode(), raw) for name, raw, _ in KAFKA_CASES] + good
    asyncio.run(produce(deployment.bootstrap, deployment.topic("events"), items))

    expected = {name: (raw, reason) for name, raw, reason in KAFKA_CASES}
    letters = []
    for _ in range(60):
        letters = asyncio.run(read_all(deployment.bootstrap, deployment.topic("events.dlq")))
        if len(letters) >= len(KAFKA_CASES):
            break
        asyncio.run(asyncio.sleep(0.5))
    assert len(letters) == len(KAFKA_CASES)
    for letter in letters:
        name = letter.key.decode()
        raw, reason = expected[name]
        assert letter.value == raw, name  # byte for byte
        assert letter.headers["streamapp-reason"].decode() == reason, name
        assert letter.headers["streamapp-stage"] == b"validate"
        assert letter.headers["streamapp-origin-topic"].decode() == deployment.topic("events")
        assert int(letter.headers["streamapp-origin-offset"]) >= 0
        assert letter.headers["streamapp-cid"]
        assert int(letter.headers["streamapp-failed-at"]) > 0
        assert letter.headers["streamapp-detail"]

    forwarded = unpacked(
        asyncio.run(read_all(deployment.bootstrap, deployment.topic("events.identify")))
    )
    assert len(forwarded) == 20
    assert {r.key for r in forwarded} == {b"u"}  # re-keyed by identity key, whatever was sent

    assert worker.health() is not None
    metrics = _metrics(worker)
    by_reason = Counter(reason for _, _, reason in KAFKA_CASES)
    for reason, count in by_reason.items():
        sample = ("streamapp_events_rejected_total", (("reason", reason), ("stage", "validate")))
        assert metrics.get(sample) == count, reason
    assert metrics[("streamapp_events_accepted_total", (("source", "kafka"),))] == 20
