"""Broker failure: a 3-node KRaft cluster loses a broker mid-stream; no acknowledged event is lost.

Dataflow of the scenario:

    sender thread ── POST /v1/batch, retried on 503/429 as Segment clients do ──▶ worker
                                                                                    │ acks=all
    tests/support/cluster: 3 brokers, replication factor 3, min.insync.replicas 2 ◀─┘
       │ SIGKILL the leader of events/0 mid-stream; restart it later
       ▼
    at the end: every messageId answered 200 is on the events topic, and every user's counters
    equal the events answered 200 (no loss, and retries with the same messageId counted once)

Figures: events acknowledged, HTTP answers by status, 503s without Retry-After, the longest
stretch without a 200 answer, acknowledged events missing from the topic and from the counters.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
from aiokafka.admin import AIOKafkaAdminClient

from streamapp.config import load_settings
from tests.reliability.figures import sized
from tests.reliability.traffic import Answers, Client
from tests.support.cluster import Cluster
from tests.support.kafka import read_all
from tests.support.settle import Reader, wait_drained
from tests.support.workers import Deployment, start_worker

PARTITIONS = 4
USERS = 200
NAMES = ("Viewed", "Added", "Bought")
STAGE_TOPICS = ("events", "events.identify", "events.identified")


async def _leader(bootstrap: str, topic: str) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics([topic])
        parts = described[0]["partitions"]
        return int(next(p["leader"] for p in parts if p["partition"] == 0))
    finally:
        await admin.close()


class Stream(threading.Thread):
    """Sends batches of unique events until told to stop; remembers what was answered 200."""

    def __init__(self, client: Client, batch: int, pause_s: float) -> None:
        super().__init__(daemon=True)
        self.client, self.batch, self.pause_s = client, batch, pause_s
        self.acked: dict[str, tuple[str, str]] = {}
        self.ok_times: list[float] = []
        self.halt = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        seq = 0
        try:
            while not self.halt.is_set():
                bodies = []
                for _ in range(self.batch):
                    seq += 1
                    user, name = f"b{seq % USERS}", NAMES[seq % len(NAMES)]
                    body = {"type": "track", "userId": user, "event": name, "messageId": f"bm{seq}"}
                    bodies.append(body)
                self.ok_times.append(self.client.send_batch(bodies, give_up_s=180))
                for body in bodies:
                    self.acked[body["messageId"]] = (body["userId"], body["event"])
                time.sleep(self.pause_s)
        except BaseException as exc:
            self.error = exc


def _longest_gap(times: list[float], start: float) -> float:
    points = [start, *times]
    return max((b - a for a, b in itertools.pairwise(points)), default=0.0)


def test_broker_killed_mid_stream_loses_no_acknowledged_event(tmp_path: Path, figures) -> None:
    kill_at, restart_at, end_at = sized((6, 14, 20), (20, 60, 90))
    batch, pause_s = sized((20, 0.1), (50, 0.05))
    home = load_settings(dict(os.environ)).broker_home
    cluster = Cluster(root=tmp_path / "cluster", home=home)
    worker = None
    try:
        cluster.start()
        deployment = Deployment(
            bootstrap=cluster.bootstrap,
            data_dir=tmp_path / "data",
            prefix="bf",
            partitions=PARTITIONS,
            extra_env={
                "STREAMAPP_REPLICATION_FACTOR": "3",
                "STREAMAPP_MIN_INSYNC_REPLICAS": "2",
            },
        )
        worker = start_worker(deployment)
        worker.wait_ready(topic=deployment.topic("events"))
        answers = Answers()
        stream = Stream(Client(lambda: [worker.url], deployment.write_key, answers), batch, pause_s)
        started = time.monotonic()
        stream.start()
        time.sleep(kill_at)
        leader = asyncio.run(_leader(cluster.bootstrap, deployment.topic("events")))
        victim = next(n for n in cluster.nodes if n.node_id == leader)
        cluster.kill(victim)
        killed = time.monotonic()
        time.sleep(max(0.0, started + restart_at - time.monotonic()))
        cluster.restart(victim)
        restarted = time.monotonic()
        time.sleep(max(0.0, started + end_at - time.monotonic()))
        stream.halt.set()
        stream.join(240)
        assert stream.error is None, repr(stream.error)

        wait_drained(
            cluster.bootstrap,
            f"{deployment.prefix}app",
            [deployment.topic(t) for t in STAGE_TOPICS],
            timeout_s=sized(120, 300),
        )
        stored = {
            orjson.loads(r.value).get("messageId")
            for r in asyncio.run(
                read_all(cluster.bootstrap, deployment.topic("events"), timeout_s=60)
            )
            if r.value
        }
        missing_on_topic = [m for m in stream.acked if m not in stored]
        expected: Counter[tuple[str, str]] = Counter(stream.acked.values())
        with Reader(deployment.token) as reader:

            def one(user: str) -> tuple[int, int]:
                status, body = reader.get(f"{worker.url}/counters/{quote(user, safe='')}")
                got: dict[str, Any] = body.get("events") or {} if status == 200 else {}
                short = extra = 0
                for name in NAMES:
                    have = (got.get(name) or {}).get("lifetime", 0)
                    want = expected[(user, name)]
                    short += max(0, want - have)
                    extra += max(0, have - want)
                return short, extra

            tallies = reader.map(one, [f"b{i}" for i in range(USERS)])
        figures.update(
            {
                "brokers": 3,
                "replication_factor": 3,
                "min_insync_replicas": 2,
                "acks": "all",
                "killed_broker": leader,
                "killed_at_s": round(killed - started, 1),
                "restarted_at_s": round(restarted - started, 1),
                "events_acknowledged": len(stream.acked),
                "http_answers": dict(answers.statuses),
                "refusals_without_retry_after": answers.without_retry_after,
                "unexpected_answers": answers.unexpected[:5],
                "longest_without_200_s": round(_longest_gap(stream.ok_times, started), 1),
                "acknowledged_missing_on_topic": len(missing_on_topic),
                "acknowledged_lost_in_counters": sum(s for s, _ in tallies),
                "counted_twice": sum(e for _, e in tallies),
                "worker_alive_at_end": worker.proc.poll() is None,
            }
        )
        print(f"\n{figures}")
        assert figures["worker_alive_at_end"], worker.log_tail()
        assert not missing_on_topic, missing_on_topic[:10]
        assert answers.without_retry_after == 0 and not answers.unexpected
        assert figures["acknowledged_lost_in_counters"] == 0
        assert figures["counted_twice"] == 0
    finally:
        if worker is not None:
            worker.stop()
        cluster.stop()
