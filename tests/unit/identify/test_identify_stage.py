from __future__ import annotations

from streamapp.events import Event, EventType
from streamapp.identify.binding import Binding
from streamapp.identify.dedupe import Seen
from streamapp.identify.keys import binding_key, seen_key
from streamapp.identify.resolve import Outcome, SendEvent, SendHandoff
from streamapp.identify.stage import identify
from streamapp.state.fence import Position, is_reserved

H = 86_400_000
T0 = 1_700_000_000_000


def ev(mid: str, anon: str | None, user: str | None, received: int = T0) -> Event:
    return Event(
        type=EventType.IDENTIFY,
        message_id=mid,
        event_time_ms=received,
        received_at_ms=received,
        anonymous_id=anon,
        user_id=user,
    )


def test_fresh_binding_event_writes_seen_and_binding() -> None:
    step = identify(
        ev("m1", "a", "u"), seen=None, binding=None, partition=0, at=Position(5), horizon_ms=H
    )
    assert step.outcome is Outcome.BOUND
    assert step.seen == Seen(0, Position(5), T0)
    assert step.binding == Binding("u", Position(5))
    assert [type(o) for o in step.outputs] == [SendHandoff, SendEvent]


def test_replay_of_the_same_record_gives_the_same_step() -> None:
    first = identify(
        ev("m1", "a", "u"), seen=None, binding=None, partition=0, at=Position(5), horizon_ms=H
    )
    again = identify(
        ev("m1", "a", "u"),
        seen=first.seen,
        binding=first.binding,
        partition=0,
        at=Position(5),
        horizon_ms=H,
    )
    assert again == first


def test_client_retry_is_dropped_without_binding() -> None:
    seen = Seen(0, Position(5), T0)
    step = identify(
        ev("m1", "a", "u2", T0 + 1000),
        seen=seen,
        binding=None,
        partition=0,
        at=Position(9),
        horizon_ms=H,
    )
    assert step.outcome is Outcome.DUPLICATE
    assert step.outputs == ()
    assert step.seen is None and step.binding is None
    assert step.duplicate_of == seen


def test_rejected_event_writes_nothing() -> None:
    step = identify(
        ev("m1", None, None), seen=None, binding=None, partition=0, at=Position(1), horizon_ms=H
    )
    assert step.outcome is Outcome.REJECTED
    assert step.rejection is not None
    assert step.seen is None


def test_key_layout_keeps_ids_and_message_ids_apart() -> None:
    assert binding_key("x") != seen_key("x")
    assert not is_reserved(binding_key("x"))
