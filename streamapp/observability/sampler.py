"""Every few seconds, sample what counters alone cannot say: rates, lag, table sizes, recovery.

A Faust timer on each worker sets the sampled gauges of ``/metrics`` and keeps the sample on
``runtime.observed`` for the operator UI:

* ``streamapp_stage_throughput_events_per_second{stage}``: increase of
  ``streamapp_stage_events_total`` since the previous sample, per second;
* ``streamapp_consumer_lag_records{topic,partition}``: end offset minus the group's committed
  offset, for the input partitions this worker owns (each partition is reported by one worker, so
  a sum over workers is the deployment's lag); the UI shows every partition;
* ``streamapp_table_keys{table}``: RocksDB's estimate of the keys in this worker's active
  partitions (an estimate: counting exactly means reading every key);
* ``streamapp_recovery_remaining_records{kind}`` and ``streamapp_recovery_in_progress``.

A failed sample (broker away, worker mid-rebalance) is logged and skipped: sampling must never
disturb the stages, and the gauges keep their last values with ``streamapp_sampled_at_seconds``
saying when the last complete sample began (each value in it was read after that).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any, Final, cast

from streamapp.observability.lag import LagReader, PartitionLag
from streamapp.observability.observed import Recovery
from streamapp.observability.rates import RateMeter
from streamapp.topics import validate_group

if TYPE_CHECKING:
    from streamapp.app import Runtime

log = logging.getLogger(__name__)

SAMPLE_INTERVAL_S: Final = 5.0
ESTIMATE_KEYS: Final = "rocksdb.estimate-num-keys"


def input_topics(rt: Runtime) -> list[str]:
    """The topics the deployment's workers read, in dataflow order."""
    return [topic for topics in reading_groups(rt).values() for topic in topics]


def reading_groups(rt: Runtime) -> dict[str, list[str]]:
    """Consumer group -> the topics it reads.

    The validate reader's group reads ``events`` (:mod:`streamapp.ingest.reader`), the workers'
    Faust group everything after it.
    """
    names = rt.settings.topics
    faust_topics = [names.events_identify, names.events_identified]
    return {
        validate_group(rt.settings.app_id): [names.events],
        rt.settings.app_id: faust_topics + [names.windows(name) for name in rt.aggregate_names],
    }


def stage_totals(rt: Runtime) -> dict[str, float]:
    """The current value of ``streamapp_stage_events_total`` per stage."""
    totals: dict[str, float] = {}
    for family in rt.metrics.stage_events.collect():
        for sample in family.samples:
            if sample.name.endswith("_total"):
                totals[sample.labels["stage"]] = sample.value
    return totals


def owned_partitions(rt: Runtime) -> set[tuple[str, int]]:
    """(topic, partition) of every partition this worker's consumer is assigned."""
    reader = rt.events_reader
    owned = set() if reader is None else {(tp.topic, tp.partition) for tp in reader.assignment()}
    try:
        return owned | {(tp.topic, tp.partition) for tp in rt.app.consumer.assignment()}
    except Exception:  # the consumer has not started yet
        return set()


def table_keys(rt: Runtime) -> dict[str, int]:
    """Estimated keys per table over the active partitions this worker holds."""
    try:
        actives = {(tp.topic, tp.partition) for tp in rt.app.assignor.assigned_actives()}
    except Exception:
        actives = set()
    out: dict[str, int] = {}
    for name, table in rt.tables.items():
        changelog = table.changelog_topic.get_topic_name()
        dbs: dict[int, Any] = getattr(table.data, "_dbs", {})
        total = 0
        for partition, db in list(dbs.items()):
            if (changelog, partition) in actives:
                total += int(db.property_int_value(ESTIMATE_KEYS) or 0)
        out[name] = total
    return out


def recovery(rt: Runtime) -> Recovery:
    """Faust's table recovery state on this worker."""
    rec = cast(Any, rt.app.tables).recovery
    remaining = tuple(
        (tp.topic, tp.partition, int(stats.remaining))
        for tp, stats in sorted(rec.active_stats().items())
    )
    return Recovery(
        in_progress=bool(rec.in_recovery),
        active_remaining=int(rec.active_remaining_total()),
        standby_remaining=int(rec.standby_remaining_total()),
        remaining_by_partition=remaining,
    )


def _set_lag(rt: Runtime, rows: list[PartitionLag]) -> None:
    owned = owned_partitions(rt)
    gauge = rt.metrics.consumer_lag
    gauge.clear()  # partitions this worker gave away stop being reported
    for row in rows:
        if (row.topic, row.partition) in owned:
            gauge.labels(row.topic, str(row.partition)).set(row.lag)


async def sample(rt: Runtime, meter: RateMeter, lag: LagReader) -> None:
    """Take one sample: update the gauges and ``rt.observed``."""
    metrics, observed = rt.metrics, rt.observed
    started = time.time()  # every value of this sample is read after this instant
    totals = stage_totals(rt)
    rates = meter.observe(totals, time.monotonic())
    for stage, rate in rates.items():
        metrics.stage_throughput.labels(stage).set(rate)
    observed.stage_totals, observed.stage_rates = totals, rates
    complete = True
    try:
        rows = []
        for group, topics in reading_groups(rt).items():
            rows.extend(await lag.read(group, topics))
    except Exception as exc:  # the broker may be away; the next sample tries again
        log.warning("sampling consumer lag failed: %r", exc)
        observed.lag_error, complete = repr(exc), False
    else:
        _set_lag(rt, rows)
        observed.lag, observed.lag_error = rows, None
    try:
        keys = table_keys(rt)
        state = recovery(rt)
    except Exception as exc:  # tables mid-rebalance: skip this sample
        log.warning("sampling tables failed: %r", exc)
        complete = False
    else:
        for name, count in keys.items():
            metrics.table_keys.labels(name).set(count)
        metrics.recovery_remaining.labels("active").set(state.active_remaining)
        metrics.recovery_remaining.labels("standby").set(state.standby_remaining)
        metrics.recovery_active.set(1 if state.in_progress else 0)
        observed.table_keys, observed.recovery = keys, state
    if complete:  # else the gauges that failed keep older values: keep the older time too
        metrics.sampled_at.set(started)
        observed.sampled_at_ms = int(started * 1000)


def install(rt: Runtime) -> None:
    """Register the sampling timer on the worker."""
    meter = RateMeter(started_at_s=time.monotonic())
    lag = LagReader(rt.settings.kafka_bootstrap_servers)

    @rt.app.timer(interval=SAMPLE_INTERVAL_S)  # type: ignore[untyped-decorator]
    async def sample_pipeline() -> None:
        await sample(rt, meter, lag)

    del sample_pipeline
