"""Run the baseline systems (raw ceiling, plain Faust, Quix Streams) on the preloaded topic.

Each runs as its own process under its own consumer group. Its clock starts at its first record
(the process writes that time to a file, or prints it) and stops when its consumer group has
committed every offset of every topic it reads (lag 0), so start-up is not counted.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from benchmarks.kafka_io import LagProbe
from benchmarks.procstats import ProcessSampler
from benchmarks.streamapp_system import SPAWNED

REPO = Path(__file__).resolve().parents[1]
PYTHON = str(REPO / ".venv" / "bin" / "python")


def run_raw(bootstrap: str, topic: str, group: str, total: int) -> dict[str, Any]:
    """System (a): decode-only aiokafka consumer."""
    proc = subprocess.Popen(
        [PYTHON, "-m", "benchmarks.systems.raw_consumer", bootstrap, topic, group, str(total)],
        stdout=subprocess.PIPE,
        cwd=REPO,
    )
    SPAWNED.append(proc)  # type: ignore[arg-type]
    sampler = ProcessSampler([proc.pid])
    sampler.start()
    out, _ = proc.communicate(timeout=3600)
    sampler.stop()
    report = orjson.loads(out.splitlines()[-1])
    elapsed = report["last"] - report["first"]
    return {
        "events_per_s": total / elapsed,
        "elapsed_s": elapsed,
        # Includes start-up (small next to the run at any sensible size).
        "cpu_s_per_event": sampler.cpu_s / total,
        "peak_rss_mb": sampler.peak_rss_mb,
    }


def _run_app(
    cmd: list[str],
    env: dict[str, str],
    *,
    bootstrap: str,
    group: str,
    topic: str,
    total: int,
    first_file: Path,
    log_path: Path,
    timeout_s: float,
) -> dict[str, Any]:
    log = log_path.open("ab")
    proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    SPAWNED.append(proc)
    sampler = ProcessSampler([proc.pid])
    sampler.start()

    async def drained() -> tuple[float, float]:
        deadline = time.monotonic() + timeout_s
        reset = False
        async with LagProbe(bootstrap, group) as probe:
            while time.monotonic() < deadline:
                if proc.poll() is not None:
                    raise RuntimeError(f"{cmd} exited {proc.returncode}; see {log_path}")
                if not reset and first_file.exists() and first_file.read_text():
                    sampler.reset_cpu()
                    reset = True
                lag, _ = await probe.lag([topic], all_committed=True)
                _, done = await probe.lag([topic])
                if reset and lag == 0 and done >= total:
                    return float(first_file.read_text()), time.time()
                await asyncio.sleep(0.25)
        raise RuntimeError(f"{cmd} not drained in {timeout_s} s; see {log_path}")

    try:
        t0, t1 = asyncio.run(drained())
        sampler.stop()
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return {
        "events_per_s": total / (t1 - t0),
        "elapsed_s": t1 - t0,
        "cpu_s_per_event": sampler.cpu_s / total,
        "peak_rss_mb": sampler.peak_rss_mb,
    }


def _env(bootstrap: str, topic: str, group: str, data_dir: Path, first: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "BENCH_BOOTSTRAP": bootstrap,
            "BENCH_TOPIC": topic,
            "BENCH_APP_ID": group,
            "BENCH_DATA_DIR": str(data_dir),
            "BENCH_FIRST_EVENT_FILE": str(first),
        }
    )
    return env


def run_faust(
    bootstrap: str, topic: str, group: str, total: int, work: Path, timeout_s: float
) -> dict[str, Any]:
    """System (c): the plain Faust app."""
    port = {"BENCH_PORT": str(_free_port())}
    faust_cmd = [PYTHON, "-m", "benchmarks.systems.faust_plain", "worker", "-l", "info"]
    return _run_baseline("faust", faust_cmd, port, bootstrap, topic, group, total, work, timeout_s)


def run_quix(
    bootstrap: str, topic: str, group: str, total: int, work: Path, timeout_s: float
) -> dict[str, Any]:
    """System (d): the Quix Streams app."""
    quix_cmd = [PYTHON, "-m", "benchmarks.systems.quix_app"]
    return _run_baseline("quix", quix_cmd, {}, bootstrap, topic, group, total, work, timeout_s)


def _run_baseline(
    name: str,
    cmd: list[str],
    extra_env: dict[str, str],
    bootstrap: str,
    topic: str,
    group: str,
    total: int,
    work: Path,
    timeout_s: float,
) -> dict[str, Any]:
    """Run one baseline app in a fresh data dir of its own until it has processed ``total``."""
    data = work / name
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    first = data / "first-event"
    env = {**_env(bootstrap, topic, group, data, first), **extra_env}
    return _run_app(
        cmd,
        env,
        bootstrap=bootstrap,
        group=group,
        topic=topic,
        total=total,
        first_file=first,
        log_path=work / f"{name}.log",
        timeout_s=timeout_s,
    )


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


if __name__ == "__main__":
    print("run via benchmarks.run", file=sys.stderr)
