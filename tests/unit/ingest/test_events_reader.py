"""The validate stage's own reader of ``events``: when it commits, and what it does on failure.

A fake consumer stands in for aiokafka's (fetches scripted, commits recorded); the behaviour
against a real broker is covered by the e2e tests, which all read ``events`` through it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest
from aiokafka import ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError

from streamapp.config import load_settings
from streamapp.ingest import reader as reader_module
from streamapp.ingest.reader import EventsReader
from streamapp.topics import validate_group

TOPIC = "events"


def record(partition: int, offset: int) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(TOPIC, partition, offset, 0, 0, None, b"{}", None, 0, 2, [])


class FakeConsumer:
    """Hands out the scripted fetches, then blocks; records each commit."""

    def __init__(self, fetches: list[dict[TopicPartition, list[Any]]], log: list[str]) -> None:
        self.fetches = list(fetches)
        self.log = log
        self.commits: list[dict[TopicPartition, int]] = []
        self.fail_commits = 0
        self.released = 1  # fetches available now; each commit attempt makes one more arrive

    async def start(self) -> None:
        self.log.append("start")

    async def stop(self) -> None:
        self.log.append("stop")

    def subscribe(self, topics: list[str]) -> None:
        assert topics == [TOPIC]

    def assignment(self) -> set[TopicPartition]:
        return {TopicPartition(TOPIC, 0)}

    async def getmany(self, *, timeout_ms: int, max_records: int) -> dict[TopicPartition, Any]:
        # The next scripted fetch arrives once the batch before it was committed (or its
        # commit failed), i.e. after the reader's wait to fill a batch: one fetch, one batch.
        if self.fetches and self.released > 0:
            self.released -= 1
            return self.fetches.pop(0)
        await asyncio.sleep(timeout_ms / 1000)
        return {}

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.released += 1
        if self.fail_commits:
            self.fail_commits -= 1
            self.log.append("commit failed")
            raise CommitFailedError("rebalanced")
        self.log.append(f"commit {sorted((tp.partition, o) for tp, o in offsets.items())}")
        self.commits.append(offsets)


def make_reader(consumer: FakeConsumer, handle: Any) -> EventsReader:
    settings = load_settings({"STREAMAPP_BATCH_WITHIN_S": "0.01"})
    return EventsReader(
        settings,
        stage="validate",
        handle=handle,
        consumer_factory=lambda: consumer,  # type: ignore[arg-type,return-value]
    )


async def run_until(reader: EventsReader, done: Any, timeout_s: float = 2.0) -> None:
    reader.start()
    try:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while not done():
            assert asyncio.get_running_loop().time() < deadline, "reader did not get there"
            await asyncio.sleep(0.01)
    finally:
        await reader.stop()


async def test_commits_a_batch_only_after_the_broker_acknowledged_its_outputs() -> None:
    log: list[str] = []
    p0, p1 = TopicPartition(TOPIC, 0), TopicPartition(TOPIC, 1)
    consumer = FakeConsumer(
        [{p1: [record(1, 7)], p0: [record(0, 3), record(0, 4)]}, {p0: [record(0, 5)]}], log
    )
    acks: list[asyncio.Future[None]] = []

    async def handle(batch: Sequence[ConsumerRecord[bytes, bytes]]) -> list[Any]:
        log.append("handle " + " ".join(f"{r.partition}/{r.offset}" for r in batch))
        ack: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        acks.append(ack)
        return [ack]

    async def broker() -> None:
        while not acks:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)
        log.append("acked")
        acks[0].set_result(None)
        while len(acks) < 2:
            await asyncio.sleep(0.01)
        log.append("acked")
        acks[1].set_result(None)

    acking = asyncio.ensure_future(broker())
    await run_until(make_reader(consumer, handle), lambda: len(consumer.commits) == 2)
    await acking
    assert log == [
        "start",
        "handle 0/3 0/4 1/7",  # partition by partition, each in offset order
        "acked",
        "commit [(0, 5), (1, 8)]",  # the next offset to read, after the outputs are acked
        "handle 0/5",
        "acked",
        "commit [(0, 6)]",
        "stop",  # leaves the group on stop
    ]


async def test_a_failed_commit_is_not_fatal_and_the_next_commit_covers_the_batch() -> None:
    log: list[str] = []
    p0 = TopicPartition(TOPIC, 0)
    consumer = FakeConsumer([{p0: [record(0, 0)]}, {p0: [record(0, 1)]}], log)
    consumer.fail_commits = 1

    async def handle(batch: Sequence[ConsumerRecord[bytes, bytes]]) -> list[Any]:
        return []

    await run_until(make_reader(consumer, handle), lambda: len(consumer.commits) == 1)
    assert log == ["start", "commit failed", "commit [(0, 2)]", "stop"]


@pytest.mark.parametrize("failing", ["handler", "send"])
async def test_a_failure_ends_the_process_without_committing(
    failing: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    log: list[str] = []
    p0 = TopicPartition(TOPIC, 0)
    consumer = FakeConsumer([{p0: [record(0, 0)]}], log)
    exits: list[tuple[str, BaseException]] = []

    def exit_stage(stage: str, exc: BaseException) -> None:
        exits.append((stage, exc))

    monkeypatch.setattr(reader_module, "exit_stage", exit_stage)

    async def handle(batch: Sequence[ConsumerRecord[bytes, bytes]]) -> list[Any]:
        if failing == "handler":
            raise RuntimeError("bug")
        sent: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        sent.set_exception(RuntimeError("broker refused the record"))
        return [sent]

    await run_until(make_reader(consumer, handle), lambda: bool(exits))
    assert [(stage, type(exc)) for stage, exc in exits] == [("validate", RuntimeError)]
    assert consumer.commits == []


def test_the_group_is_the_app_id_with_a_suffix() -> None:
    assert validate_group("shop") == "shop-validate"


async def test_records_arriving_within_the_batch_wait_make_one_batch() -> None:
    log: list[str] = []
    p0, p1 = TopicPartition(TOPIC, 0), TopicPartition(TOPIC, 1)
    consumer = FakeConsumer([{p0: [record(0, 0)]}, {p1: [record(1, 0)]}, {p0: [record(0, 1)]}], log)
    consumer.released = 3  # all three fetches arrive within the reader's 10 ms wait
    batches: list[list[str]] = []

    async def handle(batch: Sequence[ConsumerRecord[bytes, bytes]]) -> list[Any]:
        batches.append([f"{r.partition}/{r.offset}" for r in batch])
        return []

    await run_until(make_reader(consumer, handle), lambda: len(consumer.commits) == 1)
    assert batches == [["0/0", "0/1", "1/0"]]
    assert log == ["start", "commit [(0, 2), (1, 1)]", "stop"]
