"""The windows owner's write order for late events, on its real batch handler with fakes around it.

A late event is marked applied in the window state, and that state goes to the local RocksDB as
soon as the owner writes it. A worker killed after that write but before the event's dead letter
was on the broker kept the mark, judged the event a duplicate on the replay and never sent the
letter again: the event was neither counted nor dead-lettered (351 of 700 windows wrong in the
full worker-crash scenario with 200 ms owner batches). The owner therefore waits for the broker
to have the letters before it writes any state of the batch.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
import pytest

from streamapp.agents import BatchHandler
from streamapp.observability.metrics import create_metrics
from streamapp.state import durable
from streamapp.windows import owner
from streamapp.windows.runtime import AggregateRuntime, meta_key
from streamapp.windows.state import PartitionWindows
from tests.unit.state.test_durable_writes import FakeTable
from tests.unit.windows.test_window_state import NEVER_IDLE, TUMBLING, combine, ev

PARTITION = 0


Owner = tuple[BatchHandler, FakeTable, "FakeProducer"]


@dataclass
class FakeProducer:
    """``app.producer``: every send is handed over at once; the broker acks when told to."""

    sent: list[tuple[str, bytes | None, list[tuple[str, bytes]]]] = field(default_factory=list)
    acks: list[asyncio.Future[None]] = field(default_factory=list)

    async def send(
        self, topic: str, key: bytes | None, value: bytes | None, *_: Any
    ) -> asyncio.Future[None]:
        headers: list[tuple[str, bytes]] = _[-1] or []
        self.sent.append((topic, value, headers))
        ack: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.acks.append(ack)
        return ack

    def broker_acks_all(self) -> None:
        for ack in self.acks:
            if not ack.done():
                ack.set_result(None)


def fake_event(partial_json: bytes, *, timestamp_s: float) -> Any:
    message = SimpleNamespace(
        topic="windows.clicks",
        partition=PARTITION,
        offset=7,
        timestamp=timestamp_s,
        headers=[],
        value=partial_json,
    )
    return SimpleNamespace(message=message)


@pytest.fixture
def owner_of_clicks(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Owner:
    """The owner's ``handle_partition`` for TUMBLING, its table and its producer."""
    table = FakeTable(tmp_path)
    producer = FakeProducer()
    captured: list[BatchHandler] = []
    # The partition's windows, already loaded: [0, 60 000) closed and emitted at watermark 95 000.
    state = PartitionWindows(TUMBLING)
    for partial in combine(TUMBLING, [ev(10_000), ev(95_000)]):
        state.apply(partial, now_wall_ms=0)
    (closed,) = state.close_due(0, NEVER_IDLE)
    state.confirm_emitted([closed.id])
    state.take_changes()
    gate = SimpleNamespace(ensure_loaded=_nothing)
    runtime = AggregateRuntime(TUMBLING, table, topic=None, sink=None, gate=gate)  # type: ignore[arg-type]
    runtime.states[PARTITION] = state
    rt = SimpleNamespace(
        app=SimpleNamespace(producer=producer),
        settings=SimpleNamespace(
            window_idle_timeout_s=NEVER_IDLE / 1000,
            topics=SimpleNamespace(windows=lambda name: f"windows.{name}", events_dlq="events.dlq"),
        ),
        metrics=create_metrics(),
    )
    monkeypatch.setattr(owner, "raw_topic", lambda rt, name: None)
    monkeypatch.setattr(owner, "new_runtime", lambda *a, **kw: runtime)
    monkeypatch.setattr(
        owner,
        "declare_partitioned_agent",
        lambda rt, topic, *, handle_partition, **kw: captured.append(handle_partition),
    )
    owner.install_owner(rt, TUMBLING, gate)  # type: ignore[arg-type]
    (handle,) = captured
    return handle, table, producer


async def _nothing() -> None:
    return None


async def run_until_the_letter_is_sent(handle: BatchHandler) -> asyncio.Task[None]:
    """Start the owner on a batch of one late partial; return once it has sent the letter."""
    (late_partial,) = combine(TUMBLING, [ev(20_000)], first_offset=2)
    batch = [fake_event(orjson.dumps(late_partial.to_json()), timestamp_s=100.0)]

    async def batch_then_settle() -> None:  # what the stage loop does with a batch
        await handle(batch)
        await durable.settle()

    with durable.tracked_writes():  # the task keeps the batch's write tracking (its context)
        task = asyncio.create_task(batch_then_settle())
    await asyncio.sleep(0.05)
    return task


async def test_no_state_is_written_before_the_late_events_letters_are_on_the_broker(
    owner_of_clicks: Owner,
) -> None:
    handle, table, producer = owner_of_clicks
    task = await run_until_the_letter_is_sent(handle)
    ((topic, body, headers),) = producer.sent
    assert topic == "events.dlq"
    assert (b"late" in dict(headers).values()) and body is not None
    assert orjson.loads(body)["properties"] == {"k": "a", "v": 1.0}
    assert table.local() == {} and table.sent == [], "state written before the letter's ack"
    assert not task.done()
    producer.broker_acks_all()
    await task
    assert meta_key(PARTITION) in table.local()  # the batch's state follows the letter


async def test_a_letter_the_broker_refuses_leaves_the_state_unwritten(
    owner_of_clicks: Owner,
) -> None:
    handle, table, producer = owner_of_clicks
    task = await run_until_the_letter_is_sent(handle)
    producer.acks[0].set_exception(RuntimeError("NotEnoughReplicas"))
    with pytest.raises(RuntimeError, match="NotEnoughReplicas"):
        await task  # the stage loop exits without acking; the batch is replayed
    assert table.local() == {} and table.sent == []
