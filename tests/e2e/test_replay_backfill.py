"""Backfill end to end: add an aggregate to a running pipeline, change another, rebuild both.

A worker runs two aggregates (``e2e_events_per_name``, ``e2e_plan_counts``) over a first stream
and stops with windows open; then the topology gains ``e2e_spend_per_plan`` and
``e2e_plan_counts`` gains measures (a new version). ``streamapp replay <name> --from earliest``
registers both backfills, a worker with the new topology takes over, the stream goes on where its
event time stopped (so windows straddle the cut), and goes on live while the commands back-fill;
one of them is killed mid-way and run again. The worker is restarted once while the new versions
hold.
While the changed aggregate's new version is backfilled, ``GET /aggregates`` answers from its old
version, kept running live: the old definition's values (no price measures) over every stream so
far, not the new version's partial. After the done-marker the new version answers, equal to the
ground truth. The new versions' sink records (plain fastavro, schemas from ``streamapp.schemas``)
must equal the ground truth over every stream, once per window; the untouched aggregate's
records equal its ground truth, once per window; and the profiles and counters of the first
stream's users are byte-for-byte what they were before the backfill.

Event times lie minutes in the past (the shuffle stays inside the grace); the last windows close
on the idle timeout.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from aiokafka import AIOKafkaConsumer, TopicPartition

from tests.support.avro_consumer import SinkRecord, SinkWatcher, read_topic
from tests.support.groundtruth import event_name
from tests.support.settle import wait_drained
from tests.support.window_stream import (
    AggregateSpec,
    Feeder,
    Sent,
    WindowKey,
    diff_windows,
    expected_windows,
    now_ms,
    plan_stream,
    play,
)
from tests.support.workers import STREAMAPP, Deployment, Worker, free_port

PER_NAME_DECL = """
events_per_name = Aggregate(
    name="e2e_events_per_name",
    key=("event",),
    window=Tumbling(size_s=10),
    grace_s=10,
    measures=(Count(), DistinctUsers()),
)
"""
PER_PLAN_DECL = """
spend_per_plan = Aggregate(
    name="e2e_spend_per_plan",
    events=("Product Added", "Order Completed"),
    key=("properties.plan",),
    window=Hopping(size_s=20, step_s=10),
    grace_s=10,
    measures=(Count(), Sum("properties.price"), Max("properties.price"), DistinctUsers()),
)
"""
PLAN_COUNTS_DECL = """
plan_counts = Aggregate(
    name="e2e_plan_counts",
    key=("properties.plan",),
    window=Tumbling(size_s=10),
    grace_s=10,
    measures=(Count(), DistinctUsers()),
)
"""
PLAN_COUNTS_CHANGED_DECL = """
plan_counts = Aggregate(
    name="e2e_plan_counts",
    key=("properties.plan",),
    window=Tumbling(size_s=10),
    grace_s=10,
    measures=(Count(), Sum("properties.price"), Max("properties.price"), DistinctUsers()),
)
"""
IMPORTS = (
    "from streamapp.windows.declare import Aggregate, Count, DistinctUsers, Hopping, Max, Sum, "
    "Tumbling\n"
)
PER_NAME = AggregateSpec(
    name="e2e_events_per_name", size_s=10, step_s=10, grace_s=10, key_field="event",
    key=lambda s: s.name,
)  # fmt: skip
PER_PLAN = AggregateSpec(
    name="e2e_spend_per_plan",
    size_s=20,
    step_s=10,
    grace_s=10,
    key_field="plan",
    key=lambda s: s.plan,
    events=frozenset({"Product Added", "Order Completed"}),
    price_measures=True,
)
PLAN_COUNTS = AggregateSpec(
    name="e2e_plan_counts", size_s=10, step_s=10, grace_s=10, key_field="plan",
    key=lambda s: s.plan, price_measures=True,
)  # fmt: skip
"""The changed version (it gained the price measures); the ground truth of its new version."""
PLAN_COUNTS_OLD = AggregateSpec(
    name="e2e_plan_counts", size_s=10, step_s=10, grace_s=10, key_field="plan",
    key=lambda s: s.plan,
)  # fmt: skip
"""The version before the change: what answers while the new one is backfilled."""
SPECS = (PER_NAME, PER_PLAN, PLAN_COUNTS)
BACKFILLED = (PER_PLAN, PLAN_COUNTS)
MAX_SHUFFLE_MS = 1500
"""Send order differs from event time order by at most this. The grace (10 s) leaves the rest
for the pipeline's own skew between partitions on a loaded machine."""


