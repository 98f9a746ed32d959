"""``make bench``: every system on the same preloaded workload, one after another; then the table.

    .venv/bin/python -m benchmarks.run --events 1000000 [--bootstrap 127.0.0.1:9092]
        [--only raw,streamapp,faust,quix,latency,rebuild]

Order: generate the workload once (seeded) and preload it into ``<run>-w1.events`` (and a copy for
the 2-worker run); then (a) the raw ceiling, (b) streamapp with 1 worker (then latency at half its
measured maximum on the same worker), streamapp with 2 workers, (c) the plain Faust app,
(d) Quix Streams, and streamapp's rebuild of a 1,000,000-key profile table. Results go to
``benchmarks/results/``. The broker runs on the same machine and is not counted in CPU or RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from benchmarks import baselines, report
from benchmarks.kafka_io import create_topic, preload
from benchmarks.streamapp_system import Deployment, end_spawned, throughput
from benchmarks.workload import generate

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"


def log(msg: str) -> None:
    print(f"[bench {dt.datetime.now(dt.UTC):%H:%M:%S}] {msg}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--bootstrap", default=os.environ.get("BENCH_BOOTSTRAP", "127.0.0.1:9092"))
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--rebuild-keys", type=int, default=1_000_000)
    parser.add_argument("--latency-s", type=float, default=30.0)
    parser.add_argument("--only", default="raw,streamapp,faust,quix,latency,rebuild")
    parser.add_argument("--skip", default="", help="streamapp1 and/or streamapp2")
    parser.add_argument("--work", default="/tmp/streamapp-bench")
    parser.add_argument(
        "--merge", action="store_true", help="update latest.json's systems instead of replacing"
    )
    args = parser.parse_args()
    only = set(args.only.split(","))
    skip = set(args.skip.split(","))
    n = args.events
    started_at = time.time()
    run_id = f"bench{int(started_at)}"
    work = Path(args.work) / run_id
    work.mkdir(parents=True, exist_ok=True)
    timeout_s = max(600.0, n / 500)

    span_ms = n * 1000 // 500
    base_ms = (int(time.time() * 1000) - span_ms - 15 * 60_000) // 60_000 * 60_000
    log(f"generating {n:,} events (seed 8)")
    records = list(generate(n, seed=8, base_ms=base_ms))
    mean_bytes = sum(len(v) for _k, v in records) / n
    dep1 = Deployment(args.bootstrap, f"{run_id}-w1", work / "w1", args.partitions)
    dep2 = Deployment(args.bootstrap, f"{run_id}-w2", work / "w2", args.partitions)
    topic = dep1.topic("events")
    for dep in (dep1, dep2) if "streamapp" in only else (dep1,):
        asyncio.run(create_topic(args.bootstrap, dep.topic("events"), args.partitions))
        started = time.time()
        asyncio.run(preload(args.bootstrap, dep.topic("events"), records))
        log(f"preloaded {dep.topic('events')} in {time.time() - started:.1f} s")
    del records

    results: dict[str, dict[str, Any]] = {}
    if args.merge and (RESULTS / "latest.json").exists():
        results = json.loads((RESULTS / "latest.json").read_text())
    if "raw" in only:
        log("(a) raw ceiling")
        results["raw"] = baselines.run_raw(args.bootstrap, topic, f"{run_id}-raw", n)
        log(f"    {results['raw']['events_per_s']:,.0f} events/s")
        report.write(results, _meta(args, n, mean_bytes, run_id, started_at), RESULTS)
    if "streamapp" in only:
        for key, dep, workers in (("streamapp_1w", dep1, 1), ("streamapp_2w", dep2, 2)):
            if f"streamapp{workers}" in skip:
                continue
            log(f"(b) streamapp, {workers} worker(s)")
            res = throughput(dep, n, workers, timeout_s)
            procs = res.pop("workers")
            res.pop("sampler")
            try:
                if workers == 1 and "latency" in only:
                    from benchmarks.latency import measure_latency, timeline_text

                    rate = res["events_per_s"] / 2
                    log(f"    latency at {rate:,.0f} events/s offered for {args.latency_s:.0f} s")
                    measured = measure_latency(dep, procs[0], rate, args.latency_s)
                    log("    " + timeline_text(measured.pop("timeline")))
                    res.update(measured)
            finally:
                for w in procs:
                    w.stop()
            results[key] = {**results.get(key, {}), **res}
            report.write(results, _meta(args, n, mean_bytes, run_id, started_at), RESULTS)
            log(f"    {res['events_per_s']:,.0f} events/s")
            shutil.rmtree(dep.data_dir, ignore_errors=True)
    if "faust" in only:
        log("(c) plain Faust app")
        results["faust_plain"] = baselines.run_faust(
            args.bootstrap, topic, f"{run_id}-faust", n, work, timeout_s
        )
        log(f"    {results['faust_plain']['events_per_s']:,.0f} events/s")
        report.write(results, _meta(args, n, mean_bytes, run_id, started_at), RESULTS)
    if "quix" in only:
        log("(d) Quix Streams")
        results["quixstreams"] = baselines.run_quix(
            args.bootstrap, topic, f"{run_id}-quix", n, work, timeout_s
        )
        log(f"    {results['quixstreams']['events_per_s']:,.0f} events/s")
        report.write(results, _meta(args, n, mean_bytes, run_id, started_at), RESULTS)
    if "rebuild" in only:
        from benchmarks.rebuild import measure_rebuild

        log(f"rebuild of {args.rebuild_keys:,} profile keys")
        dep3 = Deployment(args.bootstrap, f"{run_id}-rb", work / "rb", args.partitions)
        rebuilt = measure_rebuild(dep3, args.rebuild_keys)
        results.setdefault("streamapp_1w", {}).update(rebuilt)
        log(f"    {rebuilt['rebuild_s']:.1f} s")

    report.write(results, _meta(args, n, mean_bytes, run_id, started_at), RESULTS)
    md = (RESULTS / "latest.md").read_text()
    print()
    print(md)


def _meta(
    args: argparse.Namespace, n: int, mean_bytes: float, run_id: str, started_at: float
) -> dict[str, Any]:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO
    ).stdout.strip()
    return {
        "events": n,
        "partitions": args.partitions,
        "mean_event_bytes": mean_bytes,
        "cpus": os.cpu_count(),
        "started": f"{dt.datetime.fromtimestamp(started_at, dt.UTC):%Y-%m-%d %H:%M} UTC",
        "run_id": run_id,
        "command": f"make bench EVENTS={n} REBUILD_KEYS={args.rebuild_keys}",
        "commit": commit,
        "load_average_at_end": os.getloadavg(),
    }


def _on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    atexit.register(end_spawned)
    signal.signal(signal.SIGTERM, _on_signal)
    main()
