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
    oldest_kept_ms: int | None = None
    """The earliest ``seen_at_ms`` among the entries examined and kept (``None``: none kept)."""


def sweep(
    entries: Iterable[tuple[bytes, bytes]], *, now_ms: int, retain_ms: int, limit: int
) -> SweepResult:
    """Judge up to ``limit`` dedupe entries (key, value) in key order; keep undecodable ones."""
    expired: list[bytes] = []
    examined = 0
    oldest: int | None = None
    for key, value in entries:
        if examined == limit:
            return SweepResult(expired, examined, key, oldest)
        examined += 1
        try:
            entry = Seen.from_bytes(value)
        except StateCorrupt:
            continue  # not ours to judge: a bug elsewhere, never silently deleted
        if is_expired(entry, now_ms, retain_ms):
            expired.append(key)
        elif oldest is None or entry.seen_at_ms < oldest:
            oldest = entry.seen_at_ms
    return SweepResult(expired, examined, None, oldest)


@dataclass(slots=True)
class SweepPass:
    """One partition's walk through its entries, a slice at a time, and when the next one starts.

    Why not walk for ever: a pass that found nothing expired would find the same entries, still
    younger than the retention, on the next pass too; with a 24 h horizon a worker judged
    thousands of entries a second for nothing. After a pass, no entry it kept can expire before
    the oldest of them is ``retain_ms`` old, and an entry added since was first accepted
    (``seen_at_ms``) about when it was added, so not much before the pass started. The next
    pass is due at the earlier of the two: an entry is then deleted at most its pipeline delay
    (or a DLQ retry's age) later than it could be, never earlier. A later deletion is always
    safe; only an early one could let a retry through.
    """

    started_ms: int
    next_from: bytes | None = None
    oldest_kept_ms: int | None = None

    def add(self, result: SweepResult, retain_ms: int) -> int | None:
        """Take one slice's result; once the pass is over, the wall time the next one is due."""
        if result.oldest_kept_ms is not None and (
            self.oldest_kept_ms is None or result.oldest_kept_ms < self.oldest_kept_ms
        ):
            self.oldest_kept_ms = result.oldest_kept_ms
        self.next_from = result.next_from
        if result.next_from is not None:
            return None
        due = self.started_ms + retain_ms
        if self.oldest_kept_ms is not None:
            due = min(due, self.oldest_kept_ms + retain_ms)
        return due
