from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from streamapp.events import Event, EventType, Reason
from streamapp.identify.binding import Binding
from streamapp.identify.handoff import Handoff
from streamapp.identify.resolve import (
    Outcome,
    SendEvent,
    SendHandoff,
    binding_subject,
    resolve,
)
from streamapp.state.fence import Position


def ev(
    type_: EventType = EventType.TRACK,
    *,
    anon: str | None = None,
    user: str | None = None,
    prev: str | None = None,
    mid: str = "m1",
) -> Event:
    return Event(
        type=type_,
        message_id=mid,
        event_time_ms=1_700_000_000_000,
        received_at_ms=1_700_000_000_000,
        anonymous_id=anon,
        user_id=user,
        previous_id=prev,
        event="Clicked" if type_ is EventType.TRACK else None,
    )


AT = Position(100)


def test_user_only_event_goes_to_its_user() -> None:
    r = resolve(ev(user="u1"), None, AT)
    assert r.outcome is Outcome.USER
    assert r.outputs == (SendEvent("u1"),)
    assert r.binding is None


def test_user_id_is_authoritative_even_if_the_user_id_was_bound_as_anonymous_id() -> None:
    r = resolve(ev(user="u1"), Binding("other", Position(1)), AT)
    assert r.outputs == (SendEvent("u1"),)


def test_identify_with_both_ids_binds_and_hands_off_then_sends_event() -> None:
    r = resolve(ev(EventType.IDENTIFY, anon="a1", user="u1"), None, AT)
    assert r.outcome is Outcome.BOUND
    assert r.binding == Binding("u1", AT)
    assert r.outputs == (SendHandoff("a1", Handoff("a1", "u1")), SendEvent("u1"))


def test_any_call_carrying_both_ids_binds() -> None:
    r = resolve(ev(EventType.TRACK, anon="a1", user="u1"), None, AT)
    assert r.outcome is Outcome.BOUND


def test_already_bound_to_same_user_just_routes() -> None:
    r = resolve(ev(anon="a1", user="u1"), Binding("u1", Position(5)), AT)
    assert r.outcome is Outcome.USER
    assert r.outputs == (SendEvent("u1"),)
    assert r.binding is None


def test_replaying_the_binding_record_sends_the_same_outputs() -> None:
    first = resolve(ev(anon="a1", user="u1"), None, AT)
    again = resolve(ev(anon="a1", user="u1"), first.binding, AT)
    assert again == first


def test_conflict_is_refused_event_still_counts_under_its_user() -> None:
    bound = Binding("u1", Position(5))
    r = resolve(ev(EventType.IDENTIFY, anon="a1", user="u2"), bound, AT)
    assert r.outcome is Outcome.CONFLICT
    assert r.binding is None
    assert r.outputs == (SendEvent("u2"),)
    later = resolve(ev(anon="a1"), bound, Position(101))
    assert later.outputs == (SendEvent("u1"),)


def test_alias_binds_previous_id() -> None:
    e = ev(EventType.ALIAS, user="u1", prev="p1")
    assert binding_subject(e) == "p1"
    r = resolve(e, None, AT)
    assert r.outcome is Outcome.BOUND
    assert r.binding == Binding("u1", AT)
    assert r.outputs == (SendHandoff("p1", Handoff("p1", "u1")), SendEvent("u1"))


def test_alias_of_previous_id_bound_elsewhere_is_a_conflict() -> None:
    r = resolve(ev(EventType.ALIAS, user="u2", prev="p1"), Binding("u1", Position(1)), AT)
    assert r.outcome is Outcome.CONFLICT
    assert r.outputs == (
        SendEvent(
            "u2",
        ),
    )


def test_anonymous_only_unbound_goes_to_anonymous_id() -> None:
    r = resolve(ev(anon="a1"), None, AT)
    assert r.outcome is Outcome.ANONYMOUS
    assert r.outputs == (SendEvent("a1"),)


def test_mapping_as_of_position() -> None:
    bound = Binding("u1", Position(100))
    before = resolve(ev(anon="a1"), bound, Position(99))
    after = resolve(ev(anon="a1"), bound, Position(101))
    assert before.outputs == (SendEvent("a1"),)
    assert before.outcome is Outcome.ANONYMOUS
    assert after.outputs == (SendEvent("u1"),)
    assert after.outcome is Outcome.STITCHED


def test_same_anonymous_and_user_id_does_not_bind() -> None:
    r = resolve(ev(anon="x", user="x"), None, AT)
    assert r.outcome is Outcome.USER
    assert r.binding is None


def test_missing_ids_and_reserved_ids_are_rejected() -> None:
    assert resolve(ev(), None, AT).rejection is not None
    alias = resolve(ev(EventType.ALIAS, user="u1"), None, AT)
    assert alias.rejection is not None
    assert alias.rejection.reason is Reason.MISSING_FIELD
    reserved = resolve(ev(user="\x00progress:1"), None, AT)
    assert reserved.outcome is Outcome.REJECTED


ids = st.sampled_from(["a", "b", "c", "u1", "u2", "u3"])
calls = st.tuples(
    st.sampled_from([EventType.TRACK, EventType.IDENTIFY, EventType.ALIAS]),
    st.none() | ids,
    st.none() | ids,
)


@given(st.lists(calls, max_size=30))
def test_a_bound_id_is_never_rebound(seq: list[tuple[EventType, str | None, str | None]]) -> None:
    bindings: dict[str, Binding] = {}
    for offset, (type_, first, user) in enumerate(seq):
        e = (
            ev(type_, anon=first, user=user)
            if type_ is not EventType.ALIAS
            else ev(type_, prev=first, user=user)
        )
        subject = binding_subject(e)
        current = bindings.get(subject) if subject is not None else None
        r = resolve(e, current, Position(offset))
        if r.binding is not None:
            assert subject is not None
            if current is not None:
                assert r.binding == current
            bindings[subject] = r.binding
        if user is not None and r.rejection is None:
            assert r.outputs[-1] == SendEvent(user)
        handoffs = [o for o in r.outputs if isinstance(o, SendHandoff)]
        assert len(handoffs) <= 1
        if handoffs:
            assert r.binding is not None and r.binding.since == Position(offset)
