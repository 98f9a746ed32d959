"""Read every user's profile and counters over HTTP and compare them with the ground truth.

:func:`wait_exact` polls until every user (and every stitched anonymous id) answers what the
ground truth says, then returns how long that took; on timeout it fails showing a few diffs.
:func:`wait_drained` waits until the deployment's consumer group has committed every record of
the pipeline's topics, so that a check made afterwards sees the final state, not a passing one.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote

import requests
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from streamapp.topics import validate_group
from tests.support.groundtruth import Expected, Workload
from tests.support.workers import Worker

Answer = tuple[int, Any]


class Reader:
    """Parallel GETs with the bearer token, one keep-alive session per thread."""

    def __init__(self, token: str, threads: int = 12) -> None:
        self.token = token
        self.pool = ThreadPoolExecutor(threads)
        self.local = threading.local()

    def close(self) -> None:
        self.pool.shutdown()

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, url: str) -> Answer:
        session = getattr(self.local, "session", None)
        if session is None:
            session = self.local.session = requests.Session()
            session.headers["Authorization"] = f"Bearer {self.token}"
        try:
            resp = session.get(url, timeout=15)
        except requests.RequestException as exc:
            return 0, repr(exc)
        try:
            return resp.status_code, resp.json()
        except ValueError:
            return resp.status_code, resp.text

    def user(self, base_url: str, requested: str) -> tuple[Answer, Answer]:
        """``GET /profiles/{id}`` and ``GET /counters/{id}``."""
        quoted = quote(requested, safe="")
        profile = self.get(f"{base_url}/profiles/{quoted}")
        counters = self.get(f"{base_url}/counters/{quoted}")
        return profile, counters

    def map(self, fn: Callable[[str], Any], items: Iterable[str]) -> list[Any]:
        return list(self.pool.map(fn, items))


def diffs_of(expected: Expected, requested: str, profile: Answer, counters: Answer) -> list[str]:
    """What the two answers for ``requested`` get wrong, as readable lines (empty: all right)."""
    out: list[str] = []
    status, body = profile
    if status != 200 or not isinstance(body, dict):
        out.append(f"{requested}: GET /profiles -> {status} {str(body)[:200]}")
    else:
        want = {
            "user_id": expected.user_id,
            "requested_id": requested,
            "identified": True,
            "event_count": expected.event_count,
            "traits": expected.traits,
            "known_ids": sorted(expected.known_ids),
        }
        got = {key: body.get(key) for key in want}
        if got != want:
            wrong = {k: {"want": want[k], "got": got[k]} for k in want if want[k] != got[k]}
            out.append(f"{requested}: profile {wrong}")
    status, body = counters
    if status != 200 or not isinstance(body, dict):
        out.append(f"{requested}: GET /counters -> {status} {str(body)[:200]}")
    else:
        got_counts = {name: v.get("lifetime") for name, v in (body.get("events") or {}).items()}
        got_ids = (body.get("user_id"), body.get("requested_id"))
        if got_counts != dict(expected.counts) or got_ids != (expected.user_id, requested):
            want_counts = dict(sorted(expected.counts.items()))
            out.append(
                f"{requested}: counters want {expected.user_id} {want_counts}"
                f", got {got_ids[0]} {dict(sorted(got_counts.items()))}"
            )
    return out


def targets(workload: Workload) -> dict[str, Expected]:
    """Every id to ask about: each user id, and each stitched anonymous id (answers its user)."""
    out = dict(workload.expected)
    for anonymous, user in workload.stitched.items():
        out[anonymous] = workload.expected[user]
    return out


def check(
    reader: Reader, base_url: str, expected: dict[str, Expected], ids: Iterable[str]
) -> dict[str, list[str]]:
    """Ask one worker about ``ids``; return the diffs of the ids it got wrong."""

    def one(requested: str) -> tuple[str, list[str]]:
        profile, counters = reader.user(base_url, requested)
        return requested, diffs_of(expected[requested], requested, profile, counters)

    return {rid: d for rid, d in reader.map(one, list(ids)) if d}


def wait_exact(
    reader: Reader,
    urls: Sequence[str],
    workload: Workload,
    *,
    timeout_s: float,
    poll_s: float = 0.5,
) -> float:
    """Poll (workers in turn) until every id answers the ground truth; return the seconds taken.

    An id that answered right once is not asked again here: the final word is a full check after
    :func:`wait_drained`.
    """
    expected = targets(workload)
    pending = set(expected)
    started = time.monotonic()
    deadline = started + timeout_s
    diffs: dict[str, list[str]] = {}
    rounds = 0
    while pending:
        diffs = check(reader, urls[rounds % len(urls)], expected, sorted(pending))
        pending = set(diffs)
        rounds += 1
        if not pending:
            break
        if time.monotonic() > deadline:
            shown = "\n".join(line for rid in sorted(diffs)[:8] for line in diffs[rid])
            raise AssertionError(
                f"{len(pending)} of {len(expected)} ids still differ from the ground truth "
                f"after {timeout_s:.0f} s, e.g.:\n{shown}"
            )
        time.sleep(poll_s)
    return time.monotonic() - started


def verify_everywhere(
    reader: Reader, workers: Sequence[Worker], workload: Workload
) -> dict[tuple[int, str], list[str]]:
    """Ask every worker about every id once; return all diffs, keyed (worker port, id)."""
    expected = targets(workload)
    out: dict[tuple[int, str], list[str]] = {}
    for worker in workers:
        for rid, d in check(reader, worker.url, expected, sorted(expected)).items():
            out[(worker.port, rid)] = d
    return out


def _kind(line: str) -> str:
    """A diff line's category: ``GET /profiles -> 503``, ``profile event_count``, ``counters``."""
    _, _, rest = line.partition(": ")
    if rest.startswith("GET "):
        return rest.split(" {", 1)[0].split(" '", 1)[0][:40]
    if rest.startswith("profile "):
        return "profile " + ",".join(re.findall(r"'(\w+)': \{'want'", rest))
    return rest.split(" ", 1)[0]


