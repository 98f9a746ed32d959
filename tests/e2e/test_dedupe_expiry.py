"""messageId dedupe entries expire: the identities table does not grow by one key per event forever.

With a 1 s horizon, an entry is deleted (a tombstone on the ``identities`` changelog) once it is
older than twice the horizon and its partition handles another batch. Until then a retry is
dropped; the retry sent after the expiry counts again, as the horizon promises.
"""

from __future__ import annotations

import asyncio
import time

import orjson

from tests.support.kafka import produce, read_all
from tests.support.settle import metric
from tests.support.workers import Deployment, Worker


def _send(deployment: Deployment, message_id: str) -> None:
    body = {"type": "track", "userId": "u-exp", "event": "Clicked", "messageId": message_id}
    topic = deployment.topic("events")
    asyncio.run(produce(deployment.bootstrap, topic, [(b"u-exp", orjson.dumps(body))]))


def _clicks(worker: Worker, deployment: Deployment, want: int, timeout_s: float = 60) -> int:
    deadline = time.monotonic() + timeout_s
    count = -1
    while time.monotonic() < deadline:
        status, body = worker.get("/counters/u-exp?event=Clicked", token=deployment.token)
        count = body["events"]["Clicked"]["lifetime"] if status == 200 else -1
        if count == want:
            break
        time.sleep(0.3)
    return count


def _dedupe_changelog(deployment: Deployment) -> dict[bytes, bytes | None]:
    topic = f"{deployment.prefix}app-identities-changelog"
    records = asyncio.run(read_all(deployment.bootstrap, topic))
    return {r.key: r.value for r in records if r.key and r.key.startswith(b"msg:")}


def test_a_dedupe_entry_is_deleted_after_twice_the_horizon(workers, deployment) -> None:
    deployment.partitions = 1  # every event below lands in the partition being swept
    deployment.extra_env["STREAMAPP_DEDUPE_HORIZON_S"] = "1"
    worker = workers()
    worker.wait_ready(topic=deployment.topic("events"))
    _send(deployment, "exp-1")
    _send(deployment, "exp-1")  # a retry within the horizon: dropped
    assert _clicks(worker, deployment, 1) == 1
    assert _dedupe_changelog(deployment).get(b"msg:exp-1") is not None

    time.sleep(2.5)  # > 2 x horizon
    _send(deployment, "exp-2")  # a batch on the partition: the sweep runs after it
    assert _clicks(worker, deployment, 2) == 2
    deadline = time.monotonic() + 30
    while _dedupe_changelog(deployment).get(b"msg:exp-1", b"") is not None:
        assert time.monotonic() < deadline, "msg:exp-1 was never deleted"
        time.sleep(0.5)
    assert metric(worker, "streamapp_dedupe_entries_expired_total") >= 1
    assert _dedupe_changelog(deployment).get(b"msg:exp-2") is not None  # too young to go

    _send(deployment, "exp-1")  # the same messageId long after the horizon: a new occurrence
    assert _clicks(worker, deployment, 3) == 3
