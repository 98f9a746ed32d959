"""Hypothesis properties of stitching: order independence, associativity, refusal rules, replay."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from streamapp.counters.counters import EMPTY, Counters, add_event
from streamapp.counters.counters import merge as merge_counters
from streamapp.counters.days import MS_PER_DAY
from streamapp.events import JSON, Event, EventType
from streamapp.identify.handoff import Handoff
from streamapp.profiles.messages import Merge
from streamapp.profiles.profile import Profile, apply_event, merge_profile
from streamapp.profiles.stage import (
    Limits,
    SendMerge,
    Step,
    on_event,
    on_handoff,
    on_merge,
)
from streamapp.profiles.user_state import UserState
from streamapp.state.fence import Position

T0 = 1_700_000_000_000
L = Limits(known_ids_max=3, days_retained=2, max_hops=4)

trait_maps = st.dictionaries(st.sampled_from(["x", "y"]), st.integers(0, 2), max_size=2)


@st.composite
def events_for(draw: st.DrawFn, key: str) -> Event:
    type_ = draw(st.sampled_from([EventType.TRACK, EventType.IDENTIFY]))
    anon = draw(st.sampled_from(["a", "b", "c", "d", "e", None]))
    user = draw(st.sampled_from([key, None])) if anon is not None else key
    traits: dict[str, JSON] = draw(trait_maps) if type_ is EventType.IDENTIFY else {}
    return Event(
        type=type_,
        message_id=draw(st.sampled_from(["m1", "m2", "m3"])),
        event_time_ms=T0 + draw(st.integers(0, 4 * MS_PER_DAY)),
        received_at_ms=T0,
        anonymous_id=anon,
        user_id=user,
        event=draw(st.sampled_from(["e1", "e2"])) if type_ is EventType.TRACK else None,
        traits=traits,
    )


def build(key: str, evs: list[Event]) -> UserState:
    state = UserState.empty(key)
    for e in evs:
        state = UserState(
            apply_event(state.profile, e, L.known_ids_max),
            _add(state, e),
            None,
        )
    return state


def _add(state: UserState, e: Event) -> Counters:
    return add_event(state.counters, e.event_name, e.event_time_ms, L.days_retained)


def snapshot(state: UserState) -> Merge:
    return Merge(state.profile.user_id, state.profile, state.counters)


def data(state: UserState | None) -> tuple[Profile, Counters] | None:
    return None if state is None else (state.profile, state.counters)


def run(state: UserState | None, key: str, items: list[Event | Merge]) -> UserState | None:
    for n, item in enumerate(items):
        at = Position(1000 + n)
        if isinstance(item, Merge):
            step = on_merge(state, key, item, at, 0, L)
        else:
            step = on_event(state, key, item, at, 0, L)
        if step.state is not None:
            state = step.state
    return state


def ev_list(key: str, max_size: int = 6) -> st.SearchStrategy[list[Event]]:
    return st.lists(events_for(key), max_size=max_size)


@settings(max_examples=150)
@given(ev_list("u"), ev_list("a"), ev_list("b"))
def test_merging_a_then_b_equals_b_then_a(u: list[Event], a: list[Event], b: list[Event]) -> None:
    base = build("u", u)
    ma, mb = snapshot(build("a", a)), snapshot(build("b", b))
    assert data(run(base, "u", [ma, mb])) == data(run(base, "u", [mb, ma]))


@st.composite
def later_events_and_merge_in_two_orders(
    draw: st.DrawFn,
) -> tuple[list[Event | Merge], list[Event | Merge]]:
    items: list[Event | Merge] = [*draw(ev_list("u")), snapshot(build("a", draw(ev_list("a"))))]
    return items, draw(st.permutations(items))


@settings(max_examples=150)
@given(ev_list("u"), later_events_and_merge_in_two_orders())
def test_events_and_merge_commute(
    u: list[Event], orders: tuple[list[Event | Merge], list[Event | Merge]]
) -> None:
    base = build("u", u)
    assert data(run(base, "u", orders[0])) == data(run(base, "u", orders[1]))


@settings(max_examples=150)
@given(ev_list("u"), ev_list("b"), ev_list("c"))
def test_merge_is_associative(u: list[Event], b: list[Event], c: list[Event]) -> None:
    su, sb, sc = build("u", u), build("b", b), build("c", c)
    k = L.known_ids_max
    left = merge_profile(merge_profile(su.profile, sb.profile, k), sc.profile, k)
    right = merge_profile(su.profile, merge_profile(sb.profile, sc.profile, k), k)
    assert left == right
    r = L.days_retained
    assert merge_counters(merge_counters(su.counters, sb.counters, r), sc.counters, r) == (
        merge_counters(su.counters, merge_counters(sb.counters, sc.counters, r), r)
    )


@given(ev_list("u"), ev_list("a"))
def test_apply_then_merge_counts_every_event_once(u: list[Event], a: list[Event]) -> None:
    merged = run(build("u", u), "u", [snapshot(build("a", a))])
    assert merged is not None
    assert merged.profile.event_count == len(u) + len(a)
    total = sum(c.total for c in merged.counters.names.values())
    assert total == len(u) + len(a)
    direct = merge_counters(build("u", u).counters, build("a", a).counters, L.days_retained)
    assert merged.counters == direct
    assert merge_counters(EMPTY, merged.counters, L.days_retained) == merged.counters


ops = st.lists(
    st.one_of(
        st.tuples(st.just("event"), events_for("a")),
        st.tuples(st.just("handoff"), st.sampled_from(["u", "v"])),
    ),
    max_size=12,
)


def process(state: UserState | None, op: tuple[str, object], at: Position) -> Step:
    kind, payload = op
    if kind == "handoff":
        assert isinstance(payload, str)
        return on_handoff(state, "a", Handoff("a", payload), at, L)
    assert isinstance(payload, Event)
    return on_event(state, "a", payload, at, 0, L)


@settings(max_examples=200)
@given(ops)
def test_refusal_rules_hold(seq: list[tuple[str, object]]) -> None:
    state: UserState | None = None
    for n, op in enumerate(seq):
        step = process(state, op, Position(n))
        before = state
        if step.state is not None:
            state = step.state
        if op[0] == "handoff" and before is not None and before.profile.identified:
            # an identified profile is never merged away
            assert step.outputs == ()
            assert state is before
        if before is not None and before.profile.merged_into is not None:
            # a tombstone never changes again: not rebound, not applied to
            assert state is before
            assert all(not isinstance(o, SendMerge) for o in step.outputs)


@settings(max_examples=200)
@given(ops, st.integers(0, 12))
def test_replaying_a_suffix_changes_nothing_and_resends_the_same(
    seq: list[tuple[str, object]], cut: int
) -> None:
    state: UserState | None = None
    first: list[Step] = []
    for n, op in enumerate(seq):
        step = process(state, op, Position(n))
        first.append(step)
        if step.state is not None:
            state = step.state
    final = state
    for n in range(min(cut, len(seq)), len(seq)):
        again = process(state, seq[n], Position(n))
        assert again.outputs == first[n].outputs
        assert again.rejection == first[n].rejection
        if first[n].state is not None:
            assert again.state is not None  # written again
        if again.state is not None:
            state = again.state
    assert state == final