def _play(f: Feeder, seed: int, tag: str, seconds: int, shift_ms: int) -> tuple[list[Sent], int]:
    """Send ``seconds * 80`` calls in real time, event times shifted by ``shift_ms`` from the
    wall clock; return them and the event time the stream ended at (where the next may go on).

    Real time, so no partition runs ahead of another by more than the shuffle (the watermark is
    per owning partition); in the past, to show that event time is what counts.
    """
    plan = plan_stream(
        seed=seed, tag=tag, duration_s=seconds, per_s=80, max_lag_ms=MAX_SHUFFLE_MS, users=30
    )
    base = now_ms()
    return play(f, plan, base, time_shift_ms=shift_ms), base + shift_ms + seconds * 1000


def _start(
    start_worker: Callable[..., Worker], d: Deployment, specs: tuple[AggregateSpec, ...]
) -> Worker:
    """A worker owning every partition of ``events`` and of the aggregates' windows topics."""
    worker = start_worker()
    needed = [d.topic("events"), d.topic("events.identified")]
    needed += [d.topic(f"windows.{s.name}") for s in specs]
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline:
        health = worker.wait_ready(timeout_s=max(1.0, deadline - time.monotonic()))
        if all(len(health["assigned"].get(t, [])) == d.partitions for t in needed):
            return worker
        time.sleep(0.5)
    raise AssertionError(f"worker never owned {needed}:\n{worker.log_tail()}")


