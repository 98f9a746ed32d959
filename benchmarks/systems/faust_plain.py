"""System (c): the plain Faust app a team would write itself.

One agent over the input topic; for each event it updates the same counters as streamapp (per user
and event name: lifetime and per UTC day) and one tumbling count (events per name per minute), one
table update per event, so one changelog record per update. RocksDB tables with changelogs,
``producer_acks=-1`` and Faust's at-least-once commits: the same guarantees as streamapp's
production settings, minus identity stitching, dedupe and exactness across crashes (which a plain
app does not have). The tumbling table is keyed by event name on the input partition (no
repartition), as such an app typically is.

Run: ``BENCH_BOOTSTRAP=... BENCH_TOPIC=... BENCH_APP_ID=... BENCH_DATA_DIR=... BENCH_PORT=...
python -m benchmarks.systems.faust_plain worker -l warning``
"""

from __future__ import annotations

import os
import time
from datetime import timedelta

import faust
import orjson

TOPIC = os.environ["BENCH_TOPIC"]
FIRST_EVENT_FILE = os.environ.get("BENCH_FIRST_EVENT_FILE", "")

app = faust.App(
    os.environ["BENCH_APP_ID"],
    broker="kafka://" + os.environ["BENCH_BOOTSTRAP"],
    store="rocksdb://",
    datadir=os.environ["BENCH_DATA_DIR"],
    web_port=int(os.environ.get("BENCH_PORT", "6099")),
    topic_partitions=int(os.environ.get("BENCH_PARTITIONS", "4")),
    topic_replication_factor=1,
    producer_acks=-1,
    consumer_auto_offset_reset="earliest",
    table_standby_replicas=1,
)
events = app.topic(TOPIC, key_serializer="raw", value_serializer="raw")
counters = app.Table("counters", default=int)
day_counters = app.Table("day_counters", default=int)
per_minute = app.Table("per_minute", default=int).tumbling(
    timedelta(minutes=1), expires=timedelta(hours=1)
)
_started = False


@app.agent(events)
async def count(stream: faust.StreamT) -> None:  # type: ignore[type-arg]
    global _started
    async for value in stream:
        if not _started:
            _started = True
            if FIRST_EVENT_FILE:
                with open(FIRST_EVENT_FILE, "w") as f:
                    f.write(str(time.time()))
        try:
            event = orjson.loads(value)
        except orjson.JSONDecodeError:
            continue
        if not isinstance(event, dict):
            continue
        user = event.get("userId") or event.get("anonymousId")
        if not user:
            continue
        name = event.get("event") or event.get("type") or "?"
        day = str(event.get("timestamp", ""))[:10]
        counters[f"{user}|{name}"] += 1
        day_counters[f"{user}|{name}|{day}"] += 1
        per_minute[name] += 1


if __name__ == "__main__":
    app.main()
