"""System (d): Quix Streams computing the same counters and tumbling count.

Two stateful steps on one StreamingDataFrame over the input topic: per user and event name a
lifetime and per-UTC-day count in Quix's RocksDB state (changelogged), and a one-minute tumbling
count of events per name on event time (``timestamp``), via ``group_by`` (a repartition topic).
Quix's default processing guarantee (at-least-once) and ``acks=all``.

Run: ``BENCH_BOOTSTRAP=... BENCH_TOPIC=... BENCH_APP_ID=... BENCH_DATA_DIR=...
python -m benchmarks.systems.quix_app``
"""

from __future__ import annotations

import os
import time
from datetime import datetime
from typing import Any

from quixstreams import Application, State
from quixstreams.models import TopicConfig

FIRST_EVENT_FILE = os.environ.get("BENCH_FIRST_EVENT_FILE", "")
_started = False


def _timestamp(value: Any, headers: Any, timestamp: int, timestamp_type: Any) -> int:
    try:
        text = value["timestamp"]
        return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)
    except Exception:
        return timestamp


def _valid(value: Any) -> bool:
    global _started
    if not _started:
        _started = True
        if FIRST_EVENT_FILE:
            with open(FIRST_EVENT_FILE, "w") as f:
                f.write(str(time.time()))
    return isinstance(value, dict) and bool(value.get("userId") or value.get("anonymousId"))


def _count(value: dict[str, Any], state: State) -> dict[str, Any]:
    user = value.get("userId") or value.get("anonymousId")
    name = value.get("event") or value.get("type") or "?"
    day = str(value.get("timestamp", ""))[:10]
    key = f"{user}|{name}"
    state.set(key, state.get(key, 0) + 1)
    day_key = f"{key}|{day}"
    state.set(day_key, state.get(day_key, 0) + 1)
    return value


def main() -> None:
    app = Application(
        broker_address=os.environ["BENCH_BOOTSTRAP"],
        consumer_group=os.environ["BENCH_APP_ID"],
        auto_offset_reset="earliest",
        state_dir=os.environ["BENCH_DATA_DIR"],
        producer_extra_config={"acks": "all"},
        on_processing_error=lambda *a, **k: True,
        on_consumer_error=lambda *a, **k: True,
        topic_create_timeout=60,
        use_changelog_topics=True,
    )
    topic = app.topic(
        os.environ["BENCH_TOPIC"],
        value_deserializer="json",
        timestamp_extractor=_timestamp,
        config=TopicConfig(
            num_partitions=int(os.environ.get("BENCH_PARTITIONS", "4")), replication_factor=1
        ),
    )
    sdf = app.dataframe(topic)
    sdf = sdf.filter(_valid)
    sdf = sdf.update(_count, stateful=True)
    sdf = sdf.group_by(lambda v: str(v.get("event") or v.get("type")), name="by_event")
    sdf = sdf.tumbling_window(60_000, grace_ms=30_000).count().final()
    app.run(sdf)


if __name__ == "__main__":
    main()
