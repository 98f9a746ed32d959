"""Windowed aggregates end to end: live streams in, Avro records out, read as a stranger would.

Each test writes its own topology (a tumbling count per event name, a hopping price summary per
plan; windows of seconds) into a temporary folder, points real workers at it and sends a seeded
stream whose event times follow the wall clock, shuffled by at most :data:`MAX_LAG_MS` (less than
the grace). The sink is read with :mod:`tests.support.avro_consumer` (aiokafka + fastavro + the
schemas topic, nothing from ``streamapp``) and compared with the ground truth computed from what
was sent (:mod:`tests.support.window_stream`).
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.avro_consumer import RawRecord, SinkRecord, SinkWatcher, read_topic
from tests.support.window_stream import (
    PLANS,
    TRACK_NAMES,
    AggregateSpec,
    Feeder,
    Sent,
    WindowKey,
    diff_windows,
    expected_windows,
    now_ms,
    plan_stream,
    play,
    sent_of,
)
from tests.support.workers import Deployment, Worker

TOPOLOGY = '''\
"""The aggregates of tests/e2e/test_windows_sink.py: windows of seconds, so they close fast."""

from streamapp.windows.declare import Aggregate, Count, DistinctUsers, Hopping, Max, Sum, Tumbling

events_per_name = Aggregate(
    name="e2e_events_per_name",
    key=("event",),
    window=Tumbling(size_s=10),
    grace_s=5,
    measures=(Count(), DistinctUsers()),
)

spend_per_plan = Aggregate(
    name="e2e_spend_per_plan",
    events=("Product Added", "Order Completed"),
    key=("properties.plan",),
    window=Hopping(size_s=20, step_s=10),
    grace_s=5,
    measures=(Count(), Sum("properties.price"), Max("properties.price"), DistinctUsers()),
)
'''

PER_NAME = AggregateSpec(
    name="e2e_events_per_name",
    size_s=10,
    step_s=10,
    grace_s=5,
    key_field="event",
    key=lambda s: s.name,
)
PER_PLAN = AggregateSpec(
    name="e2e_spend_per_plan",
    size_s=20,
    step_s=10,
    grace_s=5,
    key_field="plan",
    key=lambda s: s.plan,
    events=frozenset({"Product Added", "Order Completed"}),
    price_measures=True,
)
SPECS = (PER_NAME, PER_PLAN)
IDLE_TIMEOUT_S = 3
MAX_LAG_MS = 2000
"""Event times reach the broker shuffled by up to this much; the grace (5 s) leaves 3 s for the
pipeline's own reordering, so no event of a live stream is late."""
LATE_PRICE = 999.99
"""Late events carry this price (the stream's prices stay below 500): counted, it would show."""


@pytest.fixture
def windows_deployment(deployment: Deployment, tmp_path: Path) -> Deployment:
    folder = tmp_path / "topologies"
    folder.mkdir()
    (folder / "e2e_windows.py").write_text(TOPOLOGY)
    deployment.extra_env["STREAMAPP_TOPOLOGIES_DIR"] = str(folder)
    deployment.extra_env["STREAMAPP_WINDOW_IDLE_TIMEOUT_S"] = str(IDLE_TIMEOUT_S)
    return deployment


# ---------------------------------------------------------------------------------------------
# helpers


def _sink_topic(d: Deployment, spec: AggregateSpec) -> str:
    return d.topic(f"aggregates.{spec.name}")


def _start(start_worker: Callable[..., Worker], d: Deployment, port: int | None = None) -> Worker:
    """A worker that owns every partition of ``events`` and of both windows topics."""
    worker = start_worker(port) if port else start_worker()
    needed = [d.topic("events")] + [d.topic(f"windows.{s.name}") for s in SPECS]
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline:
        health = worker.wait_ready(timeout_s=max(1.0, deadline - time.monotonic()))
        if all(len(health["assigned"].get(t, [])) == d.partitions for t in needed):
            return worker
        time.sleep(0.5)
    raise AssertionError(f"worker never owned {needed}:\n{worker.log_tail()}")


