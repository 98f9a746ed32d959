from __future__ import annotations

from streamapp.counters.counters import lifetime
from streamapp.events import Event, EventType, Reason
from streamapp.identify.handoff import Handoff
from streamapp.profiles.messages import Merge
from streamapp.profiles.profile import Profile
from streamapp.profiles.stage import (
    Forward,
    Limits,
    Outcome,
    SendMerge,
    on_event,
    on_handoff,
    on_merge,
)
from streamapp.profiles.user_state import UserState
from streamapp.state.fence import Position

T0 = 1_700_000_000_000
L = Limits(known_ids_max=10, days_retained=30, max_hops=3)


def ev(anon: str | None = None, user: str | None = None, mid: str = "m", t: int = T0) -> Event:
    return Event(
        type=EventType.TRACK,
        message_id=mid,
        event_time_ms=t,
        received_at_ms=t,
        anonymous_id=anon,
        user_id=user,
        event="Clicked",
    )


def P(n: int) -> Position:
    return Position(n)


def anon_state(key: str = "a", n: int = 2, start: int = 1) -> UserState | None:
    state: UserState | None = None
    for i in range(n):
        step = on_event(state, key, ev(anon=key, mid=f"{key}{i}"), P(start + i), 0, L)
        state = step.state
    return state


def test_event_applies_to_profile_and_counters() -> None:
    step = on_event(None, "u", ev(user="u"), P(1), 0, L)
    assert step.outcome is Outcome.APPLIED
    assert step.state is not None
    assert step.state.profile.event_count == 1
    assert step.state.profile.identified
    assert lifetime(step.state.counters, "Clicked") == 1
    assert step.state.applied == P(1)
    assert step.outputs == ()


def test_replayed_event_is_not_applied_twice_but_is_written_again() -> None:
    state = on_event(None, "u", ev(user="u"), P(1), 0, L).state
    again = on_event(state, "u", ev(user="u"), P(1), 0, L)
    assert again.outcome is Outcome.REPLAYED
    assert again.state is state


def test_handoff_tombstones_and_sends_a_merge_with_the_snapshot() -> None:
    state = anon_state()
    assert state is not None
    step = on_handoff(state, "a", Handoff("a", "u"), P(10), L)
    assert step.outcome is Outcome.TOMBSTONED
    assert step.state is not None
    assert step.state.profile.merged_into == "u"
    assert step.state.profile.merged_at == P(10)
    ((out,),) = (step.outputs,)
    assert isinstance(out, SendMerge)
    assert out.key == "u"
    assert out.merge.from_id == "a"
    assert out.merge.profile.event_count == 2
    assert out.merge.profile.merged_into is None
    assert lifetime(out.merge.counters, "Clicked") == 2


def test_handoff_replay_resends_the_same_merge() -> None:
    state = anon_state()
    first = on_handoff(state, "a", Handoff("a", "u"), P(10), L)
    again = on_handoff(first.state, "a", Handoff("a", "u"), P(10), L)
    assert again.outputs == first.outputs
    assert again.state == first.state


def test_handoff_of_identified_profile_is_refused() -> None:
    state = on_event(None, "a", ev(user="a"), P(1), 0, L).state
    step = on_handoff(state, "a", Handoff("a", "u"), P(2), L)
    assert step.outcome is Outcome.CONFLICT
    assert step.state is None
    assert step.outputs == ()
    again = on_handoff(state, "a", Handoff("a", "u"), P(2), L)
    assert again.outcome is Outcome.CONFLICT


def test_handoff_without_state_still_tombstones_and_sends_an_empty_merge() -> None:
    step = on_handoff(None, "a", Handoff("a", "u"), P(3), L)
    assert step.outcome is Outcome.TOMBSTONED
    assert step.state is not None and step.state.profile.merged_into == "u"
    (out,) = step.outputs
    assert isinstance(out, SendMerge)
    assert out.merge.profile == Profile("a")


def test_second_handoff_is_duplicate_or_conflict() -> None:
    tomb = on_handoff(None, "a", Handoff("a", "u"), P(3), L).state
    assert on_handoff(tomb, "a", Handoff("a", "u"), P(4), L).outcome is Outcome.DUPLICATE
    other = on_handoff(tomb, "a", Handoff("a", "v"), P(4), L)
    assert other.outcome is Outcome.CONFLICT
    assert other.outputs == () and other.state is None


