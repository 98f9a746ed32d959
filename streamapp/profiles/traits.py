"""Traits by latest timestamp: per trait key, the value of the event with the latest event time.

Ties on time are broken by the larger canonical JSON of the value (sorted keys), so the result does
not depend on the order events or merges arrive in: per key it is a maximum over (time, value).
Must not interpret trait values.
"""

from __future__ import annotations

from collections.abc import Mapping

import orjson

from streamapp.events import JSON


def _canonical(value: JSON) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def _wins(new_time: int, new: JSON, old_time: int, old: JSON) -> bool:
    """Tell whether (new_time, new) beats (old_time, old)."""
    if new_time != old_time:
        return new_time > old_time
    return _canonical(new) > _canonical(old)


def set_traits(
    traits: Mapping[str, JSON],
    times: Mapping[str, int],
    incoming: Mapping[str, JSON],
    time_ms: int,
) -> tuple[Mapping[str, JSON], Mapping[str, int]]:
    """Apply ``incoming`` traits seen at ``time_ms``; return the (possibly same) two maps."""
    new_traits: dict[str, JSON] | None = None
    new_times: dict[str, int] | None = None
    for key, value in incoming.items():
        old_time = times.get(key)
        if old_time is not None and not _wins(time_ms, value, old_time, traits.get(key)):
            continue
        if new_traits is None or new_times is None:
            new_traits, new_times = dict(traits), dict(times)
        new_traits[key] = value
        new_times[key] = time_ms
    if new_traits is None or new_times is None:
        return traits, times
    return new_traits, new_times


def merge_traits(
    a_traits: Mapping[str, JSON],
    a_times: Mapping[str, int],
    b_traits: Mapping[str, JSON],
    b_times: Mapping[str, int],
) -> tuple[Mapping[str, JSON], Mapping[str, int]]:
    """Return the per-key winners of two trait sets. Commutative and associative."""
    traits, times = dict(a_traits), dict(a_times)
    for key, time_ms in b_times.items():
        value = b_traits.get(key)
        old_time = times.get(key)
        if old_time is None or _wins(time_ms, value, old_time, traits.get(key)):
            traits[key] = value
            times[key] = time_ms
    return traits, times
