"""The embedded Apache Kafka 3.9.2 broker: fetch jars, format storage once, start, stop, status.

Sits outside the dataflow: it gives a laptop or a CI machine the same real broker a cluster has,
from Maven Central jars (no tarball, no Docker). The jars are resolved by ``pom.xml`` beside this
file into ``STREAMAPP_BROKER_HOME/lib`` (outside the repository); a second start uses that cache
and needs no network. Data and logs live under ``STREAMAPP_DATA_DIR/broker``.

The node runs KRaft combined mode (broker and controller in one JVM) on the host and port of the
first ``STREAMAPP_KAFKA_BOOTSTRAP_SERVERS`` entry, with the controller on the next port. It must
not be used for anything but a single local node: replication factor 1 for internal topics.
"""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from streamapp.config import Settings
from streamapp.errors import BrokerError

KAFKA_VERSION = "3.9.2"
JVM_FLAGS = (
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:ParallelGCThreads=2",
    "-XX:ConcGCThreads=1",
    "-XX:CICompilerCount=2",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djava.awt.headless=true",
)


@dataclass(frozen=True, slots=True)
class BrokerLayout:
    """Where the broker's jars, configuration, data and logs are."""

    home: Path
    root: Path
    host: str
    port: int

    @property
    def lib(self) -> Path:
        """The jar cache (one folder, used as the classpath ``lib/*``)."""
        return self.home / "lib"

    @property
    def data(self) -> Path:
        """The KRaft log directory (topics and metadata)."""
        return self.root / "data"

    @property
    def logs(self) -> Path:
        """The broker's own log files."""
        return self.root / "logs"

    @property
    def properties(self) -> Path:
        """The generated ``server.properties``."""
        return self.root / "server.properties"

    @property
    def pid_file(self) -> Path:
        """The pid of the running JVM."""
        return self.root / "broker.pid"

    @property
    def controller_port(self) -> int:
        """The KRaft controller listener: the port after the broker's."""
        return self.port + 1


def layout_for(settings: Settings) -> BrokerLayout:
    """Derive the broker layout from the settings (first bootstrap server = this node)."""
    first = settings.kafka_bootstrap_servers.split(",")[0].strip()
    host, _, port = first.rpartition(":")
    return BrokerLayout(
        home=settings.broker_home,
        root=(settings.data_dir / "broker").resolve(),
        host=host or "127.0.0.1",
        port=int(port),
    )


def server_properties(layout: BrokerLayout) -> str:
    """The ``server.properties`` of one KRaft combined node sized for a 2-core machine."""
    h, p, c = layout.host, layout.port, layout.controller_port
    return "\n".join(
        [
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@{h}:{c}",
            f"listeners=PLAINTEXT://{h}:{p},CONTROLLER://{h}:{c}",
            f"advertised.listeners=PLAINTEXT://{h}:{p}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            f"log.dirs={layout.data}",
            "offsets.topic.replication.factor=1",
            "offsets.topic.num.partitions=8",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "transaction.state.log.num.partitions=8",
            "group.initial.rebalance.delay.ms=0",
            "auto.create.topics.enable=false",
            "num.network.threads=2",
            "num.io.threads=2",
            "num.recovery.threads.per.data.dir=1",
            "background.threads=2",
            "log.cleaner.threads=1",
            "log.cleaner.dedupe.buffer.size=16777216",
            "log.retention.hours=168",
            "log.segment.bytes=134217728",
            "",
        ]
    )


def fetch(layout: BrokerLayout) -> None:
    """Resolve the broker jars from Maven Central into the cache, once.

    A cache that holds the broker jar is reused without touching the network.
    """
    marker = layout.lib / f"kafka_2.13-{KAFKA_VERSION}.jar"
    if marker.exists():
        return
    mvn = shutil.which("mvn")
    if mvn is None:
        raise BrokerError("fetch", "Maven (mvn) is not on PATH; install maven and retry")
    staging = layout.home / "lib.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True, exist_ok=True)
    with resources.as_file(resources.files("streamapp.broker") / "pom.xml") as pom:
        cmd = [
            mvn,
            "-q",
            "-B",
            "-f",
            str(pom),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={staging}",
        ]
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0 or not (staging / marker.name).exists():
        tail = (result.stdout + result.stderr).strip()[-2000:]
        raise BrokerError("fetch", f"mvn dependency:copy-dependencies failed:\n{tail}")
    shutil.rmtree(layout.lib, ignore_errors=True)
    staging.rename(layout.lib)


def _java() -> str:
    java = shutil.which("java")
    if java is None:
        raise BrokerError("start", "java is not on PATH; install OpenJDK 17")
    return java