def _watcher(d: Deployment) -> SinkWatcher:
    return SinkWatcher(
        d.bootstrap, d.topic("streamapp.schemas"), [_sink_topic(d, s) for s in SPECS]
    )


def _window_key(spec: AggregateSpec, record: SinkRecord) -> WindowKey:
    """The window a record is for, checking the Kafka key says the same: [key, window start]."""
    key = (str(record.value[spec.key_field]), int(record.value["window_start"]))
    assert json.loads(record.key) == [key[0], key[1]], (
        f"{spec.name}: record key {record.key!r} does not name its window {key}"
    )
    assert record.schema_name == f"streamapp.aggregates.{spec.name}", record.schema_name
    return key


def _by_window(spec: AggregateSpec, records: list[SinkRecord]) -> dict[WindowKey, list[SinkRecord]]:
    out: dict[WindowKey, list[SinkRecord]] = defaultdict(list)
    for r in records:
        out[_window_key(spec, r)].append(r)
    return out


def _measures(record: SinkRecord) -> dict[str, Any]:
    return {k: v for k, v in record.value.items() if k != "aggregate_version"}


def _wait_for_windows(
    watcher: SinkWatcher,
    d: Deployment,
    expected: dict[str, dict[WindowKey, dict[str, Any]]],
    timeout_s: float,
    settle_s: float = 3.0,
) -> float:
    """Poll the sink until every expected window is on it, then ``settle_s`` more (to catch any
    second emit). Returns the seconds waited until the last expected window appeared."""
    started = time.monotonic()
    deadline = started + timeout_s
    while True:
        watcher.poll()
        missing = {
            spec.name: sorted(
                set(expected[spec.name])
                - set(_by_window(spec, watcher.records[_sink_topic(d, spec)]))
            )
            for spec in SPECS
        }
        if not any(missing.values()):
            break
        if time.monotonic() > deadline:
            shown = {name: keys[:6] for name, keys in missing.items() if keys}
            counts = {name: len(keys) for name, keys in missing.items()}
            raise AssertionError(
                f"windows not on the sink after {timeout_s:.0f} s: missing {counts}, e.g. {shown}"
            )
    waited = time.monotonic() - started
    settle_until = time.monotonic() + settle_s
    while time.monotonic() < settle_until:
        watcher.poll()
    assert watcher.undecoded() == [], (
        "sink records whose schema never appeared on the schemas topic"
    )
    return waited


def _assert_exactly_the_truth(
    watcher: SinkWatcher, d: Deployment, expected: dict[str, dict[WindowKey, dict[str, Any]]]
) -> dict[str, dict[WindowKey, list[SinkRecord]]]:
    """Each sink topic holds exactly the expected windows with the expected values.

    Returns the records grouped by window; a window on the sink more than once is left to the
    caller (test 1 forbids it, test 3 allows identical re-emits)."""
    grouped: dict[str, dict[WindowKey, list[SinkRecord]]] = {}
    for spec in SPECS:
        by_window = _by_window(spec, watcher.records[_sink_topic(d, spec)])
        grouped[spec.name] = by_window
        got = {k: _measures(rs[0]) for k, rs in by_window.items()}
        problems = diff_windows(expected[spec.name], got)
        assert not problems, f"{spec.name}: the sink differs from the ground truth:\n{problems}"
        versions = {r.value["aggregate_version"] for rs in by_window.values() for r in rs}
        assert len(versions) == 1, f"{spec.name}: several aggregate_version values {versions}"
    return grouped


SCHEMA_FIELDS = {
    PER_NAME.name: [
        ("event", "string"),
        ("window_start", {"type": "long", "logicalType": "timestamp-millis"}),
        ("window_end", {"type": "long", "logicalType": "timestamp-millis"}),
        ("count", "long"),
        ("distinct_users", "long"),
        ("aggregate_version", "string"),
    ],
    PER_PLAN.name: [
        ("plan", "string"),
        ("window_start", {"type": "long", "logicalType": "timestamp-millis"}),
        ("window_end", {"type": "long", "logicalType": "timestamp-millis"}),
        ("count", "long"),
        ("sum_price", ["null", "double"]),
        ("max_price", ["null", "double"]),
        ("distinct_users", "long"),
        ("aggregate_version", "string"),
    ],
}


