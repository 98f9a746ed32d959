from __future__ import annotations

from functools import reduce

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamapp.counters.counters import (
    EMPTY,
    Counters,
    add_event,
    daily,
    last_days,
    lifetime,
    merge,
)
from streamapp.counters.days import MS_PER_DAY, day_label, day_of, label_day
from streamapp.state.fence import StateCorrupt

D0 = 19_802  # 2024-03-20
T0 = D0 * MS_PER_DAY
R = 3


def test_day_labels() -> None:
    assert day_label(0) == "1970-01-01"
    assert day_label(D0) == "2024-03-20"
    assert label_day("2024-03-20") == D0
    assert day_of(T0 + MS_PER_DAY - 1) == D0


def test_an_event_counts_in_total_and_its_utc_day() -> None:
    c = add_event(EMPTY, "Clicked", T0 + 5, R)
    c = add_event(c, "Clicked", T0 + 6, R)
    c = add_event(c, "page", T0 + MS_PER_DAY, R)
    assert c.to_json() == {
        "Clicked": {"total": 2, "days": {"2024-03-20": 2}},
        "page": {"total": 1, "days": {"2024-03-21": 1}},
    }
    assert lifetime(c, "Clicked") == 2
    assert lifetime(c, "nothing") == 0


def test_retention_is_relative_to_the_newest_day_seen() -> None:
    c = add_event(EMPTY, "x", T0, R)
    c = add_event(c, "y", T0 + 2 * MS_PER_DAY, R)
    assert c.names["x"].days == {"2024-03-20": 1}  # 3 days kept: 20, 21, 22
    c = add_event(c, "y", T0 + 3 * MS_PER_DAY, R)
    assert c.names["x"].days == {}
    assert c.names["x"].total == 1
    assert set(c.names["y"].days) == {"2024-03-22", "2024-03-23"}


def test_an_event_older_than_retention_counts_only_in_total() -> None:
    c = add_event(EMPTY, "x", T0 + 10 * MS_PER_DAY, R)
    c = add_event(c, "x", T0, R)
    assert c.names["x"].total == 2
    assert c.names["x"].days == {"2024-03-30": 1}


def test_merge_adds_and_applies_retention() -> None:
    a = add_event(add_event(EMPTY, "x", T0, R), "x", T0 + MS_PER_DAY, R)
    b = add_event(add_event(EMPTY, "x", T0 + 3 * MS_PER_DAY, R), "z", T0 + MS_PER_DAY, R)
    m = merge(a, b, R)
    assert m.names["x"].total == 3
    assert m.names["x"].days == {"2024-03-21": 1, "2024-03-23": 1}
    assert m.names["z"].days == {"2024-03-21": 1}
    assert m.newest_day == D0 + 3


def test_queries_take_now_as_input() -> None:
    c = EMPTY
    for d in range(5):
        c = add_event(c, "x", T0 + d * MS_PER_DAY, 90)
    now = T0 + 4 * MS_PER_DAY + 1000
    assert last_days(c, "x", 1, now) == 1
    assert last_days(c, "x", 3, now) == 3
    assert last_days(c, "x", 30, now) == 5
    assert last_days(c, "x", 3, now + 10 * MS_PER_DAY) == 0
    assert last_days(c, "nope", 3, now) == 0
    assert daily(c, "x", 2, now + MS_PER_DAY) == {"2024-03-24": 1, "2024-03-25": 0}


def test_bytes_round_trip_recomputes_newest_day() -> None:
    c = add_event(add_event(EMPTY, "x", T0, R), "y", T0 + MS_PER_DAY, R)
    raw = c.to_bytes()
    assert raw == (
        b'{"x":{"total":1,"days":{"2024-03-20":1}},"y":{"total":1,"days":{"2024-03-21":1}}}'
    )
    assert Counters.from_bytes(raw) == c
    assert Counters.from_bytes(b"{}") == EMPTY


@pytest.mark.parametrize("raw", [b"[]", b'{"x":{"total":1}}', b'{"x":{"total":1,"days":{"no":1}}}'])
def test_corrupt_counters_raise(raw: bytes) -> None:
    with pytest.raises(StateCorrupt):
        Counters.from_bytes(raw)


events = st.lists(
    st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(0, 8 * MS_PER_DAY)), max_size=25
)


def fold(evs: list[tuple[str, int]]) -> Counters:
    c = EMPTY
    for name, t in evs:
        c = add_event(c, name, T0 + t, R)
    return c


@given(events.flatmap(lambda evs: st.tuples(st.just(evs), st.permutations(evs))))
def test_event_order_does_not_matter(
    orders: tuple[list[tuple[str, int]], list[tuple[str, int]]],
) -> None:
    assert fold(orders[0]) == fold(orders[1])


@given(events, events)
def test_merge_of_folds_is_fold_of_all_and_commutes(
    a: list[tuple[str, int]], b: list[tuple[str, int]]
) -> None:
    assert merge(fold(a), fold(b), R) == fold(a + b)
    assert merge(fold(a), fold(b), R) == merge(fold(b), fold(a), R)


@given(events, events, events)
def test_merge_is_associative(
    a: list[tuple[str, int]], b: list[tuple[str, int]], c: list[tuple[str, int]]
) -> None:
    fa, fb, fc = fold(a), fold(b), fold(c)
    assert merge(merge(fa, fb, R), fc, R) == merge(fa, merge(fb, fc, R), R)
    assert (
        reduce(lambda x, y: merge(x, y, R), [fa, fb, fc]).names.keys()
        == fold(a + b + c).names.keys()
    )
