"""A stage sees each input partition in offset order: records fetched ahead of a gap wait."""

from __future__ import annotations

from streamapp.state.in_order import GAP_GRACE_S, Admit, OrderGuard

P = ("events.identified", 3)


def verdicts(guard: OrderGuard, offsets: list[int], now: float = 0.0) -> list[str]:
    out = []
    for offset in offsets:
        d = guard.admit(P, offset, now)
        out.append(d.admit.value + (f"->seek {d.seek_to}" if d.seek_to is not None else ""))
    return out


def test_records_in_order_are_processed() -> None:
    assert verdicts(OrderGuard(), [10, 11, 12]) == ["process"] * 3


def test_records_ahead_of_a_gap_wait_for_the_missing_ones_after_one_seek() -> None:
    guard = OrderGuard()
    assert verdicts(guard, [258, 259]) == ["process", "process"]
    # 260 and 261 were dropped from the agent's queue in a rebalance; 262.. came from the old
    # fetch position before Faust sought back to the committed offset.
    assert verdicts(guard, [262, 263]) == ["stale->seek 260", "stale"]
    # after the seek: the missing records, then the held-back ones again
    assert verdicts(guard, [260, 261, 262, 263, 264]) == ["process"] * 5


def test_a_replay_from_the_committed_offset_is_processed() -> None:
    guard = OrderGuard()
    verdicts(guard, [100, 101, 102])
    assert verdicts(guard, [95, 96, 97]) == ["process"] * 3  # the fence judges the replays
    assert verdicts(guard, [99]) == ["stale->seek 98"]


def test_a_gap_that_outlasts_the_grace_after_the_seek_is_accepted() -> None:
    guard = OrderGuard()
    verdicts(guard, [7])
    assert guard.admit(P, 9, 100.0).admit is Admit.STALE
    assert guard.admit(P, 9, 100.0 + GAP_GRACE_S / 2).admit is Admit.STALE
    assert guard.admit(P, 9, 100.0 + GAP_GRACE_S).admit is Admit.GAP_ACCEPTED
    assert guard.admit(P, 10, 100.0 + GAP_GRACE_S).admit is Admit.PROCESS


def test_a_partition_lost_and_assigned_again_trusts_its_first_record() -> None:
    guard = OrderGuard()
    verdicts(guard, [300])
    guard.keep_only([("events.identified", 0)])
    assert verdicts(guard, [900]) == ["process"]  # another worker processed 301..899 meanwhile