def _assert_schemas(watcher: SinkWatcher) -> None:
    """One schema per aggregate on the schemas topic, derived from its declaration."""
    names = Counter(s.definition["name"] for s in watcher.schemas.values())
    assert names == Counter({spec.name: 1 for spec in SPECS}), names
    for schema in watcher.schemas.values():
        definition = schema.definition
        assert definition["namespace"] == "streamapp.aggregates", definition
        fields = [(f["name"], f["type"]) for f in definition["fields"]]
        assert fields == SCHEMA_FIELDS[definition["name"]], fields


def _metrics(worker: Worker) -> dict[tuple[str, str], float]:
    """``/metrics`` as {(sample name, label values joined by ','): value}."""
    status, text = worker.get("/metrics")
    assert status == 200, text
    out: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, ",".join(sample.labels.values()))] = sample.value
    return out


def _late_dead_letters(d: Deployment, timeout_s: float, expect: int) -> list[RawRecord]:
    """The ``late`` records of ``events.dlq``, read until at least ``expect`` are there."""
    deadline = time.monotonic() + timeout_s
    while True:
        records = asyncio.run(read_topic(d.bootstrap, d.topic("events.dlq")))
        late = [r for r in records if r.headers.get("streamapp-reason") == b"late"]
        if len(late) >= expect or time.monotonic() > deadline:
            return late
        time.sleep(0.5)


def _letter_key(record: RawRecord) -> tuple[str, str]:
    """(correlation id, aggregate) of a dead letter."""
    h = record.headers
    return h["streamapp-cid"].decode(), h.get("streamapp-aggregate", b"").decode()


def _assert_view_matches_sink(
    worker: Worker, d: Deployment, grouped: dict[str, dict[WindowKey, list[SinkRecord]]]
) -> None:
    """``GET /aggregates/<name>?key=<k>`` lists the closed windows with the sink's measures."""
    for spec in SPECS:
        by_key: dict[str, dict[int, dict[str, Any]]] = defaultdict(dict)
        for (key, start), records in grouped[spec.name].items():
            by_key[key][start] = records[-1].value
        for key, windows in sorted(by_key.items()):
            path = f"/aggregates/{spec.name}?{urlencode({'key': key})}"
            status, body = worker.get(path, token=d.token)
            assert status == 200, (path, body)
            assert body["key"] == {spec.key_field: key}, body["key"]
            rows = body["windows"]
            assert all(r["closed"] is True for r in rows), (
                f"{path}: open windows left after every window closed: "
                f"{[r for r in rows if not r['closed']][:3]}"
            )
            got = {r["window_start"]: {k: v for k, v in r.items() if k != "closed"} for r in rows}
            assert got == windows, f"{path}: the view and the sink disagree"
            assert body["version"] == next(iter(windows.values()))["aggregate_version"]
        # from (ISO-8601 or epoch ms, inclusive) and to (exclusive) bound the window start.
        key, windows = max(by_key.items(), key=lambda kv: len(kv[1]))
        starts = sorted(windows)
        if len(starts) >= 3:
            lo = datetime.fromtimestamp(starts[1] / 1000, tz=UTC).isoformat()
            query = urlencode({"key": key, "from": lo, "to": starts[-1]})
            status, body = worker.get(f"/aggregates/{spec.name}?{query}", token=d.token)
            assert status == 200, body
            assert [r["window_start"] for r in body["windows"]] == starts[1:-1], (query, body)
        status, _ = worker.get(f"/aggregates/{spec.name}?key=free")
        assert status == 401, "the aggregates view answered without a bearer token"


# ---------------------------------------------------------------------------------------------
# 1. the sink equals the ground truth; late events are dead-lettered, never counted


