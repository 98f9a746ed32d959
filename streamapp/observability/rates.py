"""Events per second per stage, from the cumulative ``streamapp_stage_events_total`` counters.

Pure: the sampler hands in each sample's totals and the time it took them; the rate of a stage is
its increase since the previous sample divided by the seconds between them. Counters start at
zero with the process, so a meter made at process start (``started_at_s``) rates its first sample
too. A counter that went down (a new process) restarts from zero instead of a negative rate.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(slots=True)
class RateMeter:
    """Remembers the previous sample; :meth:`observe` returns the rates since it."""

    started_at_s: float | None = None
    """When every counter was zero (the process start), if known."""
    _totals: dict[str, float] = field(default_factory=dict)
    _at_s: float | None = None

    def __post_init__(self) -> None:
        self._at_s = self.started_at_s

    def observe(self, totals: Mapping[str, float], at_s: float) -> dict[str, float]:
        """Rates per label since the previous call (or the start; 0 when neither is known)."""
        previous, previous_at = self._totals, self._at_s
        self._totals, self._at_s = dict(totals), at_s
        if previous_at is None or at_s <= previous_at:
            return {label: 0.0 for label in totals}
        elapsed = at_s - previous_at
        return {
            label: max(0.0, total - previous.get(label, 0.0)) / elapsed
            for label, total in totals.items()
        }
