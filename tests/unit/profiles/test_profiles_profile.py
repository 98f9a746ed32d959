from __future__ import annotations

import pytest

from streamapp.events import JSON, Event, EventType
from streamapp.profiles.known_ids import add_id, union
from streamapp.profiles.profile import LastEvent, Profile, apply_event, merge_profile
from streamapp.state.fence import Position, StateCorrupt

T0 = 1_700_000_000_000
K = 3


def ev(
    type_: EventType = EventType.TRACK,
    *,
    t: int = T0,
    anon: str | None = None,
    user: str | None = None,
    traits: dict[str, JSON] | None = None,
    mid: str = "m",
    name: str = "Clicked",
) -> Event:
    return Event(
        type=type_,
        message_id=mid,
        event_time_ms=t,
        received_at_ms=t,
        anonymous_id=anon,
        user_id=user,
        event=name if type_ is EventType.TRACK else None,
        traits=traits or {},
    )


def test_apply_counts_and_times() -> None:
    p = apply_event(Profile("u"), ev(t=T0 + 10, mid="b"), K)
    p = apply_event(p, ev(t=T0, mid="a", name="Viewed"), K)
    assert p.event_count == 2
    assert (p.first_seen_ms, p.last_seen_ms) == (T0, T0 + 10)
    assert p.last_event == LastEvent("Clicked", T0 + 10, "b")


def test_identified_only_by_an_event_whose_user_id_is_this_id() -> None:
    p = apply_event(Profile("u"), ev(anon="a"), K)
    assert not p.identified
    assert apply_event(p, ev(user="u"), K).identified


def test_traits_only_from_identify_and_by_latest_event_time() -> None:
    p = apply_event(Profile("u"), ev(EventType.IDENTIFY, t=T0 + 5, traits={"plan": "pro"}), K)
    p = apply_event(p, ev(EventType.IDENTIFY, t=T0, traits={"plan": "free", "age": 3}), K)
    p = apply_event(p, ev(EventType.GROUP, t=T0 + 9, traits={"plan": "group-plan"}), K)
    assert p.traits == {"plan": "pro", "age": 3}
    assert p.trait_times == {"plan": T0 + 5, "age": T0}


def test_trait_tie_on_time_is_broken_by_value_not_arrival() -> None:
    a = apply_event(Profile("u"), ev(EventType.IDENTIFY, traits={"x": 1}), K)
    a = apply_event(a, ev(EventType.IDENTIFY, traits={"x": 2}), K)
    b = apply_event(Profile("u"), ev(EventType.IDENTIFY, traits={"x": 2}), K)
    b = apply_event(b, ev(EventType.IDENTIFY, traits={"x": 1}), K)
    assert a.traits == b.traits == {"x": 2}


def test_known_ids_keep_the_earliest_bounded() -> None:
    p = Profile("u")
    for i, anon in enumerate(["a", "b", "c", "d"]):
        p = apply_event(p, ev(t=T0 + i, anon=anon, user="u"), K)
    assert p.known_ids == {"a": T0, "u": T0, "b": T0 + 1}  # its own id too
    p = apply_event(p, ev(t=T0 - 1, anon="z"), K)
    assert p.known_ids == {"z": T0 - 1, "a": T0, "u": T0}


def test_known_ids_helpers() -> None:
    ids = {"a": 5}
    assert add_id(ids, "a", 9, K) is ids
    assert add_id(ids, "a", 1, K) == {"a": 1}
    assert union([{"a": 5, "b": 1}, {"a": 2, "c": 9}, {"d": 0}], 3) == {"d": 0, "b": 1, "a": 2}


def test_merge_profile() -> None:
    u = apply_event(Profile("u"), ev(EventType.IDENTIFY, t=T0 + 5, user="u", traits={"p": 1}), K)
    a = apply_event(
        Profile("a"), ev(EventType.IDENTIFY, t=T0, anon="a", traits={"p": 0, "q": 1}), K
    )
    a = apply_event(a, ev(t=T0 + 9, anon="a", mid="z"), K)
    m = merge_profile(u, a, K)
    assert m.user_id == "u"
    assert m.event_count == 3
    assert (m.first_seen_ms, m.last_seen_ms) == (T0, T0 + 9)
    assert m.traits == {"p": 1, "q": 1}
    assert m.known_ids == {"a": T0, "u": T0 + 5}
    assert m.merged_from == {"a"}
    assert m.last_event == LastEvent("Clicked", T0 + 9, "z")
    assert m.identified


def test_bytes_round_trip() -> None:
    p = apply_event(Profile("u"), ev(EventType.IDENTIFY, anon="a", user="u", traits={"n": [1]}), K)
    p = Profile(
        p.user_id,
        p.traits,
        p.trait_times,
        p.first_seen_ms,
        p.last_seen_ms,
        p.event_count,
        p.known_ids,
        p.last_event,
        p.identified,
        "v",
        Position(4, 1),
        frozenset({"b", "c"}),
    )
    obj = p.to_json()
    assert obj["known_ids"] == [("a", T0), ("u", T0)]
    assert obj["merged_at"] == [4, 1]
    assert obj["merged_from"] == ["b", "c"]
    assert Profile.from_json(obj) == p


def test_corrupt_profile_raises() -> None:
    with pytest.raises(StateCorrupt):
        Profile.from_json({"user_id": 3})