@dataclass(frozen=True)
class LateCall:
    """A call sent after some of its windows closed, and what must become of it."""

    sent: Sent
    closed: dict[str, tuple[tuple[int, int], ...]]
    """Per aggregate that selects it: the windows that must be closed when it is sent (it is late
    for these, dead-lettered naming them); it counts in its other windows."""
    open_until_ms: int | None = None
    """For a call that must also count in a still-open window: that window's close (end + grace).
    It must be sent well before then, or "still open" would be a guess."""


def _plan_late(base_ms: int, seed: int, count: int, partial: int) -> list[LateCall]:
    """``count`` calls late for every window they fall in, in the stream's first 10 s, and
    ``partial`` calls late only for the older of their two hopping windows (and their tumbling
    one): they fall in [b, b + 10 s) for the first 10 s boundary b >= base + 10 s, and are sent
    once [b - 10 s, b + 10 s) closed, while [b, b + 20 s) is open."""
    rng = random.Random(seed)

    def call(i: int, body: dict[str, Any], time_ms: int) -> Sent:
        body |= {"userId": f"late-user{i}", "messageId": f"late-m{i:03d}"}
        return sent_of(body, time_ms, "kafka" if rng.random() < 0.5 else "http")

    calls: list[LateCall] = []
    for i in range(count):
        body: dict[str, Any] = {"type": "page", "name": "Home"}  # per-name aggregate only
        if i % 6 != 5:
            props: dict[str, Any] = {"price": LATE_PRICE}
            if i % 4 != 3:  # else: no plan, so late for the per-name aggregate only
                props["plan"] = rng.choice(PLANS)
            body = {"type": "track", "event": rng.choice(TRACK_NAMES), "properties": props}
        s = call(i, body, base_ms + rng.randrange(1000, 9000))
        closed = {spec.name: tuple(spec.windows(s.time_ms)) for spec in SPECS if spec.selects(s)}
        calls.append(LateCall(s, closed))
    b = base_ms - base_ms % 10_000 + 20_000
    for i in range(count, count + partial):
        # Counted in its newer hopping window, with a price that shows in its sum.
        props = {"price": 0.25, "plan": rng.choice(PLANS)}
        name = rng.choice(sorted(PER_PLAN.events))
        body = {"type": "track", "event": name, "properties": props}
        s = call(i, body, b + rng.randrange(10_000))
        older, newer = PER_PLAN.windows(s.time_ms)
        closed = {PER_NAME.name: tuple(PER_NAME.windows(s.time_ms)), PER_PLAN.name: (older,)}
        calls.append(LateCall(s, closed, open_until_ms=newer[1] + PER_PLAN.grace_ms))
    return calls


class LateSender:
    """Sends each late call as soon as the sink shows that its windows are closed.

    "Closed" is read from the sink alone: a record of the same aggregate key (so of the same
    owning partition and watermark) for a window that closes no earlier than the windows the call
    must be late for means the partition's watermark has passed all of them.
    """

    OPEN_MARGIN_MS = 4000

    def __init__(self, watcher: SinkWatcher, d: Deployment, calls: list[LateCall]) -> None:
        self.watcher = watcher
        self.d = d
        self.pending = list(calls)
        self.sent: list[LateCall] = []
        self.last_poll = 0.0

    def _closed_through(self) -> dict[tuple[str, str], int]:
        """Per (aggregate, key): the latest window end seen on the sink."""
        seen: dict[tuple[str, str], int] = {}
        for spec in SPECS:
            for r in self.watcher.records[_sink_topic(self.d, spec)]:
                k = (spec.name, str(r.value[spec.key_field]))
                seen[k] = max(seen.get(k, 0), int(r.value["window_end"]))
        return seen

    def _ready(self, call: LateCall, seen: dict[tuple[str, str], int]) -> bool:
        keys = {spec.name: str(spec.key(call.sent)) for spec in SPECS}
        if not all(
            seen.get((name, keys[name]), 0) >= max(end for _, end in windows)
            for name, windows in call.closed.items()
        ):
            return False
        if call.open_until_ms is not None:
            left_ms = call.open_until_ms - now_ms()
            assert left_ms > self.OPEN_MARGIN_MS, (
                f"{call.sent.message_id}: its older windows reached the sink only "
                f"{left_ms} ms before its newer window closes; too slow to tell open from closed"
            )
        return True

    def ready(self) -> list[Sent]:
        if not self.pending or time.monotonic() - self.last_poll < 0.5:
            return []
        self.last_poll = time.monotonic()
        self.watcher.poll(0.05)
        seen = self._closed_through()
        go = [c for c in self.pending if self._ready(c, seen)]
        self.pending = [c for c in self.pending if c not in go]
        self.sent += go
        return [c.sent for c in go]


