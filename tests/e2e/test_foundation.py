"""The ground every other feature stands on: real broker, topics, a real worker, settings."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from pathlib import Path

from streamapp import provision
from streamapp.config import load_settings
from tests.support.kafka import produce, read_all
from tests.support.workers import STREAMAPP, Deployment, free_port


async def test_topics_are_created_with_settings_and_carry_records(deployment: Deployment) -> None:
    settings = load_settings(
        {
            "STREAMAPP_KAFKA_BOOTSTRAP_SERVERS": deployment.bootstrap,
            "STREAMAPP_APP_ID": deployment.prefix + "app",
            "STREAMAPP_TOPIC_PREFIX": deployment.prefix + ".",
            "STREAMAPP_TOPIC_PARTITIONS": "3",
        }
    )
    specs = provision.required_topics(settings, tables=["profiles"], aggregates=["x"])
    created = await provision.create_topics(settings, specs)
    assert set(created) == {s.name for s in specs}
    assert await provision.create_topics(settings, specs) == []  # idempotent

    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=deployment.bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics([settings.topics.events])
        assert len(described[0]["partitions"]) == 3
    finally:
        await admin.close()

    topic = settings.topics.events
    sent = [(f"k{i}".encode(), f'{{"n": {i}}}'.encode()) for i in range(50)]
    await produce(deployment.bootstrap, topic, sent)
    got = await read_all(deployment.bootstrap, topic)
    assert sorted((r.key, r.value) for r in got) == sorted(sent)


def test_worker_starts_and_reports_its_partitions(workers, deployment: Deployment) -> None:
    worker = workers()
    health = worker.wait_ready(topic=deployment.topic("events"))
    assert health["status"] == "ok"
    assert health["worker_id"].endswith(f":{worker.port}")
    assert sorted(health["assigned"][deployment.topic("events")]) == list(
        range(deployment.partitions)
    )


def test_a_wrong_setting_stops_the_worker_naming_the_variable(deployment: Deployment) -> None:
    env = deployment.env(free_port())
    env["STREAMAPP_TOPIC_PARTITIONS"] = "-3"
    result = subprocess.run(
        [STREAMAPP, "worker"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "STREAMAPP_TOPIC_PARTITIONS" in result.stderr
    assert "-3" in result.stderr


def _free(port: int) -> bool:
    import socket

    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def test_broker_keeps_topics_and_records_across_stop_and_start(tmp_path: Path) -> None:
    """A second, private broker: stop/start must not lose what it held."""
    port = free_port()
    while port > 65000 or not _free(port + 1):  # the controller listens on the next port
        port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMAPP_")}
    env["STREAMAPP_KAFKA_BOOTSTRAP_SERVERS"] = f"127.0.0.1:{port}"
    env["STREAMAPP_DATA_DIR"] = str(tmp_path)
    env["STREAMAPP_BROKER_HEAP_MB"] = "256"
    if "STREAMAPP_BROKER_HOME" in os.environ:
        env["STREAMAPP_BROKER_HOME"] = os.environ["STREAMAPP_BROKER_HOME"]

    def broker(action: str) -> str:
        out = subprocess.run(
            [STREAMAPP, "broker", action], env=env, capture_output=True, text=True, timeout=180
        )
        assert out.returncode == 0, out.stderr
        return out.stdout

    import asyncio

    topic = "persist-" + uuid.uuid4().hex[:6]
    try:
        broker("start")
        assert "answering" in broker("start")  # idempotent
        settings = load_settings(
            {
                "STREAMAPP_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{port}",
                "STREAMAPP_DATA_DIR": str(tmp_path),
            }
        )
        asyncio.run(provision.create_topics(settings, [provision.TopicSpec(topic, 2)]))
        asyncio.run(produce(f"127.0.0.1:{port}", topic, [(b"a", b"1"), (b"b", b"2")]))
        assert "stopped" in broker("stop")
        assert "state: stopped" in broker("status")
        time.sleep(0.5)
        broker("start")
        status = broker("status")
        assert "state: running" in status and str(tmp_path) in status
        got = asyncio.run(read_all(f"127.0.0.1:{port}", topic))
        assert sorted(r.value for r in got) == [b"1", b"2"]
    finally:
        subprocess.run([STREAMAPP, "broker", "stop"], env=env, capture_output=True, timeout=120)
