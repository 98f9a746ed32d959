"""System (a), the raw ceiling: an aiokafka consumer that only orjson-decodes each record.

Run as its own process: ``python -m benchmarks.systems.raw_consumer BOOTSTRAP TOPIC GROUP N``.
It stops after ``N`` records and prints one JSON line: first and last record wall times.
"""

from __future__ import annotations

import asyncio
import sys
import time

import orjson
from aiokafka import AIOKafkaConsumer


async def main(bootstrap: str, topic: str, group: str, total: int) -> None:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=True,
        max_partition_fetch_bytes=4 * 1024 * 1024,
        fetch_max_bytes=16 * 1024 * 1024,
    )
    await consumer.start()
    seen = 0
    bad = 0
    first = 0.0
    try:
        while seen < total:
            batches = await consumer.getmany(timeout_ms=500, max_records=10_000)
            for records in batches.values():
                if not first and records:
                    first = time.time()
                for record in records:
                    try:
                        orjson.loads(record.value)
                    except orjson.JSONDecodeError:
                        bad += 1
                seen += len(records)
        await consumer.commit()
    finally:
        await consumer.stop()
    print(orjson.dumps({"first": first, "last": time.time(), "seen": seen, "bad": bad}).decode())


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