def test_sink_records_equal_ground_truth_and_late_events_are_dead_lettered(
    workers, windows_deployment: Deployment
) -> None:
    """36 s of live calls (HTTP and Kafka, event times shuffled within the grace), with late
    calls mixed in as soon as the sink shows their windows closed. Every window on both sink
    topics equals the ground truth, once; every late call is dead-lettered, never counted; the
    metrics and ``GET /aggregates`` agree with the sink."""
    d = windows_deployment
    started = time.monotonic()
    worker = _start(workers, d)
    plan = plan_stream(seed=1, tag="live", duration_s=36, per_s=30, max_lag_ms=MAX_LAG_MS)

    with (
        _watcher(d) as watcher,
        Feeder(worker.url, d.write_key, d.bootstrap, d.topic("events")) as f,
    ):
        base = now_ms()
        late = LateSender(watcher, d, _plan_late(base, seed=7, count=18, partial=4))
        sent = play(f, plan, base, extra=late.ready)
        deadline = time.monotonic() + 60
        while late.pending and time.monotonic() < deadline:
            f.send(late.ready())
            time.sleep(0.1)
        assert not late.pending, (
            f"{len(late.pending)} late calls never saw their windows closed on the sink: "
            f"{[c.sent.message_id for c in late.pending]}"
        )
        fresh = [s for s in sent if s.message_id.startswith("live-")]
        assert len(fresh) == len(plan)
        closed = {
            (c.sent.message_id, name, w[0])
            for c in late.sent
            for name, ws in c.closed.items()
            for w in ws
        }
        expected = {
            spec.name: expected_windows(
                spec,
                fresh + [c.sent for c in late.sent],
                counted=lambda s, start, name=spec.name: (s.message_id, name, start) not in closed,
            )
            for spec in SPECS
        }
        waited = _wait_for_windows(watcher, d, expected, timeout_s=90)
        grouped = _assert_exactly_the_truth(watcher, d, expected)
        _assert_schemas(watcher)

    for spec in SPECS:
        repeated = {k: len(rs) for k, rs in grouped[spec.name].items() if len(rs) > 1}
        assert not repeated, f"{spec.name}: windows emitted more than once: {repeated}"
    counted_late = [
        k for k, rs in grouped[PER_PLAN.name].items() if rs[0].value["max_price"] == LATE_PRICE
    ]
    assert not counted_late, f"a late event's price was counted in {counted_late}"

    # Every late call is dead-lettered once per aggregate it is late for, with reason `late`, its
    # messageId as correlation id and the windows it missed; no live call was judged late.
    expected_late = {
        (c.sent.message_id, name): ws for c in late.sent for name, ws in c.closed.items()
    }
    letters = _late_dead_letters(d, 30, len(expected_late))
    keyed = [(_letter_key(r), r) for r in letters]
    got_late = Counter(k for k, _ in keyed)
    assert got_late == Counter(set(expected_late)), (
        f"late dead letters differ: missing {set(expected_late) - set(got_late)}, unexpected "
        f"{[(k, r.headers.get('streamapp-detail')) for k, r in keyed if k not in expected_late]}"
    )
    by_cid = {c.sent.message_id: c.sent for c in late.sent}
    for (cid, name), r in keyed:
        body = json.loads(r.value)
        assert body["messageId"] == cid and body["userId"] == by_cid[cid].body["userId"], body
        assert r.headers["streamapp-stage"] == f"windows-{name}".encode()
        named = re.findall(r"\[(-?\d+), (-?\d+)\)", r.headers["streamapp-detail"].decode())
        assert [(int(a), int(b)) for a, b in named] == list(expected_late[(cid, name)]), (
            f"{cid} on {name}: the dead letter names windows {named}, "
            f"expected {expected_late[(cid, name)]}"
        )

    metrics = _metrics(worker)
    for spec in SPECS:
        want = {
            "late_events": sum(1 for _, name in expected_late if name == spec.name),
            "window_closes": len(expected[spec.name]),
        }
        got = {m: metrics.get((f"streamapp_{m}_total", spec.name)) for m in want}
        assert got == want, f"{spec.name}: /metrics counted {got}, expected {want}"

    _assert_view_matches_sink(worker, d, grouped)
    mixed_in = sum(1 for s in sent if s.message_id.startswith("late-"))
    print(
        f"\n{len(fresh)} live calls; {len(late.sent)} late ones ({mixed_in} mixed into the live "
        f"stream, {sum(c.open_until_ms is not None for c in late.sent)} late for one hopping "
        f"window only); windows: { {s.name: len(expected[s.name]) for s in SPECS} }; last "
        f"window on the sink {waited:.1f} s after the last call; "
        f"test took {time.monotonic() - started:.0f} s"
    )