def _classpath(layout: BrokerLayout) -> str:
    # The wildcard must reach the JVM unexpanded: no shell is involved here.
    return str(layout.lib / "*")


def new_cluster_id() -> str:
    """A KRaft cluster id: URL-safe base64 of a random UUID, never starting with ``-``.

    An id starting with ``-`` is valid to Kafka but read as an option by the storage tool's
    argument parser (Kafka's own ``Uuid.randomUuid`` draws again for the same reason).
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cluster_id.startswith("-"):
            return cluster_id


def format_storage(layout: BrokerLayout) -> None:
    """Write ``server.properties`` and format the KRaft log directory once."""
    layout.root.mkdir(parents=True, exist_ok=True)
    layout.logs.mkdir(parents=True, exist_ok=True)
    layout.properties.write_text(server_properties(layout))
    if (layout.data / "meta.properties").exists():
        return
    cluster_id = new_cluster_id()
    cmd = [
        _java(),
        "-Xmx256m",
        "-cp",
        _classpath(layout),
        "kafka.tools.StorageTool",
        "format",
        "-t",
        cluster_id,
        "-c",
        str(layout.properties),
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BrokerError("format", (result.stdout + result.stderr).strip()[-2000:])


def read_pid(layout: BrokerLayout) -> int | None:
    """The pid of the broker JVM if it is alive, else None."""
    try:
        pid = int(layout.pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return pid
    return pid if b"kafka.Kafka" in cmdline else None


def port_open(host: str, port: int, timeout_s: float = 0.5) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


async def _answers(bootstrap: str) -> bool:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    try:
        await admin.start()
        cluster = await admin.describe_cluster()
        return bool(cluster.get("brokers"))
    except Exception:
        return False
    finally:
        await admin.close()


async def broker_answers(layout: BrokerLayout) -> bool:
    """True when the broker answers a metadata request and lists itself."""
    if not port_open(layout.host, layout.port):
        return False
    return await _answers(f"{layout.host}:{layout.port}")


async def start(settings: Settings, *, timeout_s: float = 90.0) -> BrokerLayout:
    """Start the broker unless it runs already; return when it answers.

    Idempotent: a second call with the broker up returns at once.
    """
    layout = layout_for(settings)
    if read_pid(layout) is not None and await broker_answers(layout):
        return layout
    if port_open(layout.host, layout.port):
        raise BrokerError(
            "start", f"port {layout.port} is taken by another process (not this broker)"
        )
    fetch(layout)
    format_storage(layout)
    heap = f"-Xmx{settings.broker_heap_mb}m"
    with resources.as_file(resources.files("streamapp.broker") / "log4j.properties") as log4j:
        cmd = [
            _java(),
            f"-Xms{min(256, settings.broker_heap_mb)}m",
            heap,
            *JVM_FLAGS,
            f"-Dlog4j.configuration=file:{log4j}",
            f"-Dkafka.logs.dir={layout.logs}",
            "-cp",
            _classpath(layout),
            "kafka.Kafka",
            str(layout.properties),
        ]
        out = (layout.logs / "stdout.log").open("ab")
        proc = subprocess.Popen(
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    layout.pid_file.write_text(str(proc.pid))
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BrokerError(
                "start", f"the JVM exited with {proc.returncode}; see {layout.logs}/stdout.log"
            )
        if await broker_answers(layout):
            return layout
        await asyncio.sleep(0.5)
    stop(settings)
    raise BrokerError("start", f"no answer on {layout.host}:{layout.port} in {timeout_s:.0f} s")


def stop(settings: Settings, *, timeout_s: float = 60.0) -> bool:
    """Stop the broker cleanly (SIGTERM, then wait); SIGKILL only past the timeout.

    Returns True when a running broker was stopped.
    """
    layout = layout_for(settings)
    pid = read_pid(layout)
    if pid is None:
        layout.pid_file.unlink(missing_ok=True)
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if read_pid(layout) is None:
            break
        time.sleep(0.2)
    else:
        os.kill(pid, signal.SIGKILL)
    layout.pid_file.unlink(missing_ok=True)
    return True


async def status(settings: Settings) -> dict[str, str]:
    """Where the broker is and whether it runs: for people, printed by ``streamapp broker``."""
    layout = layout_for(settings)
    pid = read_pid(layout)
    running = pid is not None and await broker_answers(layout)
    return {
        "state": "running" if running else "stopped",
        "pid": str(pid) if pid else "-",
        "bootstrap": f"{layout.host}:{layout.port}",
        "controller": f"{layout.host}:{layout.controller_port}",
        "data": str(layout.data),
        "logs": str(layout.logs),
        "jars": str(layout.lib),
        "kafka": KAFKA_VERSION,
    }
