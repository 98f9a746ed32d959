"""``streamapp replay <aggregate> --from <ISO time | earliest>``: the command's edge.

Follows the protocol of :mod:`streamapp.replay` step by step: decide (or adopt) the backfill,
wait for the workers' cuts, read ``[start, cut)`` of every partition of ``events.identified``
with a progress bar, send the partials, then the done-markers, then *done*, and finally wait
until every owner partition has consumed its marker (the new version has taken over).
Exit status: 0 done, 1 refused or failed, 2 wrong options.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from streamapp import provision
from streamapp.config import Settings
from streamapp.ops.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, FAILURES, Output
from streamapp.ops.kafka import Kafka, partition_for_key
from streamapp.packed import unpack_or_whole
from streamapp.replay.backfill import PartitionBackfill, Tally
from streamapp.replay.control import (
    BACKFILL_DONE,
    Decision,
    Mode,
    decision_key,
    decision_value,
    done_key,
    done_value,
)
from streamapp.replay.control_io import read_control, write_first
from streamapp.replay.plan import (
    OffsetRange,
    all_cuts,
    backfill_range,
    parse_from,
    progress,
    render_bar,
)
from streamapp.topics import Header
from streamapp.windows.combine import Partial
from streamapp.windows.declare import Aggregate
from streamapp.windows.runtime import partial_key, version_headers

POLL_S: Final = 0.5
BAR_EVERY_S: Final = 0.25
LINE_EVERY_S: Final = 2.0


@dataclass(frozen=True, slots=True)
class ReplayOptions:
    """The options of ``streamapp replay``."""

    from_text: str
    wait_s: float = 300.0
    """How long to wait for the workers' cuts, and for the owners to take over."""


class ProgressPrinter:
    """A progress bar on a terminal (redrawn in place), else a line every few seconds."""

    def __init__(self, write: Callable[[str], None], *, tty: bool, total: int) -> None:
        self._write = write
        self._tty = tty
        self._total = total
        self._started = time.monotonic()
        self._last = 0.0

    def update(self, done: int, *, final: bool = False) -> None:
        """Show ``done`` of the total (throttled unless ``final``)."""
        now = time.monotonic()
        every = BAR_EVERY_S if self._tty else LINE_EVERY_S
        if not final and now - self._last < every:
            return
        self._last = now
        line = render_bar(progress(done, self._total, now - self._started))
        if self._tty:
            self._write("\r" + line + ("\n" if final else ""))
        else:
            self._write(line + "\n")


async def replay_command(
    settings: Settings,
    aggregate: Aggregate,
    options: ReplayOptions,
    output: Output,
    *,
    bar: Callable[[str], None],
    tty: bool,
) -> int:
    """Run the backfill of ``aggregate``'s version; return the exit status."""
    try:
        parse_from(options.from_text, now_ms=_now_ms())
    except ValueError as exc:
        output.err(f"streamapp replay: --from: {exc}")
        return EXIT_USAGE
    try:
        specs = [
            s for s in provision.required_topics(settings) if s.name == settings.topics.backfills
        ]
        await provision.create_topics(settings, specs)
        async with Kafka(settings.kafka_bootstrap_servers) as kafka:
            return await _replay(settings, kafka, aggregate, options, output, bar, tty)
    except FAILURES as exc:
        output.err(f"streamapp replay: {exc}")
        return EXIT_FAILED


async def _replay(
    settings: Settings,
    kafka: Kafka,
    aggregate: Aggregate,
    options: ReplayOptions,
    output: Output,
    bar: Callable[[str], None],
    tty: bool,
) -> int:
    names = settings.topics
    name, version = aggregate.name, aggregate.version
    label = f"{name} version {version}"
    state = await read_control(kafka, names.backfills)
    decision = state.decision(name, version)
    if decision is None:
        from_ms = parse_from(options.from_text, now_ms=_now_ms())
        mine = Decision(Mode.BACKFILL, options.from_text, from_ms)
        value = decision_value(
            mine, by="streamapp replay", at_ms=_now_ms(), definition=aggregate.definition()
        )
        state = await write_first(kafka, names.backfills, decision_key(name, version), value)
        decision = state.decision(name, version) or mine  # ours, unless another came first
    if decision.mode is Mode.LIVE:
        output.err(
            f"streamapp replay: {label} already runs live (a worker started it before any backfill "
            "was asked for); its windows may be on the sink, so a backfill would count twice. "
            "Change the aggregate (a new version) and run replay before restarting the workers."
        )
        return EXIT_FAILED
    if decision.from_text != options.from_text:
        output.err(f"{label}: resuming the backfill from {decision.from_text} (as first asked)")
    if state.is_done(name, version):
        output.out(f"{label}: backfill already done")
        return EXIT_OK

    source = names.events_identified
    partitions = await kafka.partitions(source) or []
    cuts = state.cuts_of(name, version)
    if not all_cuts(cuts, len(partitions)):
        output.err(
            f"{label}: waiting for workers running it to take the cut of every partition of "
            f"{source} ({len(cuts)}/{len(partitions)}); restart them with the new topologies/"
        )
    deadline = time.monotonic() + options.wait_s
    while not all_cuts(cuts, len(partitions)):
        if time.monotonic() > deadline:
            output.err(
                f"streamapp replay: no cut for partitions "
                f"{sorted(set(range(len(partitions))) - set(cuts))} after {options.wait_s:.0f} s; "
                "are workers with the new topologies/ running? Run the command again to resume."
            )
            return EXIT_FAILED
        await asyncio.sleep(POLL_S)
        cuts = (await read_control(kafka, names.backfills)).cuts_of(name, version)

    ranges = await _ranges(kafka, source, partitions, decision.from_ms, cuts)
    total = sum(r.size for r in ranges.values())
    spans = ", ".join(f"{p}:[{r.start},{r.stop})" for p, r in sorted(ranges.items()))
    output.err(
        f"{label}: backfilling {total:,} records of {source} from {decision.from_text} "
        f"(per partition [start, cut): {spans})"
    )
    tally = await _backfill(
        settings, kafka, aggregate, ranges, ProgressPrinter(bar, tty=tty, total=total)
    )
    markers = await _send_markers(settings, kafka, aggregate)
    future = await kafka.send(
        names.backfills,
        key=done_key(name, version),
        value=done_value(tally.counted, at_ms=_now_ms()),
        partition=0,
    )
    await future
    output.out(
        f"{label}: backfilled {tally.read:,} records ({tally.counted:,} events counted, "
        f"{tally.copies:,} re-sent copies skipped); done-markers sent"
    )
    if await _wait_taken_over(settings, names.windows(name), markers, options.wait_s):
        output.out(f"{label}: caught up and serving (every partition passed its done-marker)")
        return EXIT_OK
    output.err(
        f"{label}: the backfill is complete, but not every partition of {names.windows(name)} "
        f"has consumed its done-marker after {options.wait_s:.0f} s (are workers running?)"
    )
    return EXIT_OK