# ---------------------------------------------------------------------------------------------
# 2. an idle partition closes its last windows


def test_idle_partition_closes_its_last_windows(workers, windows_deployment: Deployment) -> None:
    """A burst stamped "now", then silence: no event time ever reaches end + grace of the burst's
    windows, so only the idle rule can close them. With event time = wall time they must reach
    the sink after end + grace (never earlier: event time may not run ahead of the clock) and
    within grace + idle timeout of their end, plus a small margin for processing (the owner
    checks on a 1 s tick, then produces)."""
    d = windows_deployment
    started = time.monotonic()
    worker = _start(workers, d)
    plan = plan_stream(seed=2, tag="burst", duration_s=1, per_s=200, max_lag_ms=0)
    with (
        _watcher(d) as watcher,
        Feeder(worker.url, d.write_key, d.bootstrap, d.topic("events")) as f,
    ):
        sent = play(f, plan, now_ms())
        burst_end = now_ms()
        assert max(s.time_ms for s in sent) <= burst_end
        expected = {spec.name: expected_windows(spec, sent) for spec in SPECS}
        latest_close = max(
            start + spec.size_s * 1000 + spec.grace_ms
            for spec in SPECS
            for _, start in expected[spec.name]
        )
        timeout = (latest_close - burst_end) / 1000 + IDLE_TIMEOUT_S + 30
        _wait_for_windows(watcher, d, expected, timeout_s=timeout, settle_s=1)
        grouped = _assert_exactly_the_truth(watcher, d, expected)

    margin_ms = 3000
    lines = []
    for spec in SPECS:
        for (key, start), records in sorted(grouped[spec.name].items()):
            end = start + spec.size_s * 1000
            emitted = records[0].timestamp_ms
            after_end = emitted - end
            lines.append(
                f"  {spec.name} {key!r} [{start}, {end}): on the sink {after_end / 1000:.2f} s "
                f"after its end (grace {spec.grace_s} s + idle {IDLE_TIMEOUT_S} s)"
            )
            assert emitted >= end + spec.grace_ms, (
                f"{spec.name} {key} window [{start}, {end}) closed {end + spec.grace_ms - emitted}"
                " ms before end + grace: event time ran ahead of the wall clock"
            )
            assert after_end <= spec.grace_ms + IDLE_TIMEOUT_S * 1000 + margin_ms, (
                f"{spec.name} {key} window [{start}, {end}) reached the sink {after_end} ms after "
                f"its end; expected within grace + idle timeout + {margin_ms} ms"
            )
    print(
        f"\nburst of {len(sent)} calls over [{min(s.time_ms for s in sent)}, {burst_end}]; "
        "the last windows closed with no more traffic:\n"
        + "\n".join(lines)
        + f"\ntest took {time.monotonic() - started:.0f} s"
    )


# ---------------------------------------------------------------------------------------------
# 3. SIGKILL mid-window loses nothing


