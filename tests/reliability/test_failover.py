"""Failover: one of two workers is stopped for good; the survivor answers every id within a bound.

Dataflow of the scenario:

    workload (groundtruth) ── POST /v1/batch + kcat ──▶ 2 workers, 8 partitions, standby replicas 1
                                                        │ both exact against the ground truth
    SIGKILL worker B, never restarted ─────────────────▶ worker A takes B's partitions; its
                                                        standby copies of B's tables let it
                                                        serve them without replaying the changelog
    poll every id on A until each equals the ground truth: that time is the figure

The bound asserted is generous (the session timeout, a rebalance and the table recovery must fit
in it on a shared 2-core machine); the figure reported is what was measured.
"""

from __future__ import annotations

import time

from tests.reliability.figures import sized
from tests.reliability.traffic import Answers, Client
from tests.support.channels import send_kcat
from tests.support.groundtruth import PHASE_AFTER, PHASE_BEFORE, PHASE_IDENTIFY, generate
from tests.support.settle import (
    Reader,
    show,
    targets,
    verify_everywhere,
    wait_drained,
    wait_exact,
    wait_split,
)
from tests.support.workers import Deployment

PARTITIONS = 8
STAGE_TOPICS = ("events", "events.identify", "events.identified")
BOUND_S = 90.0
SESSION_TIMEOUT_S = 10.0


def test_survivor_answers_every_key_within_bound(workers, deployment: Deployment, figures) -> None:
    events, users = sized((2_000, 200), (10_000, 1_000))
    deployment.partitions = PARTITIONS
    deployment.extra_env.update(
        {
            "STREAMAPP_STANDBY_REPLICAS": "1",
            "STREAMAPP_SESSION_TIMEOUT_S": str(SESSION_TIMEOUT_S),
        }
    )
    pair = [workers(), workers()]
    wait_split(pair, deployment.topic("events"), PARTITIONS)
    workload = generate(seed=91_001, users=users, events=events, tag="f")
    answers = Answers()
    client = Client(lambda: [w.url for w in pair], deployment.write_key, answers)
    for phase in (PHASE_BEFORE, PHASE_IDENTIFY, PHASE_AFTER):
        planned = workload.phase(phase)
        kafka = [(p.kafka_key, p.body) for p in planned if p.channel == "kcat"]
        http = [p.body for p in planned if p.channel == "sdk"]
        send_kcat(deployment.bootstrap, deployment.topic("events"), kafka)
        for i in range(0, len(http), 100):
            client.send_batch(http[i : i + 100])
    with Reader(deployment.token) as reader:
        wait_exact(reader, [w.url for w in pair], workload, timeout_s=sized(120, 400))
        wait_drained(
            deployment.bootstrap,
            f"{deployment.prefix}app",
            [deployment.topic(t) for t in STAGE_TOPICS],
            timeout_s=120,
        )
        survivor, gone = pair
        owned_before = wait_split(pair, deployment.topic("events"), PARTITIONS)[gone.port]
        gone.kill()
        stopped = time.monotonic()
        takeover_s = wait_exact(reader, [survivor.url], workload, timeout_s=BOUND_S + 60)
        answered_s = time.monotonic() - stopped
        health = survivor.wait_ready(topic=deployment.topic("events"))
        diffs = verify_everywhere(reader, [survivor], workload)
    figures.update(
        {
            "events": workload.distinct_events,
            "ids": len(targets(workload)),
            "partitions_taken_over": len(owned_before),
            "standby_replicas": 1,
            "session_timeout_s": SESSION_TIMEOUT_S,
            "every_key_answered_after_s": round(answered_s, 1),
            "bound_s": BOUND_S,
            "wrong_answers_at_end": len(diffs),
            "survivor_partitions": sorted(health["assigned"].get(deployment.topic("events"), [])),
        }
    )
    print(f"\n{figures}")
    assert takeover_s <= answered_s
    assert not diffs, show(diffs, workload)
    assert figures["survivor_partitions"] == list(range(PARTITIONS))
    assert answered_s <= BOUND_S, f"every key answered only after {answered_s:.1f} s"
