"""Stage rates from cumulative counters, and lag rows from end and committed offsets."""

from __future__ import annotations

import pytest

from streamapp.observability.lag import PartitionLag, lag_rows
from streamapp.observability.rates import RateMeter


def test_the_first_sample_has_no_rate_then_rates_are_increase_per_second() -> None:
    meter = RateMeter()
    assert meter.observe({"validate": 100.0}, at_s=10.0) == {"validate": 0.0}
    rates = meter.observe({"validate": 160.0, "identify": 30.0}, at_s=13.0)
    assert rates == pytest.approx({"validate": 20.0, "identify": 10.0})


def test_a_meter_made_at_process_start_rates_the_first_sample_from_zero() -> None:
    meter = RateMeter(started_at_s=100.0)
    assert meter.observe({"validate": 50.0}, at_s=105.0) == pytest.approx({"validate": 10.0})


def test_a_counter_that_went_down_shows_zero_not_a_negative_rate() -> None:
    meter = RateMeter()
    meter.observe({"validate": 100.0}, at_s=1.0)
    assert meter.observe({"validate": 5.0}, at_s=2.0) == {"validate": 0.0}


def test_a_sample_at_the_same_instant_gives_zero_rates() -> None:
    meter = RateMeter()
    meter.observe({"validate": 1.0}, at_s=5.0)
    assert meter.observe({"validate": 9.0}, at_s=5.0) == {"validate": 0.0}


def test_lag_is_end_minus_committed_and_uncommitted_partitions_lag_by_their_end() -> None:
    ends = {("t.events", 1): 10, ("t.events", 0): 7, ("t.events.identify", 0): 4}
    committed = {("t.events", 0): 7, ("t.events", 1): 4, ("t.other", 0): 99}
    assert lag_rows(ends, committed) == [
        PartitionLag("t.events", 0, 7, 7, 0),
        PartitionLag("t.events", 1, 4, 10, 6),
        PartitionLag("t.events.identify", 0, None, 4, 4),
    ]


def test_a_negative_committed_offset_means_none_committed() -> None:
    assert lag_rows({("t", 0): 3}, {("t", 0): -1}) == [PartitionLag("t", 0, None, 3, 3)]