def _windows_across_the_kill(spec: AggregateSpec, sent: list[Sent]) -> int:
    """How many windows hold calls sent before the kill ("pre-") and after the restart."""
    sides: dict[WindowKey, set[bool]] = defaultdict(set)
    for s in sent:
        key = spec.key(s)
        if key is not None and spec.selects(s):
            for start, _ in spec.windows(s.time_ms):
                sides[(key, start)].add(s.message_id.startswith("pre-"))
    return sum(1 for both in sides.values() if len(both) == 2)


def test_sigkill_mid_window_loses_nothing(workers, windows_deployment: Deployment) -> None:
    """Kill -9 with windows open and calls in flight; the stream resumes where its event time
    stopped, so the windows open at the kill are completed by calls sent after the restart."""
    d = windows_deployment
    started = time.monotonic()
    worker = _start(workers, d)
    before = plan_stream(seed=31, tag="pre", duration_s=14, per_s=30, max_lag_ms=MAX_LAG_MS)
    after = plan_stream(seed=32, tag="post", duration_s=12, per_s=30, max_lag_ms=MAX_LAG_MS)

    with _watcher(d) as watcher:
        # Stop the first part (and SIGKILL the worker) 5.6 s past a 10 s boundary: windows of
        # both aggregates closed at end + grace = boundary + 5 s are then being emitted, and the
        # last second of calls is still in the pipeline. Its first part starts 3 s past one.
        while now_ms() % 10_000 not in range(3_000, 3_300):
            time.sleep(0.05)
        base = now_ms()
        stop_at = 12_600 - (base % 10_000 - 3_000)
        with Feeder(worker.url, d.write_key, d.bootstrap, d.topic("events")) as f:
            sent = play(f, before, base, stop_at_offset_ms=stop_at)
        worker.kill()
        killed_at = time.monotonic()
        watcher.poll(1.0)
        on_sink_at_kill = sum(len(v) for v in watcher.records.values())

        worker = _start(workers, d, port=worker.port)
        restart_s = time.monotonic() - killed_at
        resumed = now_ms()
        with Feeder(worker.url, d.write_key, d.bootstrap, d.topic("events")) as f:
            # Event time goes on from where the first part stopped (the clients buffered).
            sent += play(f, after, resumed, time_shift_ms=base + stop_at - resumed)
        expected = {spec.name: expected_windows(spec, sent) for spec in SPECS}
        _wait_for_windows(watcher, d, expected, timeout_s=60)

        # Exactly the truth, per window; a window on the sink more than once is a re-emit and
        # carries the same values every time.
        grouped = _assert_exactly_the_truth(watcher, d, expected)
    extra = 0
    for spec in SPECS:
        for k, records in grouped[spec.name].items():
            values = [r.value for r in records]
            assert all(v == values[0] for v in values), (
                f"{spec.name} window {k} emitted {len(values)} times with different values: "
                f"{values}"
            )
            extra += len(records) - 1

    metrics = _metrics(worker)
    reemits = sum(metrics.get(("streamapp_window_reemits_total", s.name), 0) for s in SPECS)
    assert extra <= reemits, (
        f"{extra} repeated sink records, but the restarted worker counted {reemits} re-emits"
    )
    letters = _late_dead_letters(d, 0, 0)
    assert letters == [], (
        f"{len(letters)} calls were judged late after the restart, e.g. "
        f"{[(r.headers['streamapp-cid'], r.headers.get('streamapp-detail')) for r in letters[:5]]}"
    )
    spanning = {spec.name: _windows_across_the_kill(spec, sent) for spec in SPECS}
    skipped = {k[1]: v for k, v in metrics.items() if k[0] == "streamapp_replays_skipped_total"}
    print(
        f"\n{len(sent)} calls; SIGKILL with {on_sink_at_kill} records on the sink; restart took "
        f"{restart_s:.1f} s; windows holding calls from both sides of the kill: {spanning}; "
        f"{extra} repeated sink records, {reemits:.0f} re-emits counted; replays skipped by "
        f"stage {skipped}; test took {time.monotonic() - started:.0f} s"
    )
