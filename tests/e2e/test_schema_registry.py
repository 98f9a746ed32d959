"""With STREAMAPP_SCHEMA_REGISTRY_URL set, sink records use the Confluent wire format.

A consumer that knows only the registry (schema by id) and fastavro decodes every record.
"""

from __future__ import annotations

import asyncio
import io
import json
import struct
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import fastavro

from tests.support.kafka import produce, read_all
from tests.support.registry import FakeRegistry

TOPOLOGY = """
from streamapp.windows.declare import Aggregate, Count, Max, Tumbling

clicks = Aggregate(
    name="clicks_per_button",
    events=("Clicked",),
    key=("properties.button",),
    window=Tumbling(size_s=10),
    grace_s=0,
    measures=(Count(), Max("properties.ms")),
)
"""


def _event(ts: datetime, i: int, ms: float) -> bytes:
    return json.dumps(
        {
            "type": "track",
            "userId": f"u{i}",
            "event": "Clicked",
            "messageId": f"m{i}",
            "timestamp": ts.isoformat(),
            "properties": {"button": "buy", "ms": ms},
        }
    ).encode()


def test_sink_uses_confluent_wire_format_with_a_registry(
    workers, deployment, tmp_path: Path
) -> None:
    registry = FakeRegistry()
    registry.start()
    try:
        folder = tmp_path / "topologies"
        folder.mkdir()
        (folder / "clicks.py").write_text(TOPOLOGY)
        deployment.extra_env["STREAMAPP_TOPOLOGIES_DIR"] = str(folder)
        deployment.extra_env["STREAMAPP_SCHEMA_REGISTRY_URL"] = registry.url
        worker = workers()
        worker.wait_ready(topic=deployment.topic("events"))
        base = datetime.now(tz=UTC).replace(microsecond=0) - timedelta(minutes=5)
        start = base.replace(second=base.second - base.second % 10)
        window = [
            _event(start + timedelta(seconds=s), i, 10.0 * i) for i, s in enumerate((1, 3, 5))
        ]
        later = [_event(start + timedelta(seconds=30), 9, 1.0)]  # moves the watermark past the end
        asyncio.run(
            produce(
                deployment.bootstrap,
                deployment.topic("events"),
                [(b"x", v) for v in window + later],
            )
        )

        topic = deployment.topic("aggregates.clicks_per_button")
        records = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not records:
            records = asyncio.run(read_all(deployment.bootstrap, topic))
            time.sleep(0.5)
        assert len(records) == 1
        value = records[0].value
        assert value[0] == 0  # magic byte
        (schema_id,) = struct.unpack(">I", value[1:5])
        with urllib.request.urlopen(f"{registry.url}/schemas/ids/{schema_id}") as resp:
            schema = fastavro.parse_schema(json.loads(json.loads(resp.read())["schema"]))
        record = fastavro.schemaless_reader(io.BytesIO(value[5:]), schema)
        assert record["button"] == "buy"
        assert record["count"] == 3
        assert record["max_ms"] == 20.0
        assert record["window_start"] == start  # timestamp-millis decodes to a UTC datetime
        assert record["window_end"] == start + timedelta(seconds=10)
        assert registry.subjects == {f"{topic}-value": [schema_id]}
    finally:
        registry.stop()