def test_tombstone_forwards_later_events_and_merges() -> None:
    tomb = on_handoff(anon_state(), "a", Handoff("a", "u"), P(10), L).state
    step = on_event(tomb, "a", ev(anon="a"), P(11), 0, L)
    assert step.outcome is Outcome.FORWARDED
    assert step.outputs == (Forward("u", 1),)
    assert step.state is None
    merge = Merge("b", Profile("b"), anon_state("b").counters)  # type: ignore[union-attr]
    assert on_merge(tomb, "a", merge, P(12), 2, L).outputs == (Forward("u", 3),)


def test_replay_of_an_event_applied_before_the_tombstone_is_not_forwarded() -> None:
    tomb = on_handoff(anon_state(n=2, start=1), "a", Handoff("a", "u"), P(10), L).state
    step = on_event(tomb, "a", ev(anon="a", mid="a0"), P(1), 0, L)
    assert step.outcome is Outcome.REPLAYED
    assert step.outputs == ()


def test_forwarding_loop_is_cut_and_dead_lettered() -> None:
    tomb = on_handoff(None, "a", Handoff("a", "u"), P(1), L).state
    step = on_event(tomb, "a", ev(anon="a"), P(2), 3, L)
    assert step.outcome is Outcome.REJECTED
    assert step.rejection is not None and step.rejection.reason is Reason.CONFLICT
    assert step.outputs == ()


def test_merge_into_user_and_duplicate_merge_is_a_no_op() -> None:
    a = anon_state()
    (send,) = on_handoff(a, "a", Handoff("a", "u"), P(10), L).outputs
    assert isinstance(send, SendMerge)
    u = on_event(None, "u", ev(anon="a", user="u"), P(1), 0, L).state
    merged = on_merge(u, "u", send.merge, P(2), 0, L)
    assert merged.outcome is Outcome.MERGED
    assert merged.state is not None
    assert merged.state.profile.event_count == 3
    assert lifetime(merged.state.counters, "Clicked") == 3
    assert merged.state.profile.merged_from == {"a"}
    dup = on_merge(merged.state, "u", send.merge, P(3), 0, L)
    assert dup.outcome is Outcome.DUPLICATE
    assert dup.state is None
    replay = on_merge(merged.state, "u", send.merge, P(2), 0, L)
    assert replay.outcome is Outcome.REPLAYED
    assert replay.state == merged.state


def test_merge_into_unknown_user_creates_it_unidentified() -> None:
    (send,) = on_handoff(anon_state(), "a", Handoff("a", "u"), P(10), L).outputs
    assert isinstance(send, SendMerge)
    step = on_merge(None, "u", send.merge, P(1), 0, L)
    assert step.state is not None
    assert step.state.profile.user_id == "u"
    assert not step.state.profile.identified
    assert step.state.profile.event_count == 2


def test_reserved_keys_are_rejected() -> None:
    step = on_event(None, "\x00progress:0", ev(user="\x00progress:0"), P(1), 0, L)
    assert step.outcome is Outcome.REJECTED
    assert on_handoff(None, "a", Handoff("a", "\x00x"), P(1), L).outcome is Outcome.REJECTED


def test_handoff_under_the_wrong_key_is_rejected() -> None:
    assert on_handoff(None, "b", Handoff("a", "u"), P(1), L).outcome is Outcome.REJECTED
    assert on_handoff(None, "a", Handoff("a", "a"), P(1), L).outcome is Outcome.REJECTED


def test_user_state_and_merge_bytes_round_trip() -> None:
    state = on_handoff(anon_state(), "a", Handoff("a", "u"), P(10), L).state
    assert state is not None
    assert UserState.from_bytes(state.to_bytes()) == state
    (send,) = on_handoff(state, "a", Handoff("a", "u"), P(10), L).outputs
    assert isinstance(send, SendMerge)
    assert Merge.from_bytes(send.merge.to_bytes()) == send.merge
    assert set(orjson_keys(state.to_bytes())) == {"profile", "counters", "applied"}


def orjson_keys(raw: bytes) -> list[str]:
    import orjson

    return list(orjson.loads(raw))
