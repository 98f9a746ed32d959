"""A window that counts thousands of distinct users, across a SIGKILL: exact, from chunk records.

One real worker, one aggregate counting distinct users in a one-hour window of a single key.
60,000 events of 60,000 users (kcat, 2 partitions) fill 30 chunk records of that window; the
worker is SIGKILLed and restarted, so the open window is restored from its entry and chunks; 200
more events (100 new users, 100 seen before) must then count exactly once each. ``GET
/aggregates`` shows the running values before the kill, after the restart and at the end.

Why 60,000: before chunks, every user lived inside the window's entry, rewritten whole on every
batch; at ~22 bytes per user id here that entry passes Kafka's 1 MB record limit near 45,000
users, the changelog write fails and the worker crash-loops (see :mod:`streamapp.windows.state`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.support.channels import send_kcat
from tests.support.workers import Deployment, Worker

DECL = """
from streamapp.windows.declare import Aggregate, Count, DistinctUsers, Tumbling

hourly_users = Aggregate(
    name="e2e_hourly_users",
    key=("properties.site",),
    window=Tumbling(size_s=3600),
    grace_s=60,
    measures=(Count(as_="events"), DistinctUsers(as_="users")),
)
"""
FIRST = 60_000  # 30 chunk records of 2,000 users; inline, ~1.3 MB


def _event(i: int, user: int, at_ms: int) -> tuple[str, dict[str, Any]]:
    uid = f"chunk-user-{user:06d}"
    body = {
        "type": "track",
        "event": "Seen",
        "userId": uid,
        "messageId": f"chunk-msg-{i:06d}",
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at_ms / 1000)) + "Z",
        "properties": {"site": "s1"},
    }
    return uid, body


def _open_window(worker: Worker, token: str) -> dict[str, Any] | None:
    status, body = worker.get("/aggregates/e2e_hourly_users?key=s1", token=token)
    if status != 200 or not isinstance(body, dict):
        return None
    open_windows = [w for w in body["windows"] if not w["closed"]]
    return open_windows[-1] if open_windows else None


def _wait_for(worker: Worker, token: str, events: int, users: int, timeout_s: float) -> float:
    started = time.monotonic()
    window: dict[str, Any] | None = None
    while time.monotonic() - started < timeout_s:
        window = _open_window(worker, token)
        if window is not None and window["events"] >= events:
            assert (window["events"], window["users"]) == (events, users), window
            return time.monotonic() - started
        time.sleep(0.5)
    raise AssertionError(f"window not at {events} events in {timeout_s} s: {window}")


def test_a_many_user_window_survives_a_sigkill_exactly(
    workers: Callable[..., Worker], deployment: Deployment, tmp_path: Path
) -> None:
    d = deployment
    d.partitions = 2
    topologies = tmp_path / "topologies"
    topologies.mkdir()
    (topologies / "e2e.py").write_text(DECL)
    d.extra_env["STREAMAPP_TOPOLOGIES_DIR"] = str(topologies)
    worker = workers()
    worker.wait_ready(timeout_s=120, topic=d.topic("events"))

    hour_ms = 3_600_000
    base_ms = (int(time.time() * 1000) // hour_ms) * hour_ms + 1_000  # inside the current hour
    send_kcat(d.bootstrap, d.topic("events"), [_event(i, i, base_ms + i) for i in range(FIRST)])
    filled_s = _wait_for(worker, d.token, FIRST, FIRST, timeout_s=300)

    worker.kill()
    restarted = workers(port=worker.port)
    restarted.wait_ready(timeout_s=120, topic=d.topic("events"))
    _wait_for(restarted, d.token, FIRST, FIRST, timeout_s=60)  # restored from the chunks

    more = [_event(FIRST + j, FIRST + j, base_ms + FIRST + j) for j in range(100)]  # new users
    more += [_event(FIRST + 100 + j, j, base_ms + FIRST + 100 + j) for j in range(100)]  # seen
    send_kcat(d.bootstrap, d.topic("events"), more)
    _wait_for(restarted, d.token, FIRST + 200, FIRST + 100, timeout_s=60)
    print(f"\n{FIRST} users counted in {filled_s:.1f} s; exact after a SIGKILL and 200 more events")
