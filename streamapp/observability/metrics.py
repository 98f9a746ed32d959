"""Prometheus metrics of one worker process, rendered at ``GET /metrics``.

One registry per app (not the process-global default), so tests that build several apps in one
process do not share counters. Labels are closed sets (reasons, stages, routes), never user data.
"""

from __future__ import annotations

from dataclasses import dataclass

# The *_created series double the output and carry nothing an operator reads.
import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]


@dataclass(frozen=True, slots=True)
class Metrics:
    """The counters and gauges the stages report into."""

    registry: CollectorRegistry
    accepted: Counter
    rejected: Counter
    produced: Counter
    http_requests: Counter
    stage_events: Counter
    duplicates: Counter
    dedupe_expired: Counter
    input_order: Counter
    identity_conflicts: Counter
    replays_skipped: Counter
    late_events: Counter
    window_closes: Counter
    window_reemits: Counter
    dlq_breaker_trips: Counter
    topology_superseded: Gauge
    ingest_in_flight: Gauge
    stage_throughput: Gauge
    consumer_lag: Gauge
    table_keys: Gauge
    recovery_remaining: Gauge
    recovery_active: Gauge
    sampled_at: Gauge

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)


def create_metrics() -> Metrics:
    """A fresh registry with every streamapp metric registered."""
    r = CollectorRegistry(auto_describe=True)
    p = "streamapp_"
    return Metrics(
        registry=r,
        accepted=Counter(p + "events_accepted", "Events accepted", ["source"], registry=r),
        rejected=Counter(p + "events_rejected", "Events rejected", ["stage", "reason"], registry=r),
        produced=Counter(p + "records_produced", "Records produced", ["topic"], registry=r),
        http_requests=Counter(
            p + "http_requests", "HTTP requests answered", ["route", "status"], registry=r
        ),
        stage_events=Counter(p + "stage_events", "Events handled", ["stage"], registry=r),
        duplicates=Counter(
            p + "duplicates_dropped", "Client retries dropped (same messageId)", registry=r
        ),
        dedupe_expired=Counter(
            p + "dedupe_entries_expired",
            "messageId dedupe entries deleted after twice the horizon",
            registry=r,
        ),
        input_order=Counter(
            p + "input_out_of_order",
            "Input records Faust skipped and the stage read itself (filled), or found deleted",
            ["stage", "verdict"],
            registry=r,
        ),
        identity_conflicts=Counter(
            p + "identity_conflicts", "Refused merges of two identified users", registry=r
        ),
        replays_skipped=Counter(
            p + "replays_skipped", "Replayed records fenced by origin offset", ["stage"], registry=r
        ),
        late_events=Counter(
            p + "late_events", "Events after window close", ["aggregate"], registry=r
        ),
        window_closes=Counter(p + "window_closes", "Windows closed", ["aggregate"], registry=r),
        window_reemits=Counter(
            p + "window_reemits",
            "Closed windows emitted again after a crash",
            ["aggregate"],
            registry=r,
        ),
        dlq_breaker_trips=Counter(
            p + "dlq_breaker_trips", "Times the dead-letter breaker stopped a stage", registry=r
        ),
        topology_superseded=Gauge(
            p + "topology_superseded",
            "1 while a worker started later runs another version of this aggregate: this "
            "worker's topologies/ is out of date (a rolling restart across a topology change)",
            ["aggregate"],
            registry=r,
        ),
        ingest_in_flight=Gauge(
            p + "ingest_in_flight", "HTTP events awaiting broker acks", registry=r
        ),
        # Sampled every few seconds by streamapp.observability.sampler:
        stage_throughput=Gauge(
            p + "stage_throughput_events_per_second",
            "Events handled per second over the last sample interval",
            ["stage"],
            registry=r,
        ),
        consumer_lag=Gauge(
            p + "consumer_lag_records",
            "End offset minus committed offset, per input partition this worker owns",
            ["topic", "partition"],
            registry=r,
        ),
        table_keys=Gauge(
            p + "table_keys",
            "Estimated keys in the active partitions of a table on this worker",
            ["table"],
            registry=r,
        ),
        recovery_remaining=Gauge(
            p + "recovery_remaining_records",
            "Changelog records still to read before tables are up to date",
            ["kind"],
            registry=r,
        ),
        recovery_active=Gauge(
            p + "recovery_in_progress", "1 while tables recover from their changelogs", registry=r
        ),
        sampled_at=Gauge(
            p + "sampled_at_seconds",
            "Start of the last sample (its values were all read after it)",
            registry=r,
        ),
    )
