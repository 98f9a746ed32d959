"""A stage sees each input partition in offset order: a gap is filled before the record after it."""

from __future__ import annotations

from streamapp.state.in_order import Gap, OrderGuard

P = ("events.identified", 3)


def gaps(guard: OrderGuard, offsets: list[int]) -> list[Gap | None]:
    return [guard.admit(P, offset) for offset in offsets]


def test_records_in_order_need_nothing() -> None:
    assert gaps(OrderGuard(), [10, 11, 12]) == [None, None, None]


def test_a_record_after_a_gap_asks_for_the_missing_range_once() -> None:
    guard = OrderGuard()
    assert gaps(guard, [258, 259]) == [None, None]
    # 260 and 261 were dropped from the agent's queue in a rebalance and never delivered again
    assert gaps(guard, [262, 263]) == [Gap(260, 262), None]
    # if Faust delivers them after all, they are replays (the fence judges them)
    assert gaps(guard, [260, 261, 262, 264]) == [None, None, None, Gap(263, 264)]


def test_a_replay_from_the_committed_offset_needs_nothing() -> None:
    guard = OrderGuard()
    gaps(guard, [100, 101, 102])
    assert gaps(guard, [95, 96, 97, 98]) == [None] * 4


def test_a_partition_lost_and_assigned_again_trusts_its_first_record() -> None:
    guard = OrderGuard()
    gaps(guard, [300])
    guard.keep_only([("events.identified", 0)])
    assert gaps(guard, [900]) == [None]  # another worker processed 301..899 meanwhile
