"""What the sampler last saw of the pipeline: stage rates, lag, table sizes, recovery.

A plain holder on the :class:`~streamapp.app.Runtime`, written by
:mod:`streamapp.observability.sampler` every few seconds and read by the operator UI, so a page
view costs no Kafka round trip. Pure (no faust, no aiokafka).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from streamapp.observability.lag import PartitionLag


@dataclass(frozen=True, slots=True)
class Recovery:
    """Table recovery from the changelogs on this worker."""

    in_progress: bool
    active_remaining: int
    standby_remaining: int
    remaining_by_partition: tuple[tuple[str, int, int], ...] = ()
    """(changelog topic, partition, records left) of the active partitions still recovering."""


@dataclass(slots=True)
class Observed:
    """The latest sample; ``sampled_at_ms`` is ``None`` until the first one."""

    sampled_at_ms: int | None = None
    stage_rates: dict[str, float] = field(default_factory=dict)
    stage_totals: dict[str, float] = field(default_factory=dict)
    lag: list[PartitionLag] = field(default_factory=list)
    lag_error: str | None = None
    table_keys: dict[str, int] = field(default_factory=dict)
    recovery: Recovery | None = None
