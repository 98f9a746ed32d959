"""End-to-end fixtures: the real broker that `make test` started, and real worker processes.

These tests never skip: without a broker they fail, since a skipped end-to-end test is a failing
one. Each test gets its own topic prefix and app id, so tests share the broker, not topics.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.workers import Deployment, Worker, start_worker


@pytest.fixture(scope="session")
def bootstrap() -> str:
    servers = os.environ.get("STREAMAPP_KAFKA_BOOTSTRAP_SERVERS")
    if not servers:
        pytest.fail("no broker: run the end-to-end tests with `make test`", pytrace=False)
    return servers


@pytest.fixture
def deployment(bootstrap: str, tmp_path: Path) -> Deployment:
    prefix = "t" + uuid.uuid4().hex[:8]
    return Deployment(bootstrap=bootstrap, data_dir=tmp_path / "data", prefix=prefix)


@pytest.fixture
def workers(deployment: Deployment) -> Iterator[Callable[..., Worker]]:
    """Start workers of the test's deployment; all are stopped at the end."""
    started: list[Worker] = []

    def start(port: int | None = None) -> Worker:
        worker = start_worker(deployment, port)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()
