"""A batch is acknowledged only once its changelog writes are on the broker.

The first test pins down the Faust behaviour that made this necessary (faust-streaming 0.15.3:
``ProducerBuffer.flush`` gives up after 0.1 s without a message handed on, however many are still
buffered). If a Faust upgrade fixes it, that test fails and says so; ``streamapp.state.durable``
stays correct either way.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any
from unittest.mock import MagicMock

import pytest
from faust.transport.producer import ProducerBuffer

from streamapp.agents import run_batches
from streamapp.state import durable


async def test_faust_producer_buffer_flush_returns_with_messages_still_buffered() -> None:
    buffer = ProducerBuffer()
    buffer.app = MagicMock()
    buffer.app.conf.producer_threaded = False
    handed_on: list[Any] = []

    async def slow_send(fut: Any) -> None:  # a producer that is busy for 0.3 s per message
        await asyncio.sleep(0.3)
        handed_on.append(fut)

    buffer._send_pending = slow_send  # type: ignore[method-assign]
    await buffer.start()
    try:
        for i in range(5):
            buffer.put(i)
        await buffer.flush()
        assert buffer.size > 0, "Faust's buffer flush now waits for its buffer: see module doc"
        assert len(handed_on) < 5
    finally:
        while buffer.size or len(handed_on) < 5:
            await asyncio.sleep(0.05)
        await buffer.stop()


class FakeTable:
    """The surface of a Faust table that :mod:`streamapp.state.durable` uses."""

    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}
        self.sent: list[tuple[bytes, bytes | None, asyncio.Future[None]]] = []

    def partition_for_key(self, key: bytes) -> int:
        return 0

    def send_changelog(
        self, partition: int, key: bytes, value: bytes | None, **_: Any
    ) -> asyncio.Future[None]:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.sent.append((key, value, fut))
        return fut


class FakeStream:
    """One batch from ``noack_take``; records the order of acks."""

    def __init__(self, batch: Sequence[str], log: list[str]) -> None:
        self.batch, self.log = list(batch), log

    async def noack_take(self, max_: int, within: float) -> AsyncIterator[list[str]]:
        yield self.batch

    async def ack(self, event: str) -> None:
        self.log.append(f"ack {event}")


async def test_run_batches_acks_only_after_the_changelog_records_are_acknowledged() -> None:
    table = FakeTable()
    table.data[b"gone"] = b"old"
    log: list[str] = []

    async def handle(batch: Sequence[str]) -> None:
        for event in batch:
            durable.put(table, event.encode(), b"value")
        durable.delete(table, b"gone")

    async def broker_acks_later() -> None:
        while len(table.sent) < 3:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)
        log.append("broker acked")
        for _, _, fut in table.sent:
            fut.set_result(None)

    acking = asyncio.ensure_future(broker_acks_later())
    await run_batches(
        FakeStream(["a", "b"], log), stage="t", max_events=10, within_s=0.1, handle=handle
    )
    await acking
    assert log == ["broker acked", "ack a", "ack b"]
    sent = [(k, v) for k, v, _ in table.sent]
    assert sent == [(b"a", b"value"), (b"b", b"value"), (b"gone", None)]
    assert table.data == {b"a": b"value", b"b": b"value"}


async def test_a_table_write_outside_a_batch_is_refused_before_anything_is_sent() -> None:
    table = FakeTable()
    with pytest.raises(RuntimeError, match="outside of a batch"):
        durable.put(table, b"k", b"v")
    assert table.sent == [] and table.data == {}


class FlakyMembership:
    """A group membership that is lost after the first write of the batch."""

    def __init__(self) -> None:
        self.member = True
        self.released: list[str] = []

    def checker(self) -> Any:
        return lambda: self.member

    def release(self, events: Sequence[str]) -> None:
        self.released.extend(events)


async def test_an_evicted_worker_writes_nothing_more_and_acks_nothing() -> None:
    table = FakeTable()
    log: list[str] = []
    membership = FlakyMembership()

    async def handle(batch: Sequence[str]) -> None:
        durable.put(table, b"first", b"v")
        membership.member = False  # a heartbeat learnt that the group evicted us
        durable.put(table, b"second", b"v")

    await run_batches(
        FakeStream(["a", "b"], log),
        stage="t",
        max_events=10,
        within_s=0.1,
        handle=handle,
        membership=membership,  # type: ignore[arg-type]
    )
    assert [k for k, _, _ in table.sent] == [b"first"]
    assert b"second" not in table.data
    assert log == [] and membership.released == ["a", "b"]
