"""System (b): streamapp's full pipeline, run as real ``streamapp worker`` processes.

Each run gets its own topic prefix and app id on the broker, production settings otherwise
(acks=all, standby replicas, the example topologies in ``topologies/``). Throughput is the time
from the first validated record appearing on ``events.identify`` until the app's consumer groups
have committed every offset of every topic they read (``events``, ``events.identify``,
``events.identified``, ``windows.*``): every effect, including the sink records of every window
closed by then, is on the broker.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from benchmarks.kafka_io import LagProbe, end_offsets
from benchmarks.procstats import ProcessSampler
from streamapp.topics import validate_group

REPO = Path(__file__).resolve().parents[1]
STREAMAPP = str(REPO / ".venv" / "bin" / "streamapp")
TOKEN = "bench-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Deployment:
    """One isolated streamapp deployment: its topic prefix, app id and data dir."""

    bootstrap: str
    prefix: str
    data_dir: Path
    partitions: int

    @property
    def app_id(self) -> str:
        return f"{self.prefix}-app"

    def topic(self, name: str) -> str:
        return f"{self.prefix}.{name}"

    def env(self, port: int) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMAPP_")}
        env.update(
            {
                "STREAMAPP_KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
                "STREAMAPP_APP_ID": self.app_id,
                "STREAMAPP_TOPIC_PREFIX": f"{self.prefix}.",
                "STREAMAPP_TOPIC_PARTITIONS": str(self.partitions),
                "STREAMAPP_DATA_DIR": str(self.data_dir),
                "STREAMAPP_WEB_PORT": str(port),
                "STREAMAPP_API_TOKEN": TOKEN,
                "STREAMAPP_TOPOLOGIES_DIR": str(REPO / "topologies"),
                "STREAMAPP_LOG_LEVEL": os.environ.get("BENCH_WORKER_LOG_LEVEL", "WARNING"),
            }
        )
        # Settings to try without editing code, e.g. "STREAMAPP_BATCH_MAX_EVENTS=5000 ...".
        for pair in os.environ.get("BENCH_WORKER_ENV", "").split():
            name, _, value = pair.partition("=")
            env[name] = value
        return env


@dataclass
class Worker:
    port: int
    proc: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_worker(dep: Deployment, extra: list[str] | None = None) -> Worker:
    port = free_port()
    dep.data_dir.mkdir(parents=True, exist_ok=True)
    log = (dep.data_dir / f"worker-{port}.log").open("ab")
    cmd = [*(extra or []), STREAMAPP, "worker", "-l", "info"]
    proc = subprocess.Popen(cmd, env=dep.env(port), stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
    SPAWNED.append(proc)
    return Worker(port, proc)


SPAWNED: list[subprocess.Popen[bytes]] = []
"""Every process the benchmark started: ended at exit, whatever happened (see benchmarks.run)."""


def end_spawned() -> None:
    """SIGKILL every process this benchmark started that still runs (by pid, nothing else)."""
    for proc in SPAWNED:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def get_json(url: str, timeout_s: float = 5.0) -> tuple[int, Any]:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {TOKEN}"})
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            return resp.status, orjson.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, None
    except (OSError, orjson.JSONDecodeError):
        return 0, None


def wait_ready(worker: Worker, topic: str, timeout_s: float = 180.0) -> None:
    """Wait until the worker's /health lists partitions of ``topic`` as assigned."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if worker.proc.poll() is not None:
            raise RuntimeError(f"worker exited with {worker.proc.returncode}")
        status, body = get_json(worker.url + "/health")
        if status == 200 and isinstance(body, dict) and body.get("assigned", {}).get(topic):
            return
        time.sleep(0.2)
    raise RuntimeError(f"worker {worker.port} not ready in {timeout_s} s")


async def wait_drained(
    dep: Deployment,
    total: int,
    *,
    workers: list[Worker],
    timeout_s: float,
    sampler: ProcessSampler | None = None,
) -> tuple[float, float]:
    """(t0, t1): first output seen on ``events.identify``; every effect committed.

    Done means: the lag on ``events`` (the validate reader's group), ``events.identify`` and
    ``events.identified`` (the workers' group) is 0 (all events, stitching hand-offs and partials
    produced), and then the workers' committed offsets on
    every ``windows.*`` topic reached the end offsets read at that moment. Lag on ``windows.*``
    itself never stays 0: the owners send themselves a tick per second there.
    """
    identify = dep.topic("events.identify")
    chain = [dep.topic("events"), identify, dep.topic("events.identified")]
    t0 = 0.0
    deadline = time.monotonic() + timeout_s

    def check() -> None:
        if any(w.proc.poll() is not None for w in workers):
            raise RuntimeError(f"a worker exited; logs in {dep.data_dir}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"not drained in {timeout_s} s")

    async with (
        LagProbe(dep.bootstrap, validate_group(dep.app_id)) as reader,
        LagProbe(dep.bootstrap, dep.app_id) as probe,
    ):
        while not t0:
            ends = await end_offsets(dep.bootstrap, [identify])
            if sum(ends.values()) > 0:
                t0 = time.time()
                if sampler is not None:
                    sampler.reset_cpu()  # start-up (imports, rebalance) is not per-event work
                break
            check()
            await asyncio.sleep(0.05)
        while True:
            check()
            lag, _ = await probe.lag(chain[1:])
            lag_events, done_events = await reader.lag(chain[:1])
            if lag + lag_events == 0 and done_events >= total:
                break
            await asyncio.sleep(0.2)
        windows = [t for t in await probe.topics(dep.topic("windows.")) if t != identify]
        targets = await end_offsets(dep.bootstrap, windows)
        while True:
            check()
            committed = await probe.committed_offsets(windows)
            if all(committed.get(tp, 0) >= end for tp, end in targets.items()):
                return t0, time.time()
            await asyncio.sleep(0.2)


def throughput(dep: Deployment, total: int, n_workers: int, timeout_s: float) -> dict[str, Any]:
    """Start ``n_workers`` on the preloaded ``events`` topic; measure until everything is done."""
    workers = [start_worker(dep) for _ in range(n_workers)]
    sampler = ProcessSampler([w.proc.pid for w in workers])
    sampler.start()
    try:
        t0, t1 = asyncio.run(
            wait_drained(dep, total, workers=workers, timeout_s=timeout_s, sampler=sampler)
        )
        sampler.stop()
        return {
            "events_per_s": total / (t1 - t0),
            "elapsed_s": t1 - t0,
            "cpu_s_per_event": sampler.cpu_s / total,
            "peak_rss_mb": sampler.peak_rss_mb,
            "workers": workers,
            "sampler": sampler,
        }
    except BaseException:
        sampler.stop()
        for w in workers:
            w.stop()
        raise
