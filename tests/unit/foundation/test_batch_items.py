"""A stage batch is bounded in events, not records: packed records hold many events each."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from types import SimpleNamespace
from typing import Any

from streamapp.agents import run_batches, split_by_items
from streamapp.state.durable import Evicted
from streamapp.topics import Header


def record(offset: int, items: int | None) -> Any:
    headers = [] if items is None else [(Header.ITEMS, str(items).encode())]
    return SimpleNamespace(message=SimpleNamespace(offset=offset, headers=headers))


class Stream:
    def __init__(self, batch: list[Any]) -> None:
        self.batch = batch
        self.acked: list[int] = []

    async def noack_take(self, max_: int, within: float) -> AsyncIterator[list[Any]]:
        yield self.batch

    async def ack(self, e: Any) -> None:
        self.acked.append(e.message.offset)


def items_of(part: Sequence[Any]) -> int:
    return sum(int(dict(r.message.headers).get(Header.ITEMS, b"1")) for r in part)


def test_runs_hold_at_most_the_cap_and_keep_the_order() -> None:
    batch = [record(i, n) for i, n in enumerate([400, 400, 300, None, 900, 50, 3000, 10])]
    parts = list(split_by_items(batch, 1000))
    assert [[r.message.offset for r in p] for p in parts] == [[0, 1], [2, 3], [4, 5], [6], [7]]
    assert [items_of(p) for p in parts] == [800, 301, 950, 3000, 10]  # 3,000: one record alone


def test_a_bad_count_counts_one() -> None:
    batch = [SimpleNamespace(message=SimpleNamespace(headers=[(Header.ITEMS, b"x")]))] * 3
    assert [len(p) for p in split_by_items(batch, 2)] == [2, 1]


async def test_each_run_is_handled_and_acked_before_the_next() -> None:
    stream = Stream([record(i, 700) for i in range(5)])
    handled: list[list[int]] = []

    async def handle(part: Sequence[Any]) -> None:
        assert stream.acked == [o for run in handled for o in run]  # earlier runs acked first
        handled.append([r.message.offset for r in part])

    await run_batches(stream, stage="t", max_events=1500, within_s=0.01, handle=handle)
    assert handled == [[0, 1], [2, 3], [4]]
    assert stream.acked == [0, 1, 2, 3, 4]


async def test_an_eviction_releases_the_rest_of_the_taken_batch_unacked() -> None:
    stream = Stream([record(i, 700) for i in range(6)])
    released: list[int] = []
    membership = SimpleNamespace(
        checker=lambda: None,
        release=lambda events: released.extend(e.message.offset for e in events),
    )

    async def handle(part: Sequence[Any]) -> None:
        if part[0].message.offset == 2:
            raise Evicted("the group moved on")

    await run_batches(
        stream, stage="t", max_events=1500, within_s=0.01, handle=handle, membership=membership
    )  # type: ignore[arg-type]
    assert stream.acked == [0, 1]
    assert released == [2, 3, 4, 5]
