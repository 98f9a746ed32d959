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


def test_a_partition_lost_and_assigned_again_starts_from_the_committed_offset() -> None:
    guard = OrderGuard()
    gaps(guard, [300])
    guard.keep_only([("events.identified", 0)])
    assert not guard.knows(P)  # the stage loop asks the group's committed offset first
    guard.start_at(P, 900)  # another worker processed and committed 301..899 meanwhile
    assert gaps(guard, [900]) == [None]


def test_a_first_record_past_the_first_unprocessed_offset_is_a_gap() -> None:
    # Seen in the three-SIGKILL e2e: nothing committed on the partition yet, and Faust's first
    # record after the assignment was offset 23: the records it fetched during the recovery
    # were dropped and, with no commit to seek back to, never fetched again.
    guard = OrderGuard()
    assert not guard.knows(P)
    guard.start_at(P, 0)
    assert guard.knows(P)
    assert gaps(guard, [23, 24]) == [Gap(0, 23), None]
