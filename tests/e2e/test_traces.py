"""Correlation ids travel through every stage; trace lines say where an event went."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time

import orjson

from tests.support.kafka import produce, read_all


def _traces(deployment, want: int, timeout_s: float = 60.0) -> list[dict]:
    deadline = time.monotonic() + timeout_s
    lines: list[dict] = []
    while time.monotonic() < deadline:
        records = asyncio.run(read_all(deployment.bootstrap, deployment.topic("streamapp.traces")))
        lines = [orjson.loads(r.value) for r in records]
        if len(lines) >= want:
            break
        time.sleep(0.5)
    return lines


def test_a_sampled_event_is_traced_through_each_stage(workers, deployment) -> None:
    deployment.extra_env["STREAMAPP_TRACE_SAMPLE_RATE"] = "1"
    worker = workers()
    worker.wait_ready(topic=deployment.topic("events"))
    body = {"type": "track", "anonymousId": "anon-t", "event": "Clicked", "messageId": "cid-1"}
    out = subprocess.run(
        [
            "curl",
            "-sS",
            "-u",
            f"{deployment.write_key}:",
            "-d",
            json.dumps(body),
            f"{worker.url}/v1/track",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert json.loads(out.stdout) == {"success": True}
    lines = [line for line in _traces(deployment, 3) if line["correlation_id"] == "cid-1"]
    stages = {line["stage"]: line for line in lines}
    assert set(stages) >= {"validate", "identify", "profiles"}, lines
    assert stages["identify"]["detail"]["identified_as"] == ["anon-t"]
    assert stages["profiles"]["detail"]["outcome"] == "applied"
    for line in lines:
        assert line["processed_at_ms"] > 0 and line["host"] and line["processing_s"] >= 0


def test_rejected_records_are_always_traced(workers, deployment) -> None:
    worker = workers()  # sampling at its default, 0
    worker.wait_ready(topic=deployment.topic("events"))
    asyncio.run(produce(deployment.bootstrap, deployment.topic("events"), [(b"k", b"{broken")]))
    lines = _traces(deployment, 1)
    assert len(lines) == 1
    assert lines[0]["stage"] == "validate"
    assert lines[0]["detail"]["rejected"] == "not_json"
