"""Time for a fresh streamapp worker to rebuild a 1,000,000-key profile table from its changelog.

The changelog is filled directly (much faster than pushing a million users through the
pipeline) with values encoded by streamapp's own classes (:class:`UserState`, :class:`Profile`,
:func:`add_event`), keyed by user id and partitioned by the same murmur2 hash the pipeline's
producer uses, so each key lands where the worker's routing looks for it. A worker that has no
local state then starts; the clock runs from its process start until a random sample of keys
answers ``GET /counters/<id>`` with the exact counts that were written.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import time
from collections.abc import Iterator
from typing import Any

from benchmarks.kafka_io import preload
from benchmarks.streamapp_system import Deployment, get_json, start_worker, wait_ready
from streamapp.counters.counters import Counters, add_event
from streamapp.profiles.profile import LastEvent, Profile
from streamapp.profiles.user_state import UserState

SAMPLE = 300
DAYS_RETAINED = 90
NAMES = ("Product Viewed", "Page Viewed", "Order Completed")


def _count_of(i: int, name_index: int) -> int:
    return 1 + (i * 7 + name_index * 3) % 11


def user_state(i: int, now_ms: int) -> tuple[bytes, bytes]:
    """The changelog record of user ``i``: key and the value the profiles stage would write."""
    uid = f"rb-user-{i:07d}"
    counters = Counters()
    total = 0
    for j, name in enumerate(NAMES):
        n = _count_of(i, j)
        counters = add_event(counters, name, now_ms - j * 86_400_000, DAYS_RETAINED, n)
        total += n
    profile = Profile(
        user_id=uid,
        traits={"email": f"{uid}@example.com", "plan": ("free", "pro", "team")[i % 11 % 3]},
        trait_times={"email": now_ms - 3_600_000, "plan": now_ms - 3_600_000},
        first_seen_ms=now_ms - 3 * 86_400_000,
        last_seen_ms=now_ms,
        event_count=total,
        known_ids={f"anon-{i:07d}": now_ms - 3 * 86_400_000},
        last_event=LastEvent(NAMES[0], now_ms, f"rb-{i:07d}"),
        identified=True,
    )
    return uid.encode(), UserState(profile, counters).to_bytes()


def _records(n: int, now_ms: int) -> Iterator[tuple[bytes, bytes]]:
    # Counts depend on i mod 11 only: encode 11 templates with the real classes, then put each
    # user's id (same width) in place, 100x faster than building a million objects.
    templates = {r: user_state(r, now_ms) for r in range(min(11, n))}
    for i in range(n):
        key, value = templates[i % 11]
        uid = f"rb-user-{i:07d}".encode()
        value = value.replace(key, uid)
        value = value.replace(f'"anon-{i % 11:07d}"'.encode(), f'"anon-{i:07d}"'.encode())
        value = value.replace(f'"rb-{i % 11:07d}"'.encode(), f'"rb-{i:07d}"'.encode())
        yield uid, value


def measure_rebuild(dep: Deployment, keys: int, timeout_s: float = 900.0) -> dict[str, Any]:
    """Fill the profiles changelog with ``keys`` users; time a fresh worker's rebuild."""
    # A first worker creates the deployment's topics (changelogs included), then goes away.
    first = start_worker(dep)
    wait_ready(first, dep.topic("events.identified"))
    first.stop()
    shutil.rmtree(dep.data_dir, ignore_errors=True)
    now_ms = int(time.time() * 1000)
    changelog = f"{dep.app_id}-profiles-changelog"
    started = time.time()
    asyncio.run(preload(dep.bootstrap, changelog, _records(keys, now_ms)))
    fill_s = time.time() - started

    rng = random.Random(1)
    sample = sorted(rng.sample(range(keys), min(SAMPLE, keys)))
    t0 = time.time()
    worker = start_worker(dep)
    try:
        deadline = t0 + timeout_s
        pending = list(sample)
        while pending and time.time() < deadline:
            if worker.proc.poll() is not None:
                raise RuntimeError(f"rebuild worker exited; logs in {dep.data_dir}")
            i = pending[0]
            status, body = get_json(f"{worker.url}/counters/rb-user-{i:07d}", timeout_s=10)
            if status == 200 and _matches(body, i):
                pending.pop(0)
                continue
            if status == 200:
                raise RuntimeError(f"rebuilt key rb-user-{i:07d} answers wrong counts: {body}")
            time.sleep(0.1)
        if pending:
            raise RuntimeError(f"{len(pending)} sampled keys not answered in {timeout_s} s")
        rebuild_s = time.time() - t0
    finally:
        worker.stop()
        shutil.rmtree(dep.data_dir, ignore_errors=True)
    return {
        "rebuild_s": rebuild_s,
        "rebuild_keys": keys,
        "rebuild_sampled_keys_verified": len(sample),
        "rebuild_changelog_fill_s": fill_s,
    }


def _matches(body: Any, i: int) -> bool:
    events = body.get("events", {}) if isinstance(body, dict) else {}
    return all(
        events.get(name, {}).get("lifetime") == _count_of(i, j) for j, name in enumerate(NAMES)
    )
