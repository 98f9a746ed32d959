"""A rolling restart across a topology change is caught: the out-of-date worker says so.

Two real workers of one deployment: the first runs ``e2e_plan_counts`` as declared, the second
is started (while the first still runs) with the aggregate changed, as a rolling restart would.
The first must find itself superseded within seconds: ``streamapp_topology_superseded`` is 1 for
that aggregate only, and its log says ``OUT OF DATE`` naming both versions. The second, started
last, is not superseded.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

from tests.support.workers import Deployment, Worker

DECL = """
from streamapp.windows.declare import Aggregate, Count, DistinctUsers, Sum, Tumbling

plan_counts = Aggregate(
    name="e2e_plan_counts",
    key=("properties.plan",),
    window=Tumbling(size_s=10),
    grace_s=10,
    measures=({measures}),
)
untouched = Aggregate(
    name="e2e_untouched",
    key=("event",),
    window=Tumbling(size_s=10),
    grace_s=10,
    measures=(Count(),),
)
"""


def _gauge(worker: Worker, aggregate: str) -> float | None:
    status, text = worker.get("/metrics")
    assert status == 200
    found = re.search(
        rf'streamapp_topology_superseded{{aggregate="{aggregate}"}} ([0-9.]+)', str(text)
    )
    return float(found[1]) if found else None


def test_a_worker_left_on_the_old_topology_says_it_is_out_of_date(
    workers: Callable[..., Worker], deployment: Deployment, tmp_path: Path
) -> None:
    d = deployment
    d.partitions = 2
    started = time.monotonic()
    folders = []
    for name, measures in (
        ("old", "Count(), DistinctUsers()"),
        ("new", "Count(), Sum('properties.price')"),
    ):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "e2e.py").write_text(DECL.format(measures=measures))
        folders.append(folder)

    d.extra_env["STREAMAPP_TOPOLOGIES_DIR"] = str(folders[0])
    old = workers()
    old.wait_ready(timeout_s=120)
    deadline = time.monotonic() + 60
    while _gauge(old, "e2e_plan_counts") is None:  # the first check after the start
        assert time.monotonic() < deadline, old.log_tail()
        time.sleep(1)
    assert _gauge(old, "e2e_plan_counts") == 0

    d.extra_env["STREAMAPP_TOPOLOGIES_DIR"] = str(folders[1])
    new = workers()
    new.wait_ready(timeout_s=120)
    deadline = time.monotonic() + 90
    while _gauge(old, "e2e_plan_counts") != 1:
        assert time.monotonic() < deadline, old.log_tail()
        time.sleep(1)
    assert _gauge(old, "e2e_untouched") == 0  # its version is the same in both
    log = old.log_path.read_text(errors="replace")
    said = [line for line in log.splitlines() if "OUT OF DATE" in line]
    assert said and "e2e_plan_counts" in said[0], old.log_tail()
    versions = re.findall(r"version (\w{8})", said[0])
    assert len(set(versions)) == 2, said[0]
    deadline = time.monotonic() + 30
    while _gauge(new, "e2e_plan_counts") is None:
        assert time.monotonic() < deadline, new.log_tail()
        time.sleep(1)
    assert _gauge(new, "e2e_plan_counts") == 0
    print(f"\n{said[0].strip()}\n(test took {time.monotonic() - started:.0f} s)")
