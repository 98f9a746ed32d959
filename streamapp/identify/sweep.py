"""Expiry of messageId dedupe entries: the identify table forgets a messageId after a while.

Without it the ``identities`` table would grow by one entry per event forever. Pure: the agent
feeds it the ``msg:`` entries of one partition in key order, a slice at a time from a cursor, and
deletes what it returns. An entry is deleted once it is older than ``retain_ms`` (twice the dedupe
horizon: see :func:`streamapp.identify.dedupe.is_expired` for why more than the horizon).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from streamapp.identify.dedupe import Seen, is_expired
from streamapp.state.fence import StateCorrupt


@dataclass(frozen=True, slots=True)
class SweepResult:
    """What one slice of a sweep found: keys to delete and where the next slice starts."""

    expired: list[bytes]
    examined: int
    next_from: bytes | None
    """The key to start the next slice from; ``None`` when the slice reached the end."""


def sweep(
    entries: Iterable[tuple[bytes, bytes]], *, now_ms: int, retain_ms: int, limit: int
) -> SweepResult:
    """Judge up to ``limit`` dedupe entries (key, value) in key order; keep undecodable ones."""
    expired: list[bytes] = []
    examined = 0
    for key, value in entries:
        if examined == limit:
            return SweepResult(expired, examined, key)
        examined += 1
        try:
            entry = Seen.from_bytes(value)
        except StateCorrupt:
            continue  # not ours to judge: a bug elsewhere, never silently deleted
        if is_expired(entry, now_ms, retain_ms):
            expired.append(key)
    return SweepResult(expired, examined, None)
