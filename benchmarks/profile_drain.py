"""Profile one streamapp worker draining a preloaded workload, under py-spy.

    .venv/bin/python -m benchmarks.profile_drain --events 100000 --out /tmp/drain.prof
    .venv/bin/python -m benchmarks.spy_summary /tmp/drain.prof --top 40

Why a tool of its own: where a throughput target is missed the answer is a profile of where the
time goes, and it should come from the same worker, settings and workload as ``make bench``,
not from a hand-made setup. This runs system (b) with one worker exactly as
:func:`benchmarks.streamapp_system.throughput` does, with the worker started under
``py-spy record -f raw`` (``--no-spy`` for the figures alone), prints events/s and CPU per event,
and leaves the raw profile for :mod:`benchmarks.spy_summary`. The sampling costs the worker a few
per cent, so compare figures of runs made the same way only.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import time
from pathlib import Path

import psutil

from benchmarks.kafka_io import create_topic, preload
from benchmarks.latency import measure_latency, timeline_text
from benchmarks.procstats import ProcessSampler
from benchmarks.streamapp_system import (
    Deployment,
    Worker,
    end_spawned,
    start_worker,
    wait_drained,
)
from benchmarks.workload import generate

REPO = Path(__file__).resolve().parents[1]
PY_SPY = str(REPO / ".venv" / "bin" / "py-spy")


def _stop(pid: int, *, spied: bool) -> None:
    """End the worker so that py-spy writes its profile.

    py-spy writes when the program it runs exits; a SIGTERM to py-spy itself loses the profile.
    """
    if not spied:
        return
    for child in psutil.Process(pid).children():
        child.terminate()
    psutil.Process(pid).wait(60)


def _latency(dep: Deployment, worker: Worker, args: argparse.Namespace, *, spied: bool) -> None:
    """The latency phase of ``make bench`` at ``--latency-rate``, py-spy attached to the worker."""
    spy = None
    if spied:
        cmd = [PY_SPY, "record", "-f", "raw", "-r", str(args.rate)]
        cmd += ["--native"] if args.native else ["--nonblocking"]
        cmd += ["-o", args.out, "-d", str(int(args.latency_s)), "--pid", str(worker.proc.pid)]
        spy = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cpu0 = _cpu_s(worker.proc.pid)
    threads0 = _thread_cpu_s(worker.proc.pid)
    res = measure_latency(dep, worker, args.latency_rate, args.latency_s)
    busy = (_cpu_s(worker.proc.pid) - cpu0) / args.latency_s
    threads = _thread_cpu_s(worker.proc.pid)
    if spy is not None:
        spy.wait(120)
    print(
        f"latency at {args.latency_rate:,.0f} events/s offered: p50 {res['p50_ms']:.0f} / "
        f"p95 {res['p95_ms']:.0f} / p99 {res['p99_ms']:.0f} ms "
        f"({res['probes']} probes, {res['probes_unanswered_in_30s']} unanswered); "
        f"worker CPU {busy:.0%} of a core"
    )
    print(timeline_text(res["timeline"]))
    per_thread = sorted(((threads[t] - threads0.get(t, 0.0)) / args.latency_s, t) for t in threads)[
        ::-1
    ]
    shares = ", ".join(f"{t}: {s:.0%}" for s, t in per_thread[:6])
    print(f"busiest threads (share of a core): {shares}")


def _thread_cpu_s(pid: int) -> dict[str, float]:
    """CPU seconds per thread of ``pid`` (by thread id and name): which loop is busy."""
    out: dict[str, float] = {}
    for thread in psutil.Process(pid).threads():
        try:
            with open(f"/proc/{pid}/task/{thread.id}/comm", encoding="utf-8") as comm:
                name = comm.read().strip()
        except OSError:
            name = "?"
        out[f"{thread.id}/{name}"] = thread.user_time + thread.system_time
    return out


def _cpu_s(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--out", default="/tmp/streamapp-drain.prof")
    parser.add_argument("--rate", type=int, default=200, help="py-spy samples per second")
    parser.add_argument("--no-spy", action="store_true", help="run the worker without py-spy")
    parser.add_argument(
        "--native", action="store_true", help="py-spy --native: C frames too (uvloop, rocksdict)"
    )
    parser.add_argument("--work", default="/tmp/streamapp-drain")
    parser.add_argument(
        "--latency-rate",
        type=float,
        default=0.0,
        help="after the drain, offer this many events/s for --latency-s and profile that phase",
    )
    parser.add_argument("--latency-s", type=float, default=30.0)
    args = parser.parse_args()

    n = args.events
    run_id = f"drain{int(time.time())}"
    dep = Deployment(args.bootstrap, run_id, Path(args.work) / run_id, args.partitions)
    base_ms = (int(time.time() * 1000) - n * 2 - 15 * 60_000) // 60_000 * 60_000
    records = list(generate(n, seed=8, base_ms=base_ms))
    asyncio.run(create_topic(args.bootstrap, dep.topic("events"), args.partitions))
    asyncio.run(preload(args.bootstrap, dep.topic("events"), records))
    del records

    spy_args = ["record", "-f", "raw", "-r", str(args.rate), "-o", args.out]
    spy_args += ["--native"] if args.native else ["--nonblocking"]
    spy_drain = not args.no_spy and not args.latency_rate
    worker = start_worker(dep, [PY_SPY, *spy_args, "--"] if spy_drain else [])
    # Under py-spy the process is py-spy and the worker its child: CPU includes py-spy's own.
    sampler = ProcessSampler([worker.proc.pid])
    sampler.start()
    try:
        t0, t1 = asyncio.run(
            wait_drained(dep, n, workers=[worker], timeout_s=max(600.0, n / 300), sampler=sampler)
        )
        sampler.stop()
        print(
            f"{n:,} events in {t1 - t0:.1f} s: {n / (t1 - t0):,.0f} events/s, "
            f"{sampler.cpu_s / n * 1e6:,.0f} µs of CPU per event, "
            f"peak RSS {sampler.peak_rss_mb:,.0f} MB"
        )
        if args.latency_rate:
            _latency(dep, worker, args, spied=not args.no_spy)
    finally:
        _stop(worker.proc.pid, spied=spy_drain)
        worker.stop()
        end_spawned()
    if not args.no_spy:
        print(f"profile: {args.out}")
    shutil.rmtree(dep.data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
