"""Known ids of a profile: the ``limit`` ids seen earliest, each with the first time it was seen.

Kept as a map ``id -> first_seen_ms``. When there are more than ``limit``, the ones with the
largest ``(first_seen_ms, id)`` are dropped. Why the earliest and not the latest: the first
devices of a person are the ones attribution asks about, the set stays stable when a bot or a
shared account churns through new ids, and "the ``limit`` smallest of a union, with per-id
minimum times" is commutative and associative, so merges in any order agree.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping


def _rank(item: tuple[str, int]) -> tuple[int, str]:
    return item[1], item[0]


def add_id(ids: Mapping[str, int], new_id: str, seen_ms: int, limit: int) -> Mapping[str, int]:
    """Record ``new_id`` seen at ``seen_ms``; return ``ids`` itself when nothing changes."""
    old = ids.get(new_id)
    if old is not None:
        if old <= seen_ms:
            return ids
        out = dict(ids)
        out[new_id] = seen_ms
        return out
    if len(ids) >= limit:
        worst = max(ids.items(), key=_rank) if ids else None
        if worst is None or (seen_ms, new_id) > _rank(worst):
            return ids
        out = dict(ids)
        del out[worst[0]]
        out[new_id] = seen_ms
        return out
    out = dict(ids)
    out[new_id] = seen_ms
    return out


def union(parts: Iterable[Mapping[str, int]], limit: int) -> dict[str, int]:
    """Return the ``limit`` earliest ids of the union, each at its earliest time, sorted."""
    merged: dict[str, int] = {}
    for part in parts:
        for key, seen_ms in part.items():
            old = merged.get(key)
            if old is None or seen_ms < old:
                merged[key] = seen_ms
    kept = heapq.nsmallest(limit, merged.items(), key=_rank)
    return dict(kept)


def ordered(ids: Mapping[str, int]) -> list[tuple[str, int]]:
    """Return the ids earliest first (ties by id): the stored order."""
    return sorted(ids.items(), key=_rank)
