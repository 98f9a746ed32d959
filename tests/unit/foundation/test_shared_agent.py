"""Stages reading one topic share one Faust agent, and each sees every partition's events.

One agent per topic is what keeps a rebalance from hanging (see
``streamapp.agents.declare_partitioned_agent``): this pins that two stages on
``events.identified`` do not become two agents again.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest

from streamapp.agents import BatchScope, batch_scope, declare_partitioned_agent
from streamapp.state.gap_fill import GapFiller


@dataclass
class FakeApp:
    agents: list[tuple[str, Callable[[Any], Any]]] = field(default_factory=list)
    on_partitions_assigned: Any = field(default_factory=lambda: SimpleNamespace(connect=id))

    def agent(self, source: Any, *, name: str) -> Callable[[Any], Any]:
        def register(fun: Callable[[Any], Any]) -> Callable[[Any], Any]:
            self.agents.append((name, fun))
            return fun

        return register


class Topic:
    def __init__(self, name: str) -> None:
        self.name = name

    def get_topic_name(self) -> str:
        return self.name


class Event:  # weak-referenceable, as Faust's events are (the partition context needs that)
    def __init__(self, partition: int, offset: int) -> None:
        self.message = SimpleNamespace(
            topic="t",
            partition=partition,
            offset=offset,
            tp=("t", partition),
            key=b"k",
            value=b"{}",
            headers=[],
            timestamp=1.5,
        )


def event(partition: int, offset: int) -> Any:
    return Event(partition, offset)


class OneBatch:
    def __init__(self, batch: list[Any]) -> None:
        self.batch = batch
        self.acked: list[Any] = []

    async def noack_take(self, max_: int, within: float) -> AsyncIterator[list[Any]]:
        yield self.batch

    async def ack(self, e: Any) -> None:
        self.acked.append(e)


async def test_two_stages_on_one_topic_run_in_one_agent_per_partition(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def committed(self: GapFiller, tp: Any) -> int:  # what the group committed
        return {("t", 0): 5, ("t", 1): 7}[tp]

    monkeypatch.setattr(GapFiller, "first_unprocessed", committed)
    app = FakeApp()
    settings = SimpleNamespace(
        batch_max_events=10, batch_within_s=0.1, kafka_bootstrap_servers="127.0.0.1:1"
    )
    rt = SimpleNamespace(app=app, settings=settings, partition_stages={}, metrics=None)
    seen: list[tuple[str, int, list[int]]] = []

    def stage(name: str) -> Callable[[Sequence[Any]], Any]:
        async def handle(events: Sequence[Any]) -> None:
            seen.append((name, events[0].message.partition, [e.message.offset for e in events]))

        return handle

    identified, other = Topic("identified"), Topic("other")
    declare_partitioned_agent(rt, identified, stage="profiles", handle_partition=stage("p"))
    declare_partitioned_agent(rt, identified, stage="combine", handle_partition=stage("c"))
    declare_partitioned_agent(rt, other, stage="owner", handle_partition=stage("o"))
    assert [name for name, _ in app.agents] == ["profiles", "owner"]

    stream = OneBatch([event(0, 5), event(1, 7), event(0, 6)])
    await app.agents[0][1](stream)
    assert seen == [("p", 0, [5, 6]), ("c", 0, [5, 6]), ("p", 1, [7]), ("c", 1, [7])]
    assert len(stream.acked) == 3


class Batches(OneBatch):
    def __init__(self, *batches: list[Any]) -> None:
        super().__init__([])
        self.batches = batches

    async def noack_take(self, max_: int, within: float) -> AsyncIterator[list[Any]]:
        for batch in self.batches:
            yield batch


async def test_a_batch_scope_spans_the_partitions_and_is_finished_once_per_batch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def committed(self: GapFiller, tp: Any) -> int:
        return 0

    monkeypatch.setattr(GapFiller, "first_unprocessed", committed)
    app = FakeApp()
    settings = SimpleNamespace(
        batch_max_events=10, batch_within_s=0.1, kafka_bootstrap_servers="127.0.0.1:1"
    )
    rt = SimpleNamespace(app=app, settings=settings, partition_stages={}, metrics=None)
    finished: list[list[tuple[int, int]]] = []

    async def collect(events: Sequence[Any]) -> None:
        outputs = batch_scope().setdefault("outputs", [])
        outputs.extend((e.message.partition, e.message.offset) for e in events)

    async def finish(scope: BatchScope) -> None:
        finished.append(list(scope["outputs"]))

    declare_partitioned_agent(
        rt, Topic("t"), stage="s", handle_partition=collect, finish_batch=finish
    )
    stream = Batches([event(0, 0), event(1, 0), event(0, 1)], [event(1, 1)])
    await app.agents[0][1](stream)
    # One finish per batch, with every partition's outputs, each partition in order; the
    # second batch starts from an empty scope.
    assert finished == [[(0, 0), (0, 1), (1, 0)], [(1, 1)]]
    assert len(stream.acked) == 4
    with pytest.raises(RuntimeError):
        batch_scope()  # outside a batch there is none
