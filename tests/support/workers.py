"""Real `streamapp worker` processes for end-to-end tests, and the environment they run with."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
STREAMAPP = str(REPO / ".venv" / "bin" / "streamapp")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_json(url: str, *, token: str | None = None, timeout_s: float = 10.0) -> tuple[int, Any]:
    """GET a URL; return (status, decoded JSON or text)."""
    req = urllib.request.Request(url)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            body = resp.read()
            status = resp.status
    except urllib.error.HTTPError as err:
        body = err.read()
        status = err.code
    try:
        return status, json.loads(body)
    except ValueError:
        return status, body.decode("utf-8", "replace")


@dataclass
class Deployment:
    """One isolated deployment on the shared test broker: its own topic prefix and app id."""

    bootstrap: str
    data_dir: Path
    prefix: str
    partitions: int = 4
    extra_env: dict[str, str] = field(default_factory=dict)
    token: str = "test-token"
    write_key: str = "test-write-key"

    def env(self, port: int) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMAPP_")}
        env.update(
            {
                "STREAMAPP_KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
                "STREAMAPP_APP_ID": f"{self.prefix}app",
                "STREAMAPP_TOPIC_PREFIX": f"{self.prefix}.",
                "STREAMAPP_TOPIC_PARTITIONS": str(self.partitions),
                "STREAMAPP_DATA_DIR": str(self.data_dir),
                "STREAMAPP_WEB_PORT": str(port),
                "STREAMAPP_API_TOKEN": self.token,
                "STREAMAPP_WRITE_KEYS": self.write_key,
                "STREAMAPP_BATCH_WITHIN_S": "0.02",
                "STREAMAPP_WINDOW_IDLE_TIMEOUT_S": "3",
            }
        )
        env.update(self.extra_env)
        return env

    def topic(self, name: str) -> str:
        return f"{self.prefix}.{name}"


@dataclass
class Worker:
    """A running `streamapp worker` subprocess."""

    deployment: Deployment
    port: int
    proc: subprocess.Popen[bytes]
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def get(self, path: str, *, token: str | None = None) -> tuple[int, Any]:
        return http_json(self.url + path, token=token)

    def health(self) -> dict[str, Any] | None:
        try:
            status, body = self.get("/health")
        except OSError:
            return None
        return body if status == 200 and isinstance(body, dict) else None

    def wait_ready(self, timeout_s: float = 120.0, topic: str | None = None) -> dict[str, Any]:
        """Wait until /health answers (and, if given, the worker owns partitions of topic)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"worker exited {self.proc.returncode}:\n{self.log_tail()}")
            health = self.health()
            if health is not None and (topic is None or health["assigned"].get(topic)):
                return health
            time.sleep(0.3)
        raise AssertionError(f"worker not ready in {timeout_s} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self, timeout_s: float = 30.0) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def kill(self) -> None:
        """SIGKILL: the crash the delivery contract must survive."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def start_worker(deployment: Deployment, port: int | None = None) -> Worker:
    port = port or free_port()
    log_path = deployment.data_dir / f"worker-{port}.log"
    deployment.data_dir.mkdir(parents=True, exist_ok=True)
    out = log_path.open("ab")
    proc = subprocess.Popen(
        [STREAMAPP, "worker", "-l", "info"],
        env=deployment.env(port),
        stdout=out,
        stderr=subprocess.STDOUT,
        cwd=str(REPO),
    )
    return Worker(deployment=deployment, port=port, proc=proc, log_path=log_path)