async def _ranges(
    kafka: Kafka, source: str, partitions: list[int], from_ms: int | None, cuts: dict[int, int]
) -> dict[int, OffsetRange]:
    starts = await kafka.log_starts(source, partitions)
    ends = await kafka.end_offsets(source, partitions)
    found: dict[int, int | None] = {p: None for p in partitions}
    if from_ms is not None:
        hits = await kafka.offsets_for_time(source, partitions, from_ms)
        found = {p: (ends[p] if hits.get(p) is None else hits[p]) for p in partitions}
    return {
        p: backfill_range(log_start=starts[p], from_offset=found[p], cut=cuts[p])
        for p in partitions
    }


async def _backfill(
    settings: Settings,
    kafka: Kafka,
    aggregate: Aggregate,
    ranges: dict[int, OffsetRange],
    printer: ProgressPrinter,
) -> Tally:
    """Read every range, send the partials in order per partition, wait for every ack."""
    source = settings.topics.events_identified
    target = settings.topics.windows(aggregate.name)
    target_partitions = len(await kafka.partitions(target) or []) or settings.topic_partitions
    due = {p: r for p, r in ranges.items() if r.size > 0}
    cores = {p: PartitionBackfill(aggregate, source, p) for p in ranges}
    done = 0
    printer.update(0)
    consumer: Any = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    await consumer.start()
    futures: list[asyncio.Future[Any]] = []
    try:
        tps = {p: TopicPartition(source, p) for p in due}
        if tps:
            consumer.assign(list(tps.values()))
            for p, tp in tps.items():
                consumer.seek(tp, due[p].start)
        remaining = set(due)
        while remaining:
            batch = await consumer.getmany(
                *(tps[p] for p in remaining), timeout_ms=500, max_records=5000
            )
            for tp, messages in batch.items():
                p, stop, core = tp.partition, due[tp.partition].stop, cores[tp.partition]
                for m in messages:
                    if m.offset >= stop:
                        break
                    for i in unpack_or_whole(m):
                        core.add(i.offset, i.key, i.value, i.headers, i.item)
                    done += 1
                partials = core.drain()
                futures += await _send(
                    kafka, target, target_partitions, aggregate.version, partials
                )
            for p in list(remaining):
                if await consumer.position(tps[p]) >= due[p].stop:
                    remaining.discard(p)
            printer.update(done)
        await asyncio.gather(*futures)
    finally:
        await consumer.stop()
    printer.update(done, final=True)
    tally = Tally()
    for core in cores.values():
        tally.read += core.tally.read
        tally.counted += core.tally.counted
        tally.copies += core.tally.copies
    return tally


async def _send(
    kafka: Kafka, topic: str, partitions: int, version: str, partials: list[Partial]
) -> list[asyncio.Future[Any]]:
    """Queue the partials on ``windows.<name>``, each on the partition its key hashes to."""
    futures = []
    headers = version_headers(version)
    for partial in partials:
        key = partial_key(partial.key)  # as the combine agent keys them
        value = orjson.dumps(partial.to_json())
        partition = partition_for_key(key, partitions)
        futures.append(
            await kafka.send(topic, key=key, value=value, partition=partition, headers=headers)
        )
    return futures


async def _send_markers(settings: Settings, kafka: Kafka, aggregate: Aggregate) -> dict[int, int]:
    """The done-marker on every partition of ``windows.<name>``; return their offsets."""
    target = settings.topics.windows(aggregate.name)
    partitions = await kafka.partitions(target) or []
    headers = [(Header.KIND, BACKFILL_DONE)]
    futures = [
        await kafka.send(
            target, key=None, value=aggregate.version.encode(), partition=p, headers=headers
        )
        for p in partitions
    ]
    metadata = await asyncio.gather(*futures)
    return {int(m.partition): int(m.offset) for m in metadata}


async def _wait_taken_over(
    settings: Settings, topic: str, markers: dict[int, int], wait_s: float
) -> bool:
    """Wait until the workers' committed offsets on ``topic`` are past every marker."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        deadline = time.monotonic() + wait_s
        tps = [TopicPartition(topic, p) for p in markers]
        while True:
            found = await admin.list_consumer_group_offsets(settings.app_id, partitions=tps)
            if all(
                found.get(tp) is not None and found[tp].offset > markers[tp.partition] for tp in tps
            ):
                return True
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(POLL_S)
    finally:
        await admin.close()


def _now_ms() -> int:
    return int(time.time() * 1000)
