from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamapp.events import Origin
from streamapp.state.fence import (
    MAX_RESENT_RANGES,
    Position,
    Progress,
    StateCorrupt,
    Verdict,
    advance,
    classify,
    is_reserved,
    judge,
    progress_key,
)

UP = "events.identify"


def test_first_record_is_fresh() -> None:
    assert classify(Progress(), Position(0), Origin(UP, 3, 10)) is Verdict.FRESH


def test_own_offset_at_or_below_own_max_is_own_replay_even_if_origin_was_seen() -> None:
    p = advance(Progress(), Position(5), Origin(UP, 3, 10))
    assert classify(p, Position(5), Origin(UP, 3, 10)) is Verdict.OWN_REPLAY
    assert classify(p, Position(4), Origin(UP, 3, 9)) is Verdict.OWN_REPLAY


def test_origin_at_or_below_seen_is_upstream_duplicate() -> None:
    p = advance(Progress(), Position(5), Origin(UP, 3, 10))
    assert classify(p, Position(6), Origin(UP, 3, 10)) is Verdict.UPSTREAM_DUPLICATE
    assert classify(p, Position(6), Origin(UP, 3, 9)) is Verdict.UPSTREAM_DUPLICATE
    assert classify(p, Position(6), Origin(UP, 3, 11)) is Verdict.FRESH


def test_origin_partitions_are_tracked_apart() -> None:
    p = advance(Progress(), Position(5), Origin(UP, 3, 10))
    assert classify(p, Position(6), Origin(UP, 4, 1)) is Verdict.FRESH
    assert classify(p, Position(6), Origin("events", 3, 1)) is Verdict.FRESH


def test_second_output_of_one_upstream_record_is_not_a_duplicate() -> None:
    # identify sends a hand-off (index 0) and the event (index 1) for one input record
    p = advance(Progress(), Position(5), Origin(UP, 3, 10), 0)
    assert classify(p, Position(6), Origin(UP, 3, 10), 1) is Verdict.FRESH
    p = advance(p, Position(6), Origin(UP, 3, 10), 1)
    assert classify(p, Position(7), Origin(UP, 3, 10), 0) is Verdict.UPSTREAM_DUPLICATE
    assert classify(p, Position(7), Origin(UP, 3, 10), 1) is Verdict.UPSTREAM_DUPLICATE


def test_records_without_origin_are_fresh_or_own_replay() -> None:
    p = advance(Progress(), Position(5), None)
    assert classify(p, Position(5), None) is Verdict.OWN_REPLAY
    assert classify(p, Position(6), None) is Verdict.FRESH
    assert p.origins == {}


def test_micro_batch_items_are_positions() -> None:
    p = advance(Progress(), Position(5, 2), None)
    assert classify(p, Position(5, 1), None) is Verdict.OWN_REPLAY
    assert classify(p, Position(5, 3), None) is Verdict.FRESH


def test_a_record_at_or_before_own_leaves_progress_unchanged() -> None:
    p = advance(Progress(), Position(9), Origin(UP, 0, 50))
    q = advance(p, Position(3), Origin(UP, 0, 20))
    assert q == p


def test_own_replay_gets_the_first_verdict_back() -> None:
    # own 0..5: origins 10, 11, 12, then copies 11, 12 (upstream restarted), then new 13
    origins = [10, 11, 12, 11, 12, 13]
    p = Progress()
    first = []
    for own, off in enumerate(origins):
        verdict, p = judge(p, Position(own), Origin(UP, 0, off))
        first.append(verdict)
    assert first == [Verdict.FRESH] * 3 + [Verdict.UPSTREAM_DUPLICATE] * 2 + [Verdict.FRESH]
    again = [judge(p, Position(own), Origin(UP, 0, off))[0] for own, off in enumerate(origins)]
    assert again == [Verdict.OWN_REPLAY] * 3 + [Verdict.UPSTREAM_DUPLICATE] * 2 + [
        Verdict.OWN_REPLAY
    ]
    assert p.origins[f"{UP}:0"].resent == ((Position(3), Position(4)),)


def test_copies_interleaved_with_other_partitions_form_one_range() -> None:
    p = Progress()
    log = [(0, 5), (0, 6), (1, 1), (0, 5), (1, 2), (0, 6), (0, 7)]
    verdicts = []
    for own, (part, off) in enumerate(log):
        v, p = judge(p, Position(own), Origin(UP, part, off))
        verdicts.append(v)
    assert verdicts[3] is verdicts[5] is Verdict.UPSTREAM_DUPLICATE
    assert p.origins[f"{UP}:0"].resent == ((Position(3), Position(5)),)
    # the partition-1 record inside the range is still our own replay, not a copy
    assert classify(p, Position(4), Origin(UP, 1, 2)) is Verdict.OWN_REPLAY


def test_resent_ranges_are_bounded() -> None:
    p = advance(Progress(), Position(0), Origin(UP, 0, 100))
    own = 1
    for _ in range(MAX_RESENT_RANGES + 5):
        p = advance(p, Position(own), Origin(UP, 0, 1))  # a copy
        own += 1
        top = p.origins[f"{UP}:0"].top.offset + 1
        p = advance(p, Position(own), Origin(UP, 0, top))  # a new position ends the run
        own += 1
    assert len(p.origins[f"{UP}:0"].resent) == MAX_RESENT_RANGES


def test_bytes_round_trip_and_format() -> None:
    p = advance(advance(Progress(), Position(7), Origin(UP, 1, 3), 1), Position(8), None)
    p = advance(p, Position(9), Origin(UP, 1, 2))
    raw = p.to_bytes()
    assert raw == (
        b'{"own":[9,0],"origins":{"events.identify:1":'
        b'{"top":[3,1],"top_at":[7,0],"resent":[[[9,0],[9,0]]]}}}'
    )
    assert Progress.from_bytes(raw) == p
    assert Progress.from_bytes(Progress().to_bytes()) == Progress()


@pytest.mark.parametrize(
    "raw",
    [b"nope", b"{}", b'{"own":[1],"origins":{}}', b"[]", b'{"own":null,"origins":{"t:1":[1,0]}}'],
)
def test_corrupt_bytes_raise_state_corrupt(raw: bytes) -> None:
    with pytest.raises(StateCorrupt):
        Progress.from_bytes(raw)


def test_progress_key_is_reserved() -> None:
    assert is_reserved(progress_key(3))
    assert not is_reserved("user-1")
    assert progress_key(3) != progress_key(4)


@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 50), st.integers(0, 2)), max_size=40))
def test_advance_keeps_the_maximum_per_origin_partition(
    records: list[tuple[int, int, int]],
) -> None:
    p = Progress()
    for own, (part, off, idx) in enumerate(records):
        p = advance(p, Position(own), Origin(UP, part, off), idx)
    for part in {r[0] for r in records}:
        expected = max(Position(o, i) for pa, o, i in records if pa == part)
        assert p.origins[f"{UP}:{part}"].top == expected
    if records:
        assert p.own == Position(len(records) - 1)
