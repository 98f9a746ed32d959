"""streamapp's end-to-end latency at a fixed offered rate (half its measured maximum).

A producer writes the benchmark workload (fresh message ids, event time = now) to ``events`` at a
steady rate, acks=all, and every 100 ms a probe event for a user id never seen before. One poller
asks ``GET /counters/<probe user>?event=Probe`` for the oldest outstanding probe every 10 ms
until its count is there, then asks for the next one at once: ingest time (just before the send)
-> effect readable over HTTP. One request at a time, so the measuring adds at most about 100
requests/s to the worker. Resolution: 10 ms plus one request. The probes travel one pipeline
and become readable nearly in send order; one readable before an older one is timed when the
older one is found, so a figure is never early. (Until 2026-11-24 the poller went round every
outstanding probe with 10 ms between requests, which timed each one up to ``(10 ms + one
request)`` times the number outstanding late.) A probe not answered within 30 s counts as 30 s
(and is reported), so a pipeline that falls behind cannot look fast.

Windows: sink records of ``aggregates.events_per_minute`` that arrive during the phase are
timed against their window's end + grace (the earliest a window may close on event time), so the
figure is the engine's part of the delay; the window size and grace add to it by design.
"""

from __future__ import annotations

import asyncio
import itertools
import statistics
import time
from typing import Any

import aiohttp
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from benchmarks.streamapp_system import TOKEN, Deployment, Worker
from benchmarks.workload import generate

PROBE_EVERY_S = 0.1
POLL_EVERY_S = 0.01
PROBE_DEADLINE_S = 30.0
MINUTE_WINDOW_END_PLUS_GRACE_MS = 60_000 + 30_000


def _pct(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


async def _run(dep: Deployment, worker: Worker, rate: float, seconds: float) -> dict[str, Any]:
    producer = AIOKafkaProducer(bootstrap_servers=dep.bootstrap, acks="all", linger_ms=5)
    await producer.start()
    sink = AIOKafkaConsumer(
        dep.topic("aggregates.events_per_minute"),
        bootstrap_servers=dep.bootstrap,
        auto_offset_reset="latest",
        enable_auto_commit=False,
    )
    await sink.start()
    await sink.seek_to_end()
    latencies: list[float] = []
    timeline: list[tuple[float, float]] = []  # (probe sent, seconds into the phase; its ms)
    sink_delays: list[float] = []
    probes = 0
    stop = asyncio.Event()
    run_tag = f"{int(time.time())}"

    outstanding: list[tuple[str, float]] = []
    unanswered = 0
    sending_done = asyncio.Event()

    async def poller(session: aiohttp.ClientSession) -> None:
        nonlocal unanswered
        headers = {"Authorization": f"Bearer {TOKEN}"}
        while outstanding or not sending_done.is_set():
            if not outstanding:
                await asyncio.sleep(POLL_EVERY_S)
                continue
            user, sent = outstanding[0]
            if time.time() > sent + PROBE_DEADLINE_S:
                outstanding.pop(0)
                unanswered += 1
                latencies.append(PROBE_DEADLINE_S * 1000)
                timeline.append((sent - t_start, PROBE_DEADLINE_S * 1000))
                continue
            url = f"{worker.url}/counters/{user}?event=Probe"
            async with session.get(url, headers=headers) as resp:
                ok = resp.status == 200 and (await resp.json())["events"]["Probe"]["lifetime"] >= 1
            if ok:
                latencies.append((time.time() - sent) * 1000)
                timeline.append((sent - t_start, latencies[-1]))
                outstanding.pop(0)
                continue  # the next probe may be readable already: ask at once
            await asyncio.sleep(POLL_EVERY_S)

    async def read_sink() -> None:
        while not stop.is_set():
            batches = await sink.getmany(timeout_ms=200)
            now_ms = time.time() * 1000
            for records in batches.values():
                for record in records:
                    start_ms = orjson.loads(record.key)[-1]
                    closable_ms = start_ms + MINUTE_WINDOW_END_PLUS_GRACE_MS
                    if closable_ms > started_ms:  # a window of this phase, not an older one
                        sink_delays.append(now_ms - closable_ms)

    started_ms = time.time() * 1000
    sink_task = asyncio.create_task(read_sink())
    events = generate(10**9, seed=9, base_ms=0)
    # The generator builds its users on the first call (~0.4 s): do that before the clock
    # starts, or the sending and the polling (one event loop) stall at the start of the phase.
    events = itertools.chain([next(events)], events)
    sent_events = 0
    async with aiohttp.ClientSession() as session:
        poll_task = asyncio.create_task(poller(session))
        t_start = time.time()
        next_probe = t_start
        probe_n = 0
        while (now := time.time()) < t_start + seconds:
            due = int((now - t_start) * rate) - sent_events
            for _ in range(max(0, due)):
                key, value = next(events)
                try:
                    obj = orjson.loads(value)
                    obj["timestamp"] = _iso_now()
                    obj["messageId"] = f"lat-{run_tag}-{sent_events}"
                    value = orjson.dumps(obj)
                except orjson.JSONDecodeError:
                    pass
                await producer.send(dep.topic("events"), value, key=key)
                sent_events += 1
            if now >= next_probe:
                probe_n += 1
                user = f"probe-{run_tag}-{probe_n}"
                probe = {
                    "type": "track",
                    "event": "Probe",
                    "userId": user,
                    "messageId": f"probe-{run_tag}-{probe_n}",
                    "timestamp": _iso_now(),
                    "properties": {"n": probe_n},
                }
                sent = time.time()
                await producer.send(dep.topic("events"), orjson.dumps(probe), key=user.encode())
                outstanding.append((user, sent))
                probes += 1
                next_probe += PROBE_EVERY_S
            await asyncio.sleep(0.005)
        await producer.flush()
        sending_done.set()
        await poll_task
    stop.set()
    await sink_task
    await sink.stop()
    await producer.stop()
    out: dict[str, Any] = {
        "offered_rate": rate,
        "probes": probes,
        "probes_unanswered_in_30s": unanswered,
        "p50_ms": _pct(latencies, 50),
        "p95_ms": _pct(latencies, 95),
        "p99_ms": _pct(latencies, 99),
        "timeline": sorted(timeline),
    }
    if sink_delays:
        out["sink_p50_ms"] = _pct(sink_delays, 50)
        out["sink_p99_ms"] = _pct(sink_delays, 99)
        out["sink_windows"] = len(sink_delays)
    return out


def _iso_now() -> str:
    ms = int(time.time() * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"


def timeline_text(timeline: list[tuple[float, float]], bucket_s: float = 3.0) -> str:
    """Probe latency over the phase: median and worst per ``bucket_s`` of send time.

    Percentiles hide when the slow probes were sent; a burst (window closes at the start of the
    phase, a compaction, a commit stall) shows here as one or two bad buckets.
    """
    buckets: dict[int, list[float]] = {}
    for sent_s, ms in timeline:
        buckets.setdefault(int(sent_s // bucket_s), []).append(ms)
    parts = [
        f"{b * bucket_s:.0f}s: {statistics.median(v):.0f}/{max(v):.0f}"
        for b, v in sorted(buckets.items())
    ]
    return f"probe ms (median/max per {bucket_s:.0f} s of send time) " + ", ".join(parts)


def measure_latency(dep: Deployment, worker: Worker, rate: float, seconds: float) -> dict[str, Any]:
    """Offer ``rate`` events/s for ``seconds``; latency percentiles of the probes."""
    return asyncio.run(_run(dep, worker, rate, seconds))
