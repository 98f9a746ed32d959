"""HTTP ingest throughput: events/s through ``POST /v1/batch`` into the ``events`` topic.

Usage (against a running worker, e.g. from ``make run``)::

    .venv/bin/python -m benchmarks.http_ingest --url http://127.0.0.1:6066 --seconds 20

Sends batches of ``--batch`` Segment track events (~400 bytes each) from ``--concurrency``
connections for ``--seconds``; a 200 means the broker acknowledged every event (acks=all). Prints
events/s, requests/s and latency percentiles of the requests as a Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import statistics
import time

import aiohttp
import orjson


def _batch(n: int, seq: int) -> bytes:
    events = [
        {
            "type": "track",
            "userId": f"user-{(seq * n + i) % 100_000}",
            "event": "Product Viewed",
            "properties": {
                "product_id": f"p-{i % 500}",
                "category": "shoes",
                "price": 49.9,
                "currency": "EUR",
                "path": "/catalog/shoes/running?ref=home",
            },
            "context": {"library": {"name": "analytics-python", "version": "2.4.0"}},
        }
        for i in range(n)
    ]
    return orjson.dumps({"batch": events})


async def run(url: str, key: str, seconds: float, concurrency: int, batch: int) -> None:
    auth = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
    headers = {"Authorization": auth, "Content-Type": "application/json"}
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    sent_events = 0
    deadline = time.perf_counter() + seconds

    async def client(worker: int, session: aiohttp.ClientSession) -> None:
        nonlocal sent_events
        seq = worker
        while time.perf_counter() < deadline:
            body = _batch(batch, seq)
            seq += concurrency
            started = time.perf_counter()
            async with session.post(f"{url}/v1/batch", data=body, headers=headers) as resp:
                await resp.read()
                statuses[resp.status] = statuses.get(resp.status, 0) + 1
                if resp.status == 200:
                    sent_events += batch
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(client(i, session) for i in range(concurrency)))
    elapsed = time.perf_counter() - started
    q = statistics.quantiles(latencies, n=100)
    print("| events/s | requests/s | p50 ms | p95 ms | p99 ms | statuses |")
    print("|---:|---:|---:|---:|---:|---|")
    print(
        f"| {sent_events / elapsed:,.0f} | {len(latencies) / elapsed:,.1f} | {q[49] * 1000:.1f} "
        f"| {q[94] * 1000:.1f} | {q[98] * 1000:.1f} | {statuses} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:6066")
    parser.add_argument("--write-key", default="dev-write-key")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--batch", type=int, default=100)
    args = parser.parse_args()
    asyncio.run(run(args.url, args.write_key, args.seconds, args.concurrency, args.batch))


if __name__ == "__main__":
    main()