def _replay(d: Deployment, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [STREAMAPP, "replay", *args],
        env=d.env(free_port()),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _by_window(
    spec: AggregateSpec, records: list[SinkRecord], version: str | None = None
) -> dict[WindowKey, list[SinkRecord]]:
    """The records (of ``version``, or all) by window."""
    out: dict[WindowKey, list[SinkRecord]] = defaultdict(list)
    for r in records:
        if version is None or r.value["aggregate_version"] == version:
            out[(str(r.value[spec.key_field]), int(r.value["window_start"]))].append(r)
    return out


def _measures(record: SinkRecord) -> dict[str, Any]:
    return {k: v for k, v in record.value.items() if k != "aggregate_version"}


def _wait_sink(
    watcher: SinkWatcher, d: Deployment, expected: dict[str, dict[WindowKey, dict[str, Any]]],
    timeout_s: float, versions: dict[str, str] | None = None,
) -> None:  # fmt: skip
    """Until every expected window is on its sink topic (in ``versions[name]`` if given), then
    3 s more (to catch repeats)."""
    deadline = time.monotonic() + timeout_s
    versions = versions or {}
    while True:
        watcher.poll()
        missing = {
            spec.name: sorted(
                set(expected[spec.name])
                - set(_by_window(spec, _sink(watcher, d, spec), versions.get(spec.name)))
            )
            for spec in SPECS
            if spec.name in expected
        }
        if not any(missing.values()):
            break
        assert time.monotonic() < deadline, (
            f"windows missing on the sink: { {k: (len(v), v[:8]) for k, v in missing.items()} }"
        )
    settle = time.monotonic() + 3
    while time.monotonic() < settle:
        watcher.poll()


def _sink(watcher: SinkWatcher, d: Deployment, spec: AggregateSpec) -> list[SinkRecord]:
    return watcher.records[d.topic(f"aggregates.{spec.name}")]


def _assert_sink(
    watcher: SinkWatcher,
    d: Deployment,
    spec: AggregateSpec,
    expected: dict[WindowKey, dict[str, Any]],
    version: str | None = None,
) -> set[str]:
    """The sink topic holds exactly the expected windows (of ``version``, if given), once each;
    returns the versions seen."""
    grouped = _by_window(spec, _sink(watcher, d, spec), version)
    repeated = {k: len(v) for k, v in grouped.items() if len(v) > 1}
    assert not repeated, f"{spec.name}: windows on the sink more than once: {repeated}"
    problems = diff_windows(expected, {k: _measures(v[0]) for k, v in grouped.items()})
    assert not problems, f"{spec.name}: the sink differs from the ground truth:\n{problems}"
    return {r.value["aggregate_version"] for rs in grouped.values() for r in rs}


def _profiles(worker: Worker, d: Deployment, users: set[str]) -> dict[str, tuple[Any, Any]]:
    out = {}
    for user in sorted(users):
        _, profile = worker.get(f"/profiles/{quote(user)}", token=d.token)
        _, counters = worker.get(f"/counters/{quote(user)}", token=d.token)
        out[user] = (profile, counters)
    return out


def _expected_counts(sent: list[Sent]) -> dict[str, Counter[str]]:
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for s in sent:
        counts[s.user][event_name(s.body)] += 1
    return counts


def _wait_profiles(
    worker: Worker, d: Deployment, sent: list[Sent], timeout_s: float
) -> dict[str, tuple[Any, Any]]:
    """Until every user's event count and counters equal what was sent; return them."""
    expected = _expected_counts(sent)
    deadline = time.monotonic() + timeout_s
    while True:
        got = _profiles(worker, d, set(expected))
        wrong = [
            user
            for user, (profile, counters) in got.items()
            if not isinstance(profile, dict)
            or profile.get("event_count") != sum(expected[user].values())
            or {k: v["lifetime"] for k, v in counters["events"].items()} != dict(expected[user])
        ]
        if not wrong:
            return got
        assert time.monotonic() < deadline, f"profiles not exact: {wrong[:5]} {got[wrong[0]]}"
        time.sleep(1)


def _straddling(spec: AggregateSpec, before: list[Sent], after: list[Sent]) -> int:
    """How many windows hold calls from both lists."""
    sides: dict[WindowKey, set[int]] = defaultdict(set)
    for side, calls in enumerate((before, after)):
        for s in calls:
            key = spec.key(s)
            if key is not None and spec.selects(s):
                for start, _ in spec.windows(s.time_ms):
                    sides[(key, start)].add(side)
    return sum(1 for both in sides.values() if len(both) == 2)


def _answered(spec: AggregateSpec, body: dict[str, Any]) -> dict[WindowKey, dict[str, Any]]:
    """The windows of a ``GET /aggregates`` answer, as the ground truth states them."""
    return {
        (str(r[spec.key_field]), int(r["window_start"])): {
            k: v for k, v in r.items() if k not in ("closed", "aggregate_version")
        }
        for r in body["windows"]
    }


def _wait_answer(
    worker: Worker, d: Deployment, spec: AggregateSpec, key: str,
    expected: dict[WindowKey, dict[str, Any]], timeout_s: float, **fields: Any,
) -> dict[str, Any]:  # fmt: skip
    """Until ``GET /aggregates/<spec>?key=`` says ``fields`` and its windows equal ``expected``'s
    windows of ``key``; return the answer."""
    want = {k: v for k, v in expected.items() if k[0] == key}
    assert want, f"no window of {key!r} in the ground truth: nothing tested"
    query = f"/aggregates/{spec.name}?{urlencode({'key': key})}"
    deadline = time.monotonic() + timeout_s
    while True:
        status, body = worker.get(query, token=d.token)
        problem = f"status {status}: {body}"
        if status == 200:
            wrong = {f: body.get(f) for f, v in fields.items() if body.get(f) != v}
            problem = (
                f"{wrong} (want {fields})" if wrong else diff_windows(want, _answered(spec, body))
            )
            if not problem:
                return dict(body)
        assert time.monotonic() < deadline, f"{spec.name} answers wrong: {problem}"
        time.sleep(0.5)


class AnswerWatch:
    """Asks ``GET <query>`` every 0.1 s on a thread: which version answered, and when."""

    def __init__(self, worker: Worker, d: Deployment, query: str) -> None:
        self.answers: list[tuple[float, int, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(worker, d, query), daemon=True)

    def _run(self, worker: Worker, d: Deployment, query: str) -> None:
        while not self._stop.is_set():
            status, body = worker.get(query, token=d.token)
            self.answers.append((time.monotonic(), status, body))
            self._stop.wait(0.1)

    def __enter__(self) -> AnswerWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=15)

    def served(self) -> list[tuple[float, str, str, bool, bool]]:
        """(time, serving, version, backfilling, has the new measures) of every answer."""
        out = []
        for at, status, body in self.answers:
            assert status == 200, body
            priced = any("sum_price" in w for w in body["windows"])
            out.append((at, body["serving"], body["version"], body["backfilling"], priced))
        return out


def found_counted(out: str) -> int:
    """The events a replay said it counted."""
    found = re.search(r"\(([0-9,]+) events counted", out)
    assert found, out
    return int(found[1].replace(",", ""))


async def _first_backfilled(d: Deployment, spec: AggregateSpec, timeout_s: float) -> None:
    """Return as soon as a back-filled partial shows on ``windows.<name>``."""
    topic = d.topic(f"windows.{spec.name}")
    consumer = AIOKafkaConsumer(bootstrap_servers=d.bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(d.partitions)]
        consumer.assign(tps)
        await consumer.seek_to_end(*tps)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=50)
            if any(b"#backfill" in (m.value or b"") for ms in batch.values() for m in ms):
                return
        raise AssertionError("no back-filled partial appeared")
    finally:
        await consumer.stop()


