"""The ``events_per_minute`` aggregate against the ground truth: every event in exactly one window.

``topologies/events_per_minute.py`` counts every call per name in one-minute tumbling windows of
event time. A scenario that streams its events out of time order cannot know in advance which
arrive after their window closed: those go to ``events.dlq`` with reason ``late``. So the check
is a conservation law, exact per window: for every (name, minute), the count in the sink (the
latest record per window key, as a compacting consumer sees it; re-emits are identical upserts)
equals the distinct events of that name and minute minus those dead-lettered as late. An event
counted twice, lost, or both counted and dead-lettered shows as a window that differs.

Read with plain aiokafka and fastavro (tests/support/avro_consumer), nothing of streamapp.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any
from urllib.parse import urlencode

import orjson
import requests

from streamapp.ingest.timestamps import parse_iso8601_ms
from tests.support.avro_consumer import decode, read_topic, schemas_from_records
from tests.support.groundtruth import Workload, event_name
from tests.support.settle import Reader
from tests.support.workers import Deployment

AGGREGATE = "events_per_minute"
MINUTE_MS = 60_000


def _distinct(workload: Workload) -> dict[str, tuple[str, int]]:
    """messageId -> (counter name, window start) of every distinct event sent."""
    out: dict[str, tuple[str, int]] = {}
    for planned in workload.planned:
        body = planned.body
        ts = parse_iso8601_ms(body["timestamp"])
        out[body["messageId"]] = (event_name(body), ts - ts % MINUTE_MS)
    return out


async def _read(deployment: Deployment) -> tuple[dict[tuple[str, int], int], list[str]]:
    schemas = schemas_from_records(
        await read_topic(deployment.bootstrap, deployment.topic("streamapp.schemas"), timeout_s=60)
    )
    latest: dict[bytes, Any] = {}
    sink = await read_topic(
        deployment.bootstrap, deployment.topic(f"aggregates.{AGGREGATE}"), timeout_s=120
    )
    for raw in sorted(sink, key=lambda r: (r.partition, r.offset)):
        record = decode(schemas, raw)
        latest[record.key] = record.value
    windows = {(str(v["event"]), int(v["window_start"])): int(v["events"]) for v in latest.values()}
    late: list[str] = []
    for letter in await read_topic(
        deployment.bootstrap, deployment.topic("events.dlq"), timeout_s=120
    ):
        headers = letter.headers
        if headers.get("streamapp-reason") == b"late" and (
            headers.get("streamapp-aggregate") == AGGREGATE.encode()
        ):
            late.append(str(orjson.loads(letter.value or b"{}").get("messageId")))
    return windows, late


def _state_of(reader: Reader, url: str, name: str, start: int) -> str:
    """What ``GET /aggregates`` says of one window: open (with its count), closed, or absent."""
    query = urlencode({"key": name, "from": start, "to": start + 1})
    status, body = reader.get(f"{url}/aggregates/{AGGREGATE}?{query}")
    if status != 200 or not isinstance(body, dict):
        return f"GET {status}"
    for window in body.get("windows") or []:
        if int(window.get("window_start", -1)) == start:
            return f"{'closed' if window.get('closed') else 'open'} events={window.get('events')}"
    return "absent"


def check_events_per_minute(
    deployment: Deployment,
    workload: Workload,
    *,
    timeout_s: float,
    reader: Reader | None = None,
    url: str = "",
) -> dict[str, Any]:
    """Poll the sink until every window equals the ground truth or ``timeout_s`` passes; figures."""
    distinct = _distinct(workload)
    deadline = time.monotonic() + timeout_s
    while True:
        windows, late = asyncio.run(_read(deployment))
        late_ids = set(late)
        expected: Counter[tuple[str, int]] = Counter(
            where for mid, where in distinct.items() if mid not in late_ids
        )
        wrong = {
            key: (expected.get(key, 0), windows.get(key, 0))
            for key in set(expected) | set(windows)
            if expected.get(key, 0) != windows.get(key, 0)
        }
        if not wrong or time.monotonic() > deadline:
            break
        time.sleep(3)
    states: Counter[str] = Counter()
    if reader is not None and url:
        for name, start in sorted(wrong)[:50]:
            states[_state_of(reader, url, name, start).split(" events=")[0]] += 1
    return {
        "aggregate": AGGREGATE,
        "aggregate_wrong_windows_as_served": dict(states),
        "aggregate_windows": len(expected),
        "aggregate_windows_wrong": len(wrong),
        "aggregate_wrong_examples": sorted(
            (f"{name}@{start}", want, got) for (name, start), (want, got) in wrong.items()
        )[:5],
        "aggregate_events_in_windows": sum(windows.values()),
        "aggregate_late_dead_letters": len(late),
        "aggregate_late_events": len(late_ids),
        "aggregate_unknown_late_ids": len(late_ids - set(distinct)),
    }


def window_replays_skipped(urls: list[str]) -> int:
    """``streamapp_replays_skipped_total`` of the window stages, summed over the given workers.

    A record the windows stage takes for a replay is skipped without a dead letter; in a run
    without crashes there are no replays, so any count here is an event dropped as one.
    Counters restart with a worker: after kills this is a lower bound.
    """
    total = 0.0
    for url in urls:
        try:
            text = requests.get(f"{url}/metrics", timeout=10).text
        except requests.RequestException:
            continue
        for line in text.splitlines():
            if line.startswith("streamapp_replays_skipped_total{") and "window" in line:
                total += float(line.rsplit(" ", 1)[1])
    return int(total)
