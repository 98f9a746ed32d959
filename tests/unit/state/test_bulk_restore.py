"""The bulk restore's edges that need no broker: where it reads from, and failing safe."""

import asyncio
import logging
import socket
from typing import Any

import pytest
from yarl import URL

from streamapp.state.bulk_restore import SCHEME, bootstrap_of, register, restore_or_leave_to_faust


class NoStore:
    """A store that must not be touched: the restore fails before it reads an offset."""

    def persisted_offset(self, tp: Any) -> int | None:
        raise AssertionError("the store was read although the broker was unreachable")


class App:
    class conf:  # the shape of faust's app.conf
        broker = [URL("kafka://10.0.0.1:9093"), URL("kafka://broker-2")]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_bootstrap_comes_from_the_apps_broker_urls() -> None:
    assert bootstrap_of(App()) == "10.0.0.1:9093,broker-2:9092"


def test_the_scheme_resolves_to_the_bulk_store() -> None:
    from faust import stores

    register()
    assert stores.by_url(f"{SCHEME}://").__name__ == "BulkRestoringStore"


def test_an_unreachable_broker_leaves_the_work_to_faust(caplog: pytest.LogCaptureFixture) -> None:
    from faust.types import TP

    tps = [TP("app-profiles-changelog", 0)]
    with caplog.at_level(logging.WARNING):
        written = asyncio.run(
            restore_or_leave_to_faust(NoStore(), tps, f"127.0.0.1:{closed_port()}", 1)
        )
    assert written == 0
    assert "bulk restore failed" in caplog.text
