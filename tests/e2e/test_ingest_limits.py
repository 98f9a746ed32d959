"""Ingest under pressure and under a bad deploy: 429 instead of unbounded memory; the breaker."""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

from tests.support.kafka import produce
from tests.support.workers import STREAMAPP, Deployment, free_port


def _post(url: str, body: bytes, key: str) -> tuple[int, dict[str, str], dict]:
    req = urllib.request.Request(url, data=body, method="POST")
    req.add_header("Authorization", "Basic " + base64.b64encode(f"{key}:".encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, dict(resp.headers), json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), json.loads(err.read())


def test_more_events_in_flight_than_allowed_get_429_with_retry_after(workers, deployment) -> None:
    deployment.extra_env["STREAMAPP_INGEST_MAX_IN_FLIGHT"] = "5"
    worker = workers()
    worker.wait_ready(topic=deployment.topic("events"))
    batch = {"batch": [{"type": "track", "userId": f"u{i}", "event": "e"} for i in range(6)]}
    status, headers, body = _post(
        f"{worker.url}/v1/batch", json.dumps(batch).encode(), deployment.write_key
    )
    assert status == 429
    assert headers["Retry-After"] == "1"
    assert body["success"] is False
    small = {"batch": batch["batch"][:5]}
    assert (
        _post(f"{worker.url}/v1/batch", json.dumps(small).encode(), deployment.write_key)[0] == 200
    )


def test_breaker_stops_the_worker_when_most_records_are_rejected(
    workers, deployment: Deployment
) -> None:
    deployment.extra_env["STREAMAPP_DLQ_WINDOW"] = "20"
    deployment.extra_env["STREAMAPP_DLQ_MAX_RATIO"] = "0.5"
    worker = workers()
    worker.wait_ready(topic=deployment.topic("events"))
    garbage = [(None, b"not json %d" % i) for i in range(40)]
    asyncio.run(produce(deployment.bootstrap, deployment.topic("events"), garbage))
    code = worker.proc.wait(timeout=60)
    assert code == 3
    log = worker.log_path.read_text()
    assert "DEAD-LETTER BREAKER TRIPPED" in log
    assert "of the last 20 records were rejected" in log


def test_a_wrong_aggregate_declaration_names_the_file_and_the_field(
    deployment: Deployment, tmp_path: Path
) -> None:
    folder = tmp_path / "topologies"
    folder.mkdir()
    (folder / "broken.py").write_text(
        "from streamapp.windows.declare import Aggregate, Count, Tumbling\n"
        "bad = Aggregate(name='bad', key=('event',), window=Tumbling(size_s=60), grace_s=-5,\n"
        "                measures=(Count(),))\n"
    )
    env = deployment.env(free_port())
    env["STREAMAPP_TOPOLOGIES_DIR"] = str(folder)
    result = subprocess.run(
        [STREAMAPP, "worker"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "broken.py" in result.stderr
    assert "grace_s" in result.stderr
