"""Operator commands end to end: the real `streamapp dlq list|retry` and `streamapp trace`
processes against real workers and the real broker.

One story, as an operator lives it: a worker started with too small a `STREAMAPP_MAX_EVENT_BYTES`
dead-letters big events (`too_large`); `dlq list` shows them and `trace` shows why; the worker is
restarted with the default limit; `dlq retry --reason too_large` re-drives them, each applied
exactly once, also for the two letters an earlier retry run "crashed" on (one after sending its
copy, one before); a second retry sends nothing.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from dataclasses import dataclass
from urllib.parse import quote

import orjson
from aiokafka.partitioner import DefaultPartitioner

from streamapp.ops.markers import Marker, MarkerState
from tests.support.kafka import Record, produce, read_all
from tests.support.settle import wait_drained
from tests.support.workers import REPO, STREAMAPP, Deployment, Worker, free_port, http_json

SMALL_LIMIT = {"STREAMAPP_MAX_EVENT_BYTES": "600", "STREAMAPP_TRACE_SAMPLE_RATE": "1"}
BIG = [
    {
        "type": "track",
        "userId": f"big-{n}",
        "event": "Uploaded",
        "messageId": f"big-m-{n}",
        # The Kafka record limit is STREAMAPP_MAX_EVENT_BYTES + 1 KB of slack: 2.5 KB is over it.
        "properties": {"blob": "x" * 2500, "n": n},
    }
    for n in range(3)
]
GOOD = {"type": "track", "userId": "small-1", "event": "Clicked", "messageId": "good-1"}
STAGE_TOPICS = ("events", "events.identify", "events.identified")


@dataclass
class Ran:
    status: int
    out: str
    err: str

    @property
    def lines(self) -> list[str]:
        return self.out.splitlines()


def cli(deployment: Deployment, *args: str) -> Ran:
    """Run `streamapp <args>` with the deployment's environment, as an operator would."""
    done = subprocess.run(
        [STREAMAPP, *args],
        env=deployment.env(free_port()),
        cwd=str(REPO),
        capture_output=True,
        text=True,
        timeout=60,
    )
    return Ran(done.returncode, done.stdout, done.stderr)


def _poll(what: str, check, timeout_s: float = 45.0, every_s: float = 0.5):
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last is not None and last is not False:
            return last
        time.sleep(every_s)
    raise AssertionError(f"{what}: not so after {timeout_s} s (last: {last!r})")


def _letters(deployment: Deployment, want: int) -> list[Record]:
    def enough() -> list[Record] | None:
        got = asyncio.run(read_all(deployment.bootstrap, deployment.topic("events.dlq")))
        return got if len(got) >= want else None

    return _poll(f"{want} dead letters", enough)


def _user(worker: Worker, token: str, user: str) -> tuple[int | None, int | None]:
    """(profile event_count, lifetime count of the user's one event name)."""
    status, profile = http_json(f"{worker.url}/profiles/{quote(user)}", token=token)
    status2, counters = http_json(f"{worker.url}/counters/{quote(user)}", token=token)
    if status != 200 or status2 != 200:
        return None, None
    lifetimes = [v.get("lifetime") for v in (counters.get("events") or {}).values()]
    return profile.get("event_count"), sum(lifetimes)


def _wait_counts(worker: Worker, token: str, users: list[str], want: tuple[int, int]) -> None:
    for user in users:
        _poll(f"{user} counted {want}", lambda u=user: _user(worker, token, u) == want)


def _pending(letter: Record, *, partitions: int, topic: str) -> Marker:
    """The marker an earlier `dlq retry` run would have left had it crashed mid-way, long ago."""
    partition = DefaultPartitioner()(letter.key, list(range(partitions)), [])
    at_ms = int(time.time() * 1000) - 300_000
    return Marker(MarkerState.PENDING, "crashed-run", at_ms, topic, partition, 0)


