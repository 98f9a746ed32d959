"""A 3-node Apache Kafka KRaft cluster on this machine, for the broker-failure scenario.

The embedded broker (:mod:`streamapp.broker.embedded`) runs one combined node for a laptop; a
production cluster replicates every partition to three brokers so that one can die without losing
an acknowledged record. This module starts that shape locally from the same Maven-resolved jars:
three combined broker+controller JVMs on distinct free ports, one controller quorum naming all
three, the same cluster id formatted into each log directory, small heaps (2 cores, shared).
Internal topics use replication factor 3 and ``min.insync.replicas`` 2, unclean leader election
is off: exactly the durability settings the README's "Guarantees" section asks of production.

A node can be SIGKILLed (:meth:`Cluster.kill`) and started again (:meth:`Cluster.restart`) with
its data directory intact, as a crashed broker host would come back.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from streamapp.broker.embedded import (
    JVM_FLAGS,
    BrokerLayout,
    _classpath,
    _java,
    fetch,
    new_cluster_id,
)
from tests.support.workers import free_port

HOST = "127.0.0.1"
HEAP_MB = 320


@dataclass
class Node:
    """One combined broker+controller JVM of the cluster."""

    node_id: int
    port: int
    controller_port: int
    root: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def properties(self) -> Path:
        return self.root / "server.properties"

    @property
    def bootstrap(self) -> str:
        return f"{HOST}:{self.port}"

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


@dataclass
class Cluster:
    """Three KRaft nodes; :attr:`bootstrap` lists all of them for clients."""

    root: Path
    home: Path
    nodes: list[Node] = field(default_factory=list)

    @property
    def bootstrap(self) -> str:
        return ",".join(node.bootstrap for node in self.nodes)

    def _voters(self) -> str:
        return ",".join(f"{n.node_id}@{HOST}:{n.controller_port}" for n in self.nodes)

    def _properties(self, node: Node) -> str:
        return "\n".join(
            [
                "process.roles=broker,controller",
                f"node.id={node.node_id}",
                f"controller.quorum.voters={self._voters()}",
                f"listeners=PLAINTEXT://{HOST}:{node.port},CONTROLLER://{HOST}:{node.controller_port}",
                f"advertised.listeners=PLAINTEXT://{HOST}:{node.port}",
                "controller.listener.names=CONTROLLER",
                "inter.broker.listener.name=PLAINTEXT",
                "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                f"log.dirs={node.root / 'data'}",
                "default.replication.factor=3",
                "min.insync.replicas=2",
                "unclean.leader.election.enable=false",
                "offsets.topic.replication.factor=3",
                "offsets.topic.num.partitions=4",
                "transaction.state.log.replication.factor=3",
                "transaction.state.log.min.isr=2",
                "transaction.state.log.num.partitions=4",
                "group.initial.rebalance.delay.ms=0",
                "auto.create.topics.enable=false",
                "num.network.threads=2",
                "num.io.threads=2",
                "num.replica.fetchers=1",
                "num.recovery.threads.per.data.dir=1",
                "background.threads=2",
                "log.cleaner.threads=1",
                "log.cleaner.dedupe.buffer.size=8388608",
                "log.segment.bytes=33554432",
                # A dead replica leaves the ISR after 10 s (default 30 s): writes with
                # min.insync.replicas=2 carry on with the two that are left.
                "replica.lag.time.max.ms=10000",
                "",
            ]
        )

    def _launch(self, node: Node) -> None:
        logs = node.root / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        with resources.as_file(resources.files("streamapp.broker") / "log4j.properties") as log4j:
            cmd = [
                _java(),
                f"-Xms{HEAP_MB}m",
                f"-Xmx{HEAP_MB}m",
                *JVM_FLAGS,
                f"-Dlog4j.configuration=file:{log4j}",
                f"-Dkafka.logs.dir={logs}",
                "-cp",
                _classpath(self._layout()),
                "kafka.Kafka",
                str(node.properties),
            ]
            out = (logs / "stdout.log").open("ab")
            node.proc = subprocess.Popen(
                cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )

    def _layout(self) -> BrokerLayout:
        return BrokerLayout(home=self.home, root=self.root, host=HOST, port=self.nodes[0].port)

    def start(self, timeout_s: float = 120.0) -> None:
        """Format and start the three nodes; return when all three are registered brokers."""
        ports = [free_port() for _ in range(6)]
        self.nodes = [
            Node(i + 1, ports[2 * i], ports[2 * i + 1], self.root / f"node{i + 1}")
            for i in range(3)
        ]
        fetch(self._layout())
        cluster_id = new_cluster_id()
        for node in self.nodes:
            node.root.mkdir(parents=True, exist_ok=True)
            node.properties.write_text(self._properties(node))
            cmd = [_java(), "-Xmx192m", "-cp", _classpath(self._layout())]
            cmd += ["kafka.tools.StorageTool", "format", "-t", cluster_id]
            cmd += ["-c", str(node.properties)]
            result = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if result.returncode != 0:
                raise RuntimeError(f"format node {node.node_id}: {result.stdout}{result.stderr}")
        for node in self.nodes:
            self._launch(node)
        self.wait_brokers(3, timeout_s)

    def wait_brokers(self, count: int, timeout_s: float = 120.0) -> None:
        """Wait until the cluster lists ``count`` live brokers."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if asyncio.run(_broker_count(self.bootstrap)) >= count:
                return
            time.sleep(0.5)
        raise AssertionError(f"cluster did not reach {count} brokers in {timeout_s:.0f} s")

    def kill(self, node: Node) -> None:
        """SIGKILL one node: a broker host that vanished mid-stream."""
        assert node.proc is not None
        node.proc.send_signal(signal.SIGKILL)
        node.proc.wait()

    def restart(self, node: Node) -> None:
        """Start a killed node again on its own data directory."""
        self._launch(node)

    def stop(self) -> None:
        """Stop every node this cluster started (SIGTERM, then SIGKILL after 30 s)."""
        for node in self.nodes:
            if node.alive():
                assert node.proc is not None
                node.proc.send_signal(signal.SIGTERM)
        for node in self.nodes:
            if node.proc is not None and node.proc.poll() is None:
                try:
                    node.proc.wait(30)
                except subprocess.TimeoutExpired:
                    os.kill(node.proc.pid, signal.SIGKILL)
                    node.proc.wait()


async def _broker_count(bootstrap: str) -> int:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    try:
        await admin.start()
        cluster = await admin.describe_cluster()
        return len(cluster.get("brokers") or [])
    except Exception:
        return 0
    finally:
        await admin.close()
