from __future__ import annotations

import pytest

from streamapp.identify.binding import Binding
from streamapp.identify.dedupe import Duplicate, Seen, check_seen, is_expired
from streamapp.identify.handoff import Handoff
from streamapp.state.fence import Position, StateCorrupt

H = 86_400_000
T0 = 1_700_000_000_000


def test_first_sighting_is_stored() -> None:
    assert check_seen(None, 2, Position(10), T0, H) == Seen(2, Position(10), T0)


def test_same_origin_is_our_own_replay_not_a_duplicate() -> None:
    first = Seen(2, Position(10), T0)
    assert check_seen(first, 2, Position(10), T0 + 5 * H, H) is first


def test_different_origin_within_horizon_is_a_duplicate() -> None:
    first = Seen(2, Position(10), T0)
    verdict = check_seen(first, 2, Position(11), T0 + H, H)
    assert verdict == Duplicate(first)


def test_different_origin_beyond_horizon_is_new() -> None:
    first = Seen(2, Position(10), T0)
    verdict = check_seen(first, 2, Position(11), T0 + H + 1, H)
    assert verdict == Seen(2, Position(11), T0 + H + 1)


def test_retry_received_earlier_than_first_copy_is_still_a_duplicate() -> None:
    first = Seen(2, Position(10), T0)
    assert isinstance(check_seen(first, 2, Position(11), T0 - 1000, H), Duplicate)


def test_expiry_by_retention() -> None:
    entry = Seen(0, Position(1), T0)
    assert not is_expired(entry, T0 + 2 * H, 2 * H)
    assert is_expired(entry, T0 + 2 * H + 1, 2 * H)


def test_byte_formats_round_trip() -> None:
    seen = Seen(3, Position(1041, 1), T0)
    assert seen.to_bytes() == b'{"partition":3,"at":[1041,1],"seen_at_ms":1700000000000}'
    assert Seen.from_bytes(seen.to_bytes()) == seen
    binding = Binding("u-42", Position(7))
    assert binding.to_bytes() == b'{"user_id":"u-42","since":[7,0]}'
    assert Binding.from_bytes(binding.to_bytes()) == binding
    handoff = Handoff("a", "u")
    assert handoff.to_bytes() == b'{"from_id":"a","to_id":"u"}'
    assert Handoff.from_bytes(handoff.to_bytes()) == handoff


@pytest.mark.parametrize("cls", [Seen, Binding, Handoff])
def test_corrupt_values_raise(cls: type[Seen] | type[Binding] | type[Handoff]) -> None:
    with pytest.raises(StateCorrupt):
        cls.from_bytes(b'{"x":1}')