def test_dead_letters_are_listed_traced_and_retried_exactly_once(workers, deployment) -> None:
    events, dlq = deployment.topic("events"), deployment.topic("events.dlq")
    deployment.extra_env.update(SMALL_LIMIT)
    worker = workers()
    worker.wait_ready(topic=events)
    items = [(b"small-1", orjson.dumps(GOOD)), (b"junk", b"{nope")]
    items += [(f"big-{n}".encode(), orjson.dumps(body)) for n, body in enumerate(BIG)]
    asyncio.run(produce(deployment.bootstrap, events, items))
    letters = _letters(deployment, 4)
    big = sorted(
        (x for x in letters if x.headers["streamapp-reason"] == b"too_large"),
        key=lambda x: x.key,
    )
    assert [x.key for x in big] == [b"big-0", b"big-1", b"big-2"]
    _wait_counts(worker, deployment.token, ["small-1"], (1, 1))

    # (b) dlq list: one line per letter, with reason, origin and a preview of the bytes.
    listed = cli(deployment, "dlq", "list")
    assert listed.status == 0, listed.err
    assert len(listed.lines) == 4 and "4 of 4 matching letters shown" in listed.err
    for line in listed.lines:
        assert f"{events}/" in line and "validate" in line
    assert sum('{"type":"track","userId":"big-' in line for line in listed.lines) == 3
    assert any("not_json" in line and line.endswith("{nope") for line in listed.lines)
    as_json = cli(deployment, "dlq", "list", "--reason", "too_large", "--json", "--limit", "2")
    rows = [json.loads(line) for line in as_json.lines]
    assert len(rows) == 2 and "2 of 3 matching letters shown" in as_json.err
    for row in rows:
        assert row["reason"] == "too_large" and row["origin_topic"] == events
        assert row["retried"] is False and row["preview"].endswith("…")
        assert row["dlq_offset"] >= 0 and row["correlation_id"].startswith(f"{events}/")

    # (c) trace: a sampled event through every stage; a rejected one with its rejection.
    def traced_through_profiles() -> Ran | None:
        ran = cli(deployment, "trace", "good-1")
        return ran if ran.status == 0 and "profiles" in ran.out else None

    good = _poll("good-1 traced through profiles", traced_through_profiles)
    steps = good.lines[1:]
    assert [line.split()[1] for line in steps] == ["validate", "identify", "profiles"], good.out
    assert "accepted on" in steps[0] and f"{events} " in steps[0]
    assert "identified as small-1" in steps[1]
    assert "applied to user small-1" in steps[2]
    rejected_cid = big[0].headers["streamapp-cid"].decode()
    rejected = cli(deployment, "trace", rejected_cid)
    assert rejected.status == 0, rejected.err
    assert [line.split()[1] for line in rejected.lines[1:]] == ["validate", "dlq"]
    assert "rejected too_large: record is 2" in rejected.lines[1]
    assert "dead-lettered too_large by validate" in rejected.lines[2]
    unknown = cli(deployment, "trace", "no-such-event")
    assert unknown.status == 1 and "nothing found for correlation id 'no-such-event'" in unknown.err

    # (a) restart with the default limit, then retry. An earlier retry run "crashed" on two of the
    # letters: after sending the copy of big-0 and before sending big-1's.
    worker.stop()
    del deployment.extra_env["STREAMAPP_MAX_EVENT_BYTES"]  # back to the default, 32 KB
    worker = workers(port=worker.port)
    worker.wait_ready(topic=events)
    markers = deployment.topic("streamapp.dlq-retries")
    keys = [f"{x.partition}:{x.offset}".encode() for x in big]
    pending = [_pending(x, partitions=deployment.partitions, topic=events) for x in big[:2]]
    asyncio.run(produce(deployment.bootstrap, markers, [(keys[0], pending[0].to_bytes())]))
    asyncio.run(produce(deployment.bootstrap, markers, [(keys[1], pending[1].to_bytes())]))
    copy_headers = [
        ("streamapp-cid", big[0].headers["streamapp-cid"]),
        ("streamapp-retry-of", keys[0]),
    ]
    asyncio.run(produce(deployment.bootstrap, events, [(big[0].key, big[0].value)], copy_headers))

    first = cli(deployment, "dlq", "retry", "--reason", "too_large")
    assert first.status == 0, first.err
    assert first.lines[-1] == (
        "retry: 2 sent, 1 already retried, 0 skipped (1 completed from an interrupted run)"
    ), first.out
    assert sum(line.startswith("sent ") for line in first.lines) == 2
    assert any(line.startswith(f"found {keys[0].decode()} ") for line in first.lines)

    users = [f"big-{n}" for n in range(3)]
    _wait_counts(worker, deployment.token, users, (1, 1))
    wait_drained(
        deployment.bootstrap,
        f"{deployment.prefix}app",
        [deployment.topic(t) for t in STAGE_TOPICS],
        timeout_s=60,
    )
    assert [_user(worker, deployment.token, u) for u in users] == [(1, 1)] * 3

    copies = [
        r
        for r in asyncio.run(read_all(deployment.bootstrap, events))
        if "streamapp-retry-of" in r.headers
    ]
    assert sorted(r.headers["streamapp-retry-of"] for r in copies) == sorted(keys)
    for letter in big:
        (copy,) = [c for c in copies if c.key == letter.key]
        assert copy.value == letter.value  # byte for byte
        assert copy.headers["streamapp-cid"] == letter.headers["streamapp-cid"]

    again = cli(deployment, "dlq", "retry", "--reason", "too_large")
    assert again.status == 0, again.err
    assert again.lines == ["retry: 0 sent, 3 already retried, 0 skipped"]
    after = cli(deployment, "dlq", "list", "--reason", "too_large")
    assert len(after.lines) == 3 and all(" retried " in line for line in after.lines)
    # trace follows a retried letter to its copy, which validate names by its messageId.
    chain = cli(deployment, "trace", big[1].headers["streamapp-cid"].decode())
    stages = [line.split()[1] for line in chain.lines[1:]]
    assert stages == ["validate", "dlq", "retry", "validate", "identify", "profiles"], chain.out
    assert "its path goes on as correlation id big-m-1" in chain.lines[3]
    assert "applied to user big-1" in chain.lines[6]
    assert len(asyncio.run(read_all(deployment.bootstrap, dlq))) == 4  # nothing refused again
    print("\n".join(["", *listed.lines, *good.lines, *first.lines, *again.lines, *chain.lines]))
