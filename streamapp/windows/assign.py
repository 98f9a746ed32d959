"""Window maths: which windows an event time falls in, and when a window closes.

Pure integer arithmetic on event time in milliseconds since the Unix epoch; windows are aligned
to the epoch (a 1 h window starts on the hour, UTC). A window is half-open: ``[start_ms, end_ms)``.
"""

from __future__ import annotations

from typing import NamedTuple

from streamapp.windows.declare import Window


class WindowRange(NamedTuple):
    """One window's coordinates: ``start_ms`` inclusive, ``end_ms`` exclusive."""

    start_ms: int
    end_ms: int


def windows_for(event_time_ms: int, window: Window) -> list[WindowRange]:
    """Every window that contains ``event_time_ms``, oldest first.

    Tumbling: exactly one. Hopping: every window whose start is a multiple of the step and lies in
    ``(event_time_ms - size, event_time_ms]``, i.e. ``size / step`` windows.
    """
    size_ms, step_ms = window.size_ms, window.step_ms
    last_start = event_time_ms - event_time_ms % step_ms  # floor, also for times before 1970
    if step_ms == size_ms:  # tumbling: the common case, once per event per aggregate
        return [WindowRange(last_start, last_start + size_ms)]
    starts = range(last_start, event_time_ms - size_ms, -step_ms)
    return [WindowRange(start, start + size_ms) for start in reversed(starts)]


def window_at(start_ms: int, window: Window) -> WindowRange:
    """The window of ``window``'s shape that starts at ``start_ms``."""
    return WindowRange(start_ms, start_ms + window.size_ms)


def closes_at_ms(window_range: WindowRange, grace_ms: int) -> int:
    """The watermark at which the window closes: ``end_ms + grace_ms``.

    A window is closed once the partition's watermark is ``>=`` this value; an event for it that
    arrives later is late.
    """
    return window_range.end_ms + grace_ms
