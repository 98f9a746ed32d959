"""Real Segment SDKs and curl against the HTTP Tracking API; the events land on the real broker."""

from __future__ import annotations

import asyncio
import json
import re
import shlex
import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from segment.analytics import Client

from streamapp.ingest.timestamps import parse_iso8601_ms
from tests.support.kafka import read_all
from tests.support.workers import Deployment, Worker

REPO = Path(__file__).resolve().parents[2]
NODE_CLIENT = REPO / "tests" / "clients" / "node"


def _events_by_message_id(deployment: Deployment, expect: int) -> dict[str, tuple[bytes, dict]]:
    """Read `events` until `expect` records are there; map messageId -> (key, body)."""
    got: dict[str, tuple[bytes, dict]] = {}
    for _ in range(60):
        records = asyncio.run(read_all(deployment.bootstrap, deployment.topic("events")))
        got = {}
        for r in records:
            body = orjson.loads(r.value)
            got[body["messageId"]] = (r.key, body)
        if len(got) >= expect:
            break
        asyncio.run(asyncio.sleep(0.5))
    return got


def _ready(workers, deployment: Deployment) -> Worker:
    worker = workers()
    worker.wait_ready(topic=deployment.topic("events"))
    return worker


def test_segment_python_sdk_every_call_and_a_batch_of_1000(workers, deployment) -> None:
    worker = _ready(workers, deployment)
    errors: list[object] = []
    client = Client(
        deployment.write_key,
        host=worker.url,
        gzip=True,
        upload_size=250,
        max_retries=2,
        on_error=lambda e, batch: errors.append(e),
    )
    an_hour_ago = datetime.now(tz=UTC) - timedelta(hours=1)
    client.identify("u1", {"name": "Ada"}, anonymous_id="a1", message_id="m-identify")
    client.alias("a-old", "u1", message_id="m-alias")
    client.page("u1", name="Home", message_id="m-page")
    client.screen("u1", name="Feed", message_id="m-screen")
    client.group("u1", "g1", {"plan": "team"}, message_id="m-group")
    client.track("u1", "Signed Up", {"plan": "pro"}, timestamp=an_hour_ago, message_id="m-track")
    for i in range(1000):
        client.track(
            anonymous_id=f"anon-{i % 37}", event="Viewed", properties={"i": i}, message_id=f"b{i}"
        )
    client.flush()
    client.join()
    assert errors == []

    got = _events_by_message_id(deployment, 1006)
    assert len(got) == 1006
    assert got["m-identify"][0] == b"a1"  # keyed by anonymousId
    assert got["m-alias"][0] == b"a-old"  # alias meets the events of the id it renames
    assert got["m-page"][0] == b"u1"
    assert got["m-group"][1]["groupId"] == "g1"
    for i in range(1000):
        key, body = got[f"b{i}"]
        assert key == f"anon-{i % 37}".encode()
        assert body["type"] == "track" and body["properties"] == {"i": i}
    for _, body in got.values():
        assert parse_iso8601_ms(body["receivedAt"]) > 0
    # The SDK's clock agrees with ours, so the corrected timestamp stays the one it sent.
    track_ms = parse_iso8601_ms(got["m-track"][1]["timestamp"])
    assert abs(track_ms - an_hour_ago.timestamp() * 1000) < 5_000


def test_segment_node_sdk_every_call_and_a_batch(workers, deployment) -> None:
    worker = _ready(workers, deployment)
    prefix = "n" + uuid.uuid4().hex[:6]
    result = subprocess.run(
        ["node", "send.mjs", worker.url, deployment.write_key, prefix, "300"],
        cwd=NODE_CLIENT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    got = _events_by_message_id(deployment, 305)
    assert len(got) == 305
    assert got[f"{prefix}-identify"][0] == f"{prefix}-anon".encode()
    assert got[f"{prefix}-alias"][1]["previousId"] == f"{prefix}-old"
    assert got[f"{prefix}-page"][1]["type"] == "page"
    assert got[f"{prefix}-screen"][1]["type"] == "screen"
    assert got[f"{prefix}-group"][1]["groupId"] == "g1"
    key, body = got[f"{prefix}-t7"]
    assert key == f"{prefix}-a7".encode()
    assert "receivedAt" in body


def test_clock_skew_is_corrected_from_sent_at(workers, deployment) -> None:
    """A client whose clock runs 1 h fast: timestamp = receivedAt - (sentAt - timestamp)."""
    worker = _ready(workers, deployment)
    client_now = datetime.now(tz=UTC) + timedelta(hours=1)
    body = {
        "batch": [
            {
                "type": "track",
                "userId": "skewed",
                "event": "Clicked",
                "messageId": "skew-1",
                "timestamp": (client_now - timedelta(minutes=5)).isoformat(),
            }
        ],
        "sentAt": client_now.isoformat(),
    }
    out = subprocess.run(
        [
            "curl",
            "-sS",
            "-u",
            f"{deployment.write_key}:",
            "-H",
            "Content-Type: application/json",
            "-d",
            json.dumps(body),
            f"{worker.url}/v1/batch",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert json.loads(out.stdout) == {"success": True}
    _, event = _events_by_message_id(deployment, 1)["skew-1"]
    received = parse_iso8601_ms(event["receivedAt"])
    corrected = parse_iso8601_ms(event["timestamp"])
    assert received - corrected == 5 * 60 * 1000


def test_readme_curl_examples_work_as_written(workers, deployment) -> None:
    worker = _ready(workers, deployment)
    readme = (REPO / "README.md").read_text()
    blocks = re.findall(r"```sh\n(.*?)```", readme, flags=re.S)
    commands = []
    for block in blocks:
        joined = re.sub(r"\\\n\s*", " ", block)
        commands += [line for line in joined.splitlines() if line.startswith("curl ")]
    ingest = [c for c in commands if "/v1/" in c]
    assert len(ingest) >= 2
    for command in ingest:
        command = command.replace("http://127.0.0.1:6066", worker.url)
        command = command.replace("dev-write-key", deployment.write_key)
        argv = shlex.split(command)
        out = subprocess.run([*argv, "-sS"], capture_output=True, text=True, timeout=30)
        assert json.loads(out.stdout) == {"success": True}, (command, out.stdout, out.stderr)
