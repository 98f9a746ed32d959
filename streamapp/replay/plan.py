"""The pure arithmetic of a backfill: where it starts, where it stops, and how far along it is.

The edges (:mod:`streamapp.replay.run`, :mod:`streamapp.replay.gate`) read offsets from Kafka and
hand them in; nothing here talks to a broker or reads the clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, NamedTuple

from streamapp.ops.since import parse_since

EARLIEST: Final = "earliest"


def parse_from(text: str, *, now_ms: int) -> int | None:
    """``--from``: ``earliest`` (``None``), an ISO-8601 date-time or date, or a span back (``2d``).

    Raises:
        ValueError: anything else; the message says what is accepted.

    """
    if text.strip().lower() == EARLIEST:
        return None
    return parse_since(text, now_ms=now_ms)


class OffsetRange(NamedTuple):
    """``[start, stop)`` of one partition of ``events.identified``."""

    start: int
    stop: int

    @property
    def size(self) -> int:
        """How many offsets it spans (records, fewer where the log was compacted: none here)."""
        return max(0, self.stop - self.start)


def backfill_range(*, log_start: int, from_offset: int | None, cut: int) -> OffsetRange:
    """The offsets of one partition a backfill reads: ``[max(from, log start), cut)``.

    Args:
        log_start: The partition's first retained offset (records before it are gone).
        from_offset: The first offset whose record timestamp is at or after ``--from``
            (``offsets_for_times``); ``None`` for ``earliest``. Kafka answers "no such record"
            with the end offset: the caller passes that.
        cut: The first offset the new version processed live (the control log's cut).

    The range is empty when ``--from`` lies after the cut: everything since then is live.

    """
    start = log_start if from_offset is None else max(log_start, from_offset)
    return OffsetRange(min(start, cut), cut)


def idle_cut(*, committed: int | None, log_start: int, end: int) -> int | None:
    """The cut of a partition that no batch has reached, or ``None`` while it has work left.

    A partition whose committed offset (``None``: none yet, so consumption starts at the log
    start) equals its end offset has nothing in flight: the next record the worker processes is
    the one at ``end``, which is therefore the first the new version sees live.
    """
    position = log_start if committed is None else committed
    return end if position == end else None


def all_cuts(cuts: Mapping[int, int], partitions: int) -> bool:
    """Whether every partition ``0 .. partitions - 1`` has its cut."""
    return all(p in cuts for p in range(partitions))


@dataclass(frozen=True, slots=True)
class ProgressView:
    """How far a backfill is: what a progress bar shows."""

    done: int
    total: int
    rate_per_s: float
    """Events per second since the start (0 before the first second's worth of data)."""
    left_s: float | None
    """Seconds to go at that rate; ``None`` while the rate is unknown."""

    @property
    def fraction(self) -> float:
        """Done as a share of the total, 1.0 for an empty backfill."""
        return 1.0 if self.total <= 0 else min(1.0, self.done / self.total)


def progress(done: int, total: int, elapsed_s: float) -> ProgressView:
    """The progress after ``done`` of ``total`` events in ``elapsed_s`` seconds."""
    rate = done / elapsed_s if elapsed_s > 0 else 0.0
    left = max(0, total - done)
    left_s = None if rate <= 0 else left / rate
    if left == 0:
        left_s = 0.0
    return ProgressView(done, total, rate, left_s)


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def render_bar(view: ProgressView, width: int = 30) -> str:
    """One line: ``[#######.......]  41%  2,050/5,000 events  812 ev/s  00:04 left``."""
    filled = int(view.fraction * width)
    bar = "#" * filled + "." * (width - filled)
    return (
        f"[{bar}] {view.fraction * 100:3.0f}%  {view.done:,}/{view.total:,} events  "
        f"{view.rate_per_s:,.0f} ev/s  {_clock(view.left_s)} left"
    )