def _backfill_contributions(d: Deployment, spec: AggregateSpec) -> int:
    """How many back-filled events were sent to ``windows.<name>`` (by every run)."""
    total = 0
    for r in asyncio.run(read_topic(d.bootstrap, d.topic(f"windows.{spec.name}"))):
        if r.headers.get("streamapp-kind") is None and r.value:
            contributions = json.loads(r.value)["contributions"]
            total += sum(1 for c in contributions if c[2] and c[2][0].endswith("#backfill"))
    return total


def test_added_and_changed_aggregates_backfilled_from_earliest_equal_ground_truth(
    workers: Callable[..., Worker], deployment: Deployment, tmp_path: Path
) -> None:
    d = deployment
    d.partitions = 3
    started = time.monotonic()
    folder = tmp_path / "topologies"
    folder.mkdir()
    topology = folder / "e2e_replay.py"
    topology.write_text(IMPORTS + PER_NAME_DECL + PLAN_COUNTS_DECL)
    d.extra_env["STREAMAPP_TOPOLOGIES_DIR"] = str(folder)
    # Longer than a restarted worker's first stalls, so no live window closes on idleness while
    # a partition's backlog is still on its way (that would make it late: not this test's topic).
    d.extra_env["STREAMAPP_WINDOW_IDLE_TIMEOUT_S"] = "15"

    # 1. Two aggregates run over a first stream, event times 10 minutes ago; the worker stops
    #    once it has read everything, with windows still open.
    worker = _start(workers, d, (PER_NAME, PLAN_COUNTS))
    with Feeder(worker.url, d.write_key, d.bootstrap, d.topic("events")) as f:
        first, ended_ms = _play(f, 1, "one", 8, shift_ms=-600_000)
    sources = [d.topic(t) for t in ("events", "events.identify", "events.identified")]
    wait_drained(d.bootstrap, f"{d.prefix}app", sources, timeout_s=60)
    old = _wait_answer(
        worker, d, PLAN_COUNTS_OLD, "pro", expected_windows(PLAN_COUNTS_OLD, first), 60,
        serving="current", backfilling=False,
    )  # fmt: skip
    old_version = old["version"]
    worker.stop()

    # 2. The topology gains an aggregate and changes one; their backfills are registered before
    #    the workers restart (each command gives up at once: no worker runs them yet).
    topology.write_text(IMPORTS + PER_NAME_DECL + PER_PLAN_DECL + PLAN_COUNTS_CHANGED_DECL)
    registers = [_replay(d, s.name, "--from", "earliest", "--wait", "0") for s in BACKFILLED]
    for register in registers:
        _, err = register.communicate(timeout=90)
        assert register.returncode == 1 and "Run the command again to resume" in err, err

    worker = _start(workers, d, SPECS)
    # Holding: the new version answers, marked as backfilling, and emits nothing yet. (Its
    # answering also shows the agents run, before the stream goes on.)
    query = f"/aggregates/{PER_PLAN.name}?{urlencode({'key': 'pro'})}"
    deadline = time.monotonic() + 30
    while (answer := worker.get(query, token=d.token))[0] != 200:
        assert time.monotonic() < deadline, answer
        time.sleep(0.5)
    with Feeder(worker.url, d.write_key, d.bootstrap, d.topic("events")) as f:
        # The stream goes on where its event time stopped, so windows straddle the cut.
        shift_ms = ended_ms - now_ms()
        second, _ = _play(f, 2, "two", 4, shift_ms)
        status, body = worker.get(query, token=d.token)
        assert status == 200 and body["backfilling"] is True, body
        wait_drained(d.bootstrap, f"{d.prefix}app", sources, timeout_s=90)
        before = _wait_profiles(worker, d, first, timeout_s=60)
        # The changed aggregate answers from its old version, kept running live: the old
        # definition's values over both streams (the new version holds only the second's).
        truth_old = expected_windows(PLAN_COUNTS_OLD, first + second)
        during = _wait_answer(
            worker, d, PLAN_COUNTS_OLD, "pro", truth_old, 60,
            version=old_version, serving="previous", backfilling=True,
        )  # fmt: skip
        assert all("sum_price" not in r for r in during["windows"]), during
        assert during["backfill"]["previous"] == old_version, during
        new_partial = during["backfill"]["version"]
        assert new_partial != old_version, during
        # A worker restarted while the new version holds (a fresh data directory: another port)
        # rebuilds the old version from the control log and restores its table from the
        # changelog: the same answer.
        worker.stop()
        worker = _start(workers, d, SPECS)
        f.url = worker.url
        _wait_answer(
            worker, d, PLAN_COUNTS_OLD, "pro", truth_old, 90,
            version=old_version, serving="previous", backfilling=True,
        )  # fmt: skip

        # 3. The backfill runs while the stream goes on live (event time keeps pace with the
        #    wall clock, so the pause does not make it late).
        #    The first command for the added aggregate is killed (SIGKILL) once it has begun to
        #    send partials; run again, it resumes and counts nothing twice.
        changed_query = f"/aggregates/{PLAN_COUNTS.name}?{urlencode({'key': 'pro'})}"
        with AnswerWatch(worker, d, changed_query) as watch:
            killed = _replay(d, PER_PLAN.name, "--from", "earliest", "--wait", "120")
            asyncio.run(_first_backfilled(d, PER_PLAN, timeout_s=120))
            killed.kill()
            killed.wait()
            changed_started = time.monotonic()
            replays = [
                _replay(d, s.name, "--from", "earliest", "--wait", "120") for s in BACKFILLED[1:]
            ]
            replays.insert(0, _replay(d, PER_PLAN.name, "--from", "earliest", "--wait", "120"))
            third, _ = _play(f, 3, "three", 5, shift_ms)
            # While the commands run: the old version answers, or the new one has taken over.
            status, mid = worker.get(changed_query, token=d.token)
            assert status == 200, mid
            assert (mid["serving"], mid["version"], mid["backfilling"]) in {
                ("previous", old_version, True),
                ("current", new_partial, False),
            }, mid
            said = [replay.communicate(timeout=150) for replay in replays]
    new_versions: dict[str, str] = {}
    for spec, replay, (out, err) in zip(BACKFILLED, replays, said, strict=True):
        assert replay.returncode == 0, f"replay failed:\n{out}\n{err}"
        assert "caught up and serving" in out, out
        found = re.search(rf"{spec.name} version (\w+): backfilled [1-9][0-9,]* records", out)
        assert found, out
        new_versions[spec.name] = found[1]
        assert "ev/s" in err and "left" in err, f"no progress bar:\n{err}"
    out, err = said[0]
    # Every answer while the commands ran came from the old version (its definition: no price
    # measures) until the new one took over for good; never from the new version's partial.
    served = watch.served()
    new_plan = new_versions[PLAN_COUNTS.name]
    kinds = [
        (serving, version, backfilling, priced)
        for _, serving, version, backfilling, priced in served
    ]
    allowed = {("previous", old_version, True, False), ("current", new_plan, False, True)}
    assert set(kinds) <= allowed, sorted(set(kinds) - allowed)
    took_over = next((i for i, k in enumerate(kinds) if k[0] == "current"), len(kinds))
    assert all(k[0] == "current" for k in kinds[took_over:]), kinds
    assert took_over < len(kinds), "the new version never took over while watched"
    old_during_run = sum(
        1 for at, serving, *_ in served if serving == "previous" and at >= changed_started
    )

    # 4. Both sinks equal the ground truth over every stream, each window once.
    everything = first + second + third
    expected = {spec.name: expected_windows(spec, everything) for spec in SPECS}
    sinks = [d.topic(f"aggregates.{s.name}") for s in SPECS]
    with SinkWatcher(d.bootstrap, d.topic("streamapp.schemas"), sinks) as w:
        _wait_sink(w, d, expected, timeout_s=90, versions=new_versions)
        assert w.undecoded() == []
        versions = {
            spec.name: _assert_sink(w, d, spec, expected[spec.name], new_versions.get(spec.name))
            for spec in SPECS
        }
        old_records = [
            r
            for r in _sink(w, d, PLAN_COUNTS)
            if r.value["aggregate_version"] != new_versions[PLAN_COUNTS.name]
        ]
    assert versions[PER_NAME.name] != set() and len(versions[PER_NAME.name]) == 1, versions
    for spec in BACKFILLED:
        assert versions[spec.name] == {new_versions[spec.name]}, versions
    # The changed aggregate's old version kept emitting (until the new one took over) without
    # the new measures; the new version's records are its own (aggregate_version), complete.
    assert {r.value["aggregate_version"] for r in old_records} <= {old_version}, old_records[:2]
    assert all("sum_price" not in r.value for r in old_records), old_records[:2]

    # 5. Profiles and counters: the first stream's users exactly as before; everyone exact.
    straddling = _straddling(PER_PLAN, first, second + third)
    assert straddling > 0, "no window holds calls from both sides of the change: nothing tested"
    after = _wait_profiles(worker, d, everything, timeout_s=60)
    changed = [u for u in before if after[u] != before[u]]
    assert not changed, f"profiles changed by the backfill: {changed[:5]}"
    status, body = worker.get(query, token=d.token)
    assert status == 200 and body["backfilling"] is False, body
    # After the done-marker the new version answers, equal to the ground truth.
    body = _wait_answer(
        worker, d, PLAN_COUNTS, "pro", expected[PLAN_COUNTS.name], 30,
        version=new_versions[PLAN_COUNTS.name], serving="current", backfilling=False,
    )  # fmt: skip
    assert all("sum_price" in r for r in body["windows"]), body
    late = [
        r.headers.get("streamapp-cid")
        for r in asyncio.run(read_topic(d.bootstrap, d.topic("events.dlq")))
        if r.headers.get("streamapp-reason") == b"late"
    ]
    assert late == [], f"{len(late)} calls judged late, e.g. {late[:5]}"
    bar_lines = [line for line in err.replace("\r", "\n").splitlines() if "ev/s" in line]
    sent_twice = _backfill_contributions(d, PER_PLAN) - int(found_counted(said[0][0]))
    _, metrics = worker.get("/metrics")
    fenced = re.search(
        rf'streamapp_replays_skipped_total{{stage="windows-{PER_PLAN.name}"}} ([0-9.]+)', metrics
    )
    # Every back-filled event the killed run had sent was fenced as a duplicate, none counted.
    assert fenced is not None and float(fenced[1]) == sent_twice, (fenced, sent_twice)
    print(
        f"\n{len(everything)} calls ({len(first)} before the change); {straddling} windows of "
        f"{PER_PLAN.name} hold calls from before and after the change; {len(old_records)} records "
        f"of the old {PLAN_COUNTS.name}; while backfilled it answered from {old_version} "
        f"({len(during['windows'])} windows of 'pro'), {old_during_run} answers from it while its "
        f"command ran, then {len(served) - took_over} from the new one; windows "
        f"{ {s.name: len(expected[s.name]) for s in SPECS} }; replay said: {out.strip()!r}; "
        f"last progress line {bar_lines[-1]!r}; the killed run had sent {sent_twice} back-filled "
        f"events before it died (the owner fenced {fenced[1] if fenced else 0} duplicates); "
        f"test took {time.monotonic() - started:.0f} s"
    )
