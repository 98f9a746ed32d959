"""Identity stitching, profiles and counters, exact against a ground truth the test computes.

Thousands of users, some anonymous first, send Segment calls through the Segment Python SDK (HTTP,
batched, gzip) and through kcat (straight onto the ``events`` topic, arbitrary keys), with some
messageIds sent twice. Every user's ``GET /profiles/{id}`` and ``GET /counters/{id}``, asked of
every worker, must then equal what the test derived from what it sent (tests/support/groundtruth):
across two workers sharing 8 partitions, across three SIGKILLs mid-stream, and after a worker
rebuilt its state from the changelog alone.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from tests.support.channels import send
from tests.support.groundtruth import (
    PHASE_AFTER,
    PHASE_BEFORE,
    PHASE_IDENTIFY,
    Planned,
    Workload,
    follow_up,
    generate,
)
from tests.support.kafka import read_all
from tests.support.settle import (
    Reader,
    metric,
    show,
    verify_everywhere,
    wait_drained,
    wait_exact,
    wait_profiles,
    wait_split,
)
from tests.support.workers import Deployment, Worker

PARTITIONS = 8
STAGE_TOPICS = ("events", "events.identify", "events.identified")
# A SIGKILLed worker stays a member of the consumer group until its session times out; 6 s keeps
# three kills inside the time budget (the default is 10 s).
FAST_FAILOVER = {"STREAMAPP_SESSION_TIMEOUT_S": "6"}


def _send(deployment: Deployment, planned: Sequence[Planned], sdk_urls: Sequence[str]) -> None:
    send(
        planned,
        sdk_urls=sdk_urls,
        write_key=deployment.write_key,
        bootstrap=deployment.bootstrap,
        topic=deployment.topic("events"),
    )


def _drained(deployment: Deployment) -> None:
    topics = [deployment.topic(name) for name in STAGE_TOPICS]
    wait_drained(deployment.bootstrap, f"{deployment.prefix}app", topics, timeout_s=90)


def _pair(workers: Callable[..., Worker], deployment: Deployment) -> list[Worker]:
    deployment.partitions = PARTITIONS
    pair = [workers(), workers()]
    split = wait_split(pair, deployment.topic("events"), PARTITIONS)
    print(f"\npartitions of events per worker: {split}")
    return pair


def _describe(workload: Workload) -> str:
    sdk = sum(1 for p in workload.planned if p.channel == "sdk")
    return (
        f"{workload.distinct_events} events + {workload.duplicates} duplicate messageIds "
        f"for {len(workload.expected)} users ({len(workload.stitched)} anonymous first); "
        f"{sdk} via the SDK, {len(workload.planned) - sdk} via kcat"
    )


def test_profiles_and_counters_equal_ground_truth_on_every_worker(workers, deployment) -> None:
    pair = _pair(workers, deployment)
    urls = [w.url for w in pair]
    workload = generate(seed=20_000, users=2_000, events=20_000)
    print(_describe(workload))
    started = time.monotonic()
    with Reader(deployment.token) as reader:
        # 1. Only anonymous ids so far: each answers its own profile, counted under A.
        _send(deployment, workload.phase(PHASE_BEFORE), urls)
        before = {
            a: {"user_id": a, "event_count": workload.expected[u].anonymous_before}
            for a, u in workload.stitched.items()
        }
        wait_profiles(reader, urls, before, timeout_s=120)
        # 2. The identify calls: A -> U. A now answers U's profile.
        _send(deployment, workload.phase(PHASE_IDENTIFY), urls)
        bound = {a: {"user_id": u, "requested_id": a} for a, u in workload.stitched.items()}
        wait_profiles(reader, urls, bound, timeout_s=120)
        # 3. The rest: userId events, more anonymous-only events of A, late retries, identifies.
        _send(deployment, workload.phase(PHASE_AFTER), urls)
        sent_s = time.monotonic() - started
        settle_s = wait_exact(reader, urls, workload, timeout_s=150)
        _drained(deployment)
        diffs = verify_everywhere(reader, pair, workload)
    dropped = sum(metric(w, "streamapp_duplicates_dropped_total") for w in pair)
    print(
        f"sent in {sent_s:.1f} s (with the two waits between phases); the last phase settled "
        f"{settle_s:.1f} s after it was sent; {dropped:.0f} duplicates dropped"
    )
    assert not diffs, show(diffs, workload)


def _chunks(workload: Workload) -> list[list[Planned]]:
    """Five chunks in phase order: before (2), identify (1), after (2)."""
    out: list[list[Planned]] = []
    for phase, parts in ((PHASE_BEFORE, 2), (PHASE_IDENTIFY, 1), (PHASE_AFTER, 2)):
        planned = workload.phase(phase)
        size = -(-len(planned) // parts)
        out += [planned[i : i + size] for i in range(0, len(planned), size)]
    return out


def _processed(worker: Worker) -> float:
    return metric(worker, "streamapp_stage_events_total", 'stage="profiles"')


def test_sigkill_three_times_mid_stream_still_exact(workers, deployment) -> None:
    deployment.extra_env.update(FAST_FAILOVER)
    pair = _pair(workers, deployment)
    workload = generate(seed=10_000, users=1_000, events=10_000, tag="k")
    print(_describe(workload))
    kills = {1: 0, 2: 1, 3: 0}  # chunk -> the worker SIGKILLed while that chunk flows
    started = time.monotonic()
    for index, chunk in enumerate(_chunks(workload)):
        victim = kills.get(index)
        if victim is None:
            _send(deployment, chunk, [w.url for w in pair])
            continue
        survivor = pair[1 - victim]
        baseline = _processed(pair[victim])
        with ThreadPoolExecutor(1) as pool:
            sending = pool.submit(_send, deployment, chunk, [survivor.url])
            # Mid-stream: the victim is applying this chunk's records to its tables right now.
            deadline = time.monotonic() + 60
            while _processed(pair[victim]) < baseline + 100 and time.monotonic() < deadline:
                time.sleep(0.02)
            done = _processed(pair[victim]) - baseline
            assert done >= 100, f"worker {pair[victim].port} did not start on chunk {index}"
            pair[victim].kill()
            print(
                f"chunk {index} ({len(chunk)} calls): SIGKILL worker {pair[victim].port} "
                f"after it applied {done:.0f} records of it"
            )
            pair[victim] = workers(port=pair[victim].port)
            sending.result()
        wait_split(pair, deployment.topic("events"), PARTITIONS)
    sent_s = time.monotonic() - started
    with Reader(deployment.token) as reader:
        settle_s = wait_exact(reader, [w.url for w in pair], workload, timeout_s=150)
        _drained(deployment)
        diffs = verify_everywhere(reader, pair, workload)
    print(f"sent (with 3 kills and restarts) in {sent_s:.1f} s; settled {settle_s:.1f} s later")
    assert not diffs, show(diffs, workload)


async def _distinct_keys(bootstrap: str, topic: str) -> int:
    return len({r.key for r in await read_all(bootstrap, topic, timeout_s=30)})


def test_worker_rebuilds_from_changelog_after_local_state_deleted(workers, deployment) -> None:
    worker = workers()
    worker.wait_ready(topic=deployment.topic("events"))
    workload = generate(seed=5_000, users=1_000, events=10_000, tag="r")
    print(f"\n{_describe(workload)}")
    with Reader(deployment.token) as reader:
        for phase in (PHASE_BEFORE, PHASE_IDENTIFY, PHASE_AFTER):
            _send(deployment, workload.phase(phase), [worker.url])
        wait_exact(reader, [worker.url], workload, timeout_s=150)
        _drained(deployment)

        worker.stop()
        local = deployment.data_dir / f"worker-{worker.port}"
        assert local.is_dir() and any(local.rglob("*"))
        shutil.rmtree(local)
        # Every changelog partition goes through the bulk restore (streamapp.state.bulk_restore),
        # not only the long ones: then Faust's recovery reads the rest, as in production.
        deployment.extra_env["STREAMAPP_BULK_RESTORE_MIN_RECORDS"] = "1"
        started = time.monotonic()
        worker = workers(port=worker.port)
        wait_exact(reader, [worker.url], workload, timeout_s=150)
        rebuild_s = time.monotonic() - started
        bulk = [
            line for line in worker.log_path.read_text().splitlines() if "bulk-restored" in line
        ]
        assert any("-profiles-changelog" in line for line in bulk), worker.log_tail()
        assert any("-identities-changelog" in line for line in bulk), worker.log_tail()
        diffs = verify_everywhere(reader, [worker], workload)
        assert not diffs, show(diffs, workload)
        assert local.is_dir()

        # The rebuilt identities table still binds A -> U and still remembers messageIds.
        more = follow_up(workload, seed=5_001, tag="r2", resend=200)
        _send(deployment, more, [worker.url])
        wait_exact(reader, [worker.url], workload, timeout_s=60)
        _drained(deployment)
        diffs = verify_everywhere(reader, [worker], workload)
    assert not diffs, show(diffs, workload)
    keys = {
        table: asyncio.run(
            _distinct_keys(deployment.bootstrap, f"{deployment.prefix}app-{table}-changelog")
        )
        for table in ("profiles", "identities")
    }
    print(
        f"rebuilt from the changelog: all {len(workload.expected) + len(workload.stitched)} ids "
        f"answered exactly {rebuild_s:.1f} s after the process started; "
        f"distinct keys in the changelogs: {keys}"
    )