def show(diffs: dict[tuple[int, str], list[str]], workload: Workload, limit: int = 10) -> str:
    """A failure message: wrong answers counted by worker, kind of id and kind of error."""
    tally: Counter[str] = Counter()
    for (port, rid), lines in diffs.items():
        who = "anonymous id" if rid in workload.stitched else "user id"
        for line in lines:
            tally[f"worker {port}, {who}: {_kind(line)}"] += 1
    summary = "\n".join(f"  {n:5d} x {what}" for what, n in sorted(tally.items()))
    examples = [
        f"  worker {port} {line}"
        for port, rid in sorted(diffs)[:limit]
        for line in diffs[(port, rid)]
    ]
    return (
        f"{len(diffs)} (worker, id) answers wrong, of {len(targets(workload))} ids per worker:\n"
        f"{summary}\n"
        "e.g.:\n" + "\n".join(examples)
    )


async def _lag(bootstrap: str, group: str, topics: Sequence[str]) -> dict[str, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await admin.start()
    await consumer.start()
    try:
        committed = await admin.list_consumer_group_offsets(group)
        committed.update(await admin.list_consumer_group_offsets(validate_group(group)))
        lag: dict[str, int] = {}
        for topic in topics:
            parts = consumer.partitions_for_topic(topic)
            if parts is None:
                await consumer._client.force_metadata_update()
                parts = consumer.partitions_for_topic(topic) or set()
            tps = [TopicPartition(topic, p) for p in sorted(parts)]
            ends = await consumer.end_offsets(tps)
            behind = 0
            for tp in tps:
                meta = committed.get(tp)
                done = meta.offset if meta is not None and meta.offset >= 0 else 0
                behind += max(0, ends[tp] - done)
            lag[topic] = behind
        return lag
    finally:
        await consumer.stop()
        await admin.close()


def wait_drained(
    bootstrap: str, group: str, topics: Sequence[str], *, timeout_s: float = 60.0
) -> None:
    """Wait until ``group`` has committed every record of ``topics`` (nothing left in flight).

    ``events`` is read by the validate stage's own group (:func:`validate_group` of ``group``),
    so its offsets count too.
    """
    deadline = time.monotonic() + timeout_s
    lag: dict[str, int] = {}
    while time.monotonic() < deadline:
        lag = asyncio.run(_lag(bootstrap, group, topics))
        if not any(lag.values()):
            return
        time.sleep(0.5)
    raise AssertionError(f"consumer group {group} still behind after {timeout_s:.0f} s: {lag}")


def wait_split(
    workers: Sequence[Worker], topic: str, partitions: int, *, timeout_s: float = 120.0
) -> dict[int, list[int]]:
    """Wait until the workers share ``topic``'s partitions (each some, all covered, no overlap)."""
    deadline = time.monotonic() + timeout_s
    seen: dict[int, list[int]] = {}
    while time.monotonic() < deadline:
        seen = {}
        for worker in workers:
            if worker.proc.poll() is not None:
                raise AssertionError(f"worker {worker.port} exited:\n{worker.log_tail()}")
            health = worker.health()
            if health is not None and not health.get("rebalancing"):
                seen[worker.port] = sorted(health["assigned"].get(topic, []))
        owned = [p for parts in seen.values() for p in parts]
        if (
            len(seen) == len(workers)
            and all(seen.values())
            and sorted(owned) == list(range(partitions))
        ):
            return seen
        time.sleep(0.3)
    raise AssertionError(f"partitions of {topic} not split between the workers: {seen}")


def wait_profiles(
    reader: Reader,
    urls: Sequence[str],
    want: dict[str, dict[str, Any]],
    *,
    timeout_s: float,
    poll_s: float = 0.5,
) -> float:
    """Poll until ``GET /profiles/{id}`` of every id has the wanted field values; return seconds."""
    pending = set(want)
    started = time.monotonic()
    rounds = 0
    wrong: dict[str, Any] = {}
    while pending:
        url = urls[rounds % len(urls)]
        rounds += 1

        def one(rid: str, url: str = url) -> tuple[str, Any]:
            status, body = reader.get(f"{url}/profiles/{quote(rid, safe='')}")
            if status != 200 or not isinstance(body, dict):
                return rid, (status, body)
            got = {k: body.get(k) for k in want[rid]}
            return rid, None if got == want[rid] else got

        wrong = {rid: got for rid, got in reader.map(one, sorted(pending)) if got is not None}
        pending = set(wrong)
        if pending and time.monotonic() - started > timeout_s:
            shown = [f"{rid}: want {want[rid]}, got {wrong[rid]}" for rid in sorted(wrong)[:8]]
            raise AssertionError(
                f"{len(wrong)} profiles not as wanted after {timeout_s:.0f} s:\n" + "\n".join(shown)
            )
        if pending:
            time.sleep(poll_s)
    return time.monotonic() - started


def metric(worker: Worker, name: str, labels: str = "") -> float:
    """One sample of the worker's ``/metrics`` (0 when absent or the worker does not answer)."""
    try:
        status, text = worker.get("/metrics")
    except OSError:
        return 0.0
    if status != 200 or not isinstance(text, str):
        return 0.0
    prefix = f"{name}{{{labels}}} " if labels else f"{name} "
    for line in text.splitlines():
        if line.startswith(prefix):
            return float(line[len(prefix) :])
    return 0.0
