"""``streamapp dlq retry``: re-send chosen dead letters to their origin topic, each exactly once.

A copy is the letter's value byte for byte with its original key, plus the headers correlation id
and ``streamapp-retry-of: <dlq partition>:<dlq offset>``. Which letters go where is decided by
the pure :mod:`streamapp.ops.retry_plan`; this module carries the plan out.

**Once**, durably, with markers on the compacted one-partition topic ``streamapp.dlq-retries``
keyed ``<dlq partition>:<dlq offset>`` (:mod:`streamapp.ops.markers`). Every write is acks=all
and acknowledged before the next step starts:

1. Read every marker (the topic's end offset then is the *snapshot*), then the letters. Letters
   marked ``done`` are already retried; a ``pending`` marker under 60 s old is left alone (its run
   may still be at work, or its copy appended but not yet replicated).
2. Fix each letter's destination partition: murmur2 of the original key (what any producer's
   default partitioner does), the origin partition for a keyless letter, or the partition an
   interrupted run used. Read that partition's end offset F: this run's copy can only land at or
   after F.
3. Write ``pending(run, topic, partition, from_offset=F)`` (an interrupted run's F when resuming).
4. Claim: read the markers written after the snapshot. A letter is this run's only if this run's
   pending marker is the first one written for it there; the partition's order makes that one
   answer for every run, so two runs at once never both send a letter. Others are skipped.
   (The topic's ``min.compaction.lag.ms`` of an hour keeps every marker of that window.)
5. For a letter an interrupted run left pending, scan its partition from that run's F to the end
   for a record whose ``streamapp-retry-of`` is the letter: found, the copy exists (go to 7).
6. Send the copy to the fixed partition (idempotent producer, acks=all).
7. Write ``done(offset of the copy)``.

A crash before 3 is acknowledged leaves no marker (or a pending one) and nothing sent; the next
run sends. A crash anywhere between 3 and 7 leaves a pending marker, and a later run looks in the
only place the copy can be before it sends. After 7 the letter is done. So a chosen letter is
never lost (it stays pending until a run completes it; ``dlq list`` shows it) and never sent
twice (a second copy is sent only after a scan of every offset the first could have, by the run
holding the claim).

Why not the messageId dedupe of the identify stage alone: a record from any Kafka producer need
not carry a messageId (validate then makes a fresh one per read, so two copies are two events),
and dedupe forgets after ``STREAMAPP_DEDUPE_HORIZON_S``. It stays a second net for records that
do carry one. Why not a Kafka transaction around copy and marker: the stages read
read_uncommitted, so they would process the copy of an aborted transaction.

Limits: the scan in 5 needs the copy still retained on its topic, and the DLQ topic must not be
deleted and re-created (its offsets name the letters).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from streamapp import provision
from streamapp.config import Settings
from streamapp.ops.errors import TopicNotFound
from streamapp.ops.kafka import Broker, Kafka, TopicRead, acknowledged, partition_for_key
from streamapp.ops.letters import Letter, letter_from_record
from streamapp.ops.markers import Marker, MarkerState, first_claims, read_markers
from streamapp.ops.retry_plan import Copy, Planned, RetryReport, Selector, Skip, plan_retry
from streamapp.topics import Header, TopicNames

Clock = Callable[[], int]
TOPIC_WAIT_S = 10.0


def wall_ms() -> int:
    """Wall-clock epoch milliseconds (markers record when they were written)."""
    return int(time.time() * 1000)


@dataclass(frozen=True, slots=True)
class Target:
    """A planned letter with its fixed destination partition and pending marker."""

    planned: Planned
    partition: int
    pending: Marker

    @property
    def letter(self) -> Letter:
        """The dead letter to re-drive."""
        return self.planned.letter


async def retry(
    settings: Settings, selector: Selector, *, since_ms: int | None, clock: Clock = wall_ms
) -> RetryReport:
    """Re-drive the letters ``selector`` chooses (refused at or after ``since_ms``), once each."""
    await _ensure_markers_topic(settings)
    async with Kafka(settings.kafka_bootstrap_servers) as kafka:
        await _wait_for(kafka, settings.topics.dlq_retries)
        return await retry_with(kafka, settings.topics, selector, since_ms=since_ms, clock=clock)


async def retry_with(
    kafka: Broker,
    names: TopicNames,
    selector: Selector,
    *,
    since_ms: int | None,
    clock: Clock,
) -> RetryReport:
    """The protocol of the module docstring over ``kafka`` (the real one or an in-memory one)."""
    snapshot = await kafka.read(names.dlq_retries)  # 1
    dlq = await kafka.read(names.events_dlq, since_ms=since_ms)
    letters = [letter_from_record(r) for r in dlq.records]
    plan = plan_retry(letters, read_markers(snapshot.records), selector, names, now_ms=clock())
    if not plan.send:
        return RetryReport((), (), len(plan.already), plan.skipped)
    run = _Run(kafka, names, str(uuid.uuid4()), clock)
    targets = await run.targets(plan.send)  # 2
    await run.write_markers((t.letter.marker_key, t.pending) for t in targets)  # 3
    won, lost = await run.claim(targets, snapshot)  # 4
    found, missing = await run.find_copies(won)  # 5
    sent = await run.send(missing)  # 6
    await run.write_done([*found, *sent])  # 7
    skipped = (*plan.skipped, *((t.letter, Skip.IN_PROGRESS) for t in lost))
    return RetryReport(
        tuple(c for c, _ in sent), tuple(c for c, _ in found), len(plan.already), skipped
    )


async def _ensure_markers_topic(settings: Settings) -> None:
    """Create the markers topic of a deployment whose workers predate it (idempotent)."""
    wanted = settings.topics.dlq_retries
    specs = [s for s in provision.required_topics(settings) if s.name == wanted]
    await provision.create_topics(settings, specs)


async def _wait_for(kafka: Kafka, topic: str) -> None:
    """Wait until a just-created topic shows in the cluster's metadata."""
    deadline = asyncio.get_running_loop().time() + TOPIC_WAIT_S
    while await kafka.partitions(topic) is None:
        if asyncio.get_running_loop().time() > deadline:
            raise TopicNotFound(topic)
        await asyncio.sleep(0.2)


class _Run:
    """The steps 2..7 of one run, sharing its Kafka clients, run id and clock."""

    def __init__(self, kafka: Broker, names: TopicNames, run_id: str, clock: Clock) -> None:
        self.kafka, self.names, self.run_id, self.clock = kafka, names, run_id, clock

    async def targets(self, plan: Sequence[Planned]) -> list[Target]:
        """Step 2: each letter's partition, and the offset its copy cannot land before."""
        counts: dict[str, int] = {}
        for topic in {p.topic for p in plan if p.previous is None}:
            parts = await self.kafka.partitions(topic)
            if parts is None:
                raise TopicNotFound(topic)
            counts[topic] = len(parts)
        where = [(p, _partition(p, counts)) for p in plan]
        ends: dict[tuple[str, int], int] = {}
        for topic in {p.topic for p, _ in where}:
            parts = sorted({part for p, part in where if p.topic == topic})
            for part, end in (await self.kafka.end_offsets(topic, parts)).items():
                ends[(topic, part)] = end
        at_ms = self.clock()
        return [
            Target(p, part, self._pending(p, part, ends[(p.topic, part)], at_ms))
            for p, part in where
        ]

    def _pending(self, planned: Planned, partition: int, end: int, at_ms: int) -> Marker:
        previous = planned.previous
        from_offset = previous.from_offset if previous is not None else end
        return Marker(
            MarkerState.PENDING, self.run_id, at_ms, planned.topic, partition, from_offset
        )

    async def write_markers(self, items: Iterable[tuple[str, Marker]]) -> None:
        """Steps 3 and 7: write (letter key, marker) pairs; wait until every one is acknowledged."""
        futures = []
        for key, marker in items:
            futures.append(
                await self.kafka.send(
                    self.names.dlq_retries, key=key.encode(), value=marker.to_bytes(), partition=0
                )
            )
        await acknowledged(futures)

    async def claim(
        self, targets: Sequence[Target], snapshot: TopicRead
    ) -> tuple[list[Target], list[Target]]:
        """Step 4: split ``targets`` into those this run claimed first and those it did not."""
        tail = await self.kafka.read(self.names.dlq_retries, start=snapshot.ends)
        claims = first_claims(tail.records)
        won = [t for t in targets if claims.get(t.letter.marker_key) == self.run_id]
        lost = [t for t in targets if claims.get(t.letter.marker_key) != self.run_id]
        return won, lost

    async def find_copies(
        self, targets: Sequence[Target]
    ) -> tuple[list[tuple[Copy, Target]], list[Target]]:
        """Step 5: the copies interrupted runs already sent, and the targets still without one."""
        resuming = [t for t in targets if t.planned.previous is not None]
        seen: dict[str, Copy] = {}
        by_partition: dict[tuple[str, int], list[Target]] = defaultdict(list)
        for t in resuming:
            by_partition[(t.planned.topic, t.partition)].append(t)
        for (topic, partition), group in by_partition.items():
            start = min(t.pending.from_offset for t in group)
            wanted = {t.letter.marker_key: t for t in group}
            read = await self.kafka.read(topic, partitions=[partition], start={partition: start})
            for record in read.records:
                key = record.header_text(Header.RETRY_OF) or ""
                match = wanted.get(key)
                if match is not None and record.offset >= match.pending.from_offset:
                    seen.setdefault(key, Copy(match.letter, topic, partition, record.offset))
        found = [(seen[t.letter.marker_key], t) for t in resuming if t.letter.marker_key in seen]
        missing = [t for t in targets if t.letter.marker_key not in seen]
        return found, missing

    async def send(self, targets: Sequence[Target]) -> list[tuple[Copy, Target]]:
        """Step 6: send each letter's copy and wait for every acknowledgement."""
        futures = []
        for t in targets:
            letter = t.letter
            headers = [(Header.RETRY_OF, letter.marker_key.encode())]
            if letter.correlation_id:
                headers.insert(0, (Header.CORRELATION_ID, letter.correlation_id.encode()))
            futures.append(
                await self.kafka.send(
                    t.planned.topic,
                    key=letter.key,
                    value=letter.value,
                    partition=t.partition,
                    headers=headers,
                )
            )
        acks = await acknowledged(futures)
        return [
            (Copy(t.letter, t.planned.topic, partition, offset), t)
            for t, (partition, offset) in zip(targets, acks, strict=True)
        ]

    async def write_done(self, copies: Sequence[tuple[Copy, Target]]) -> None:
        """Step 7: mark each letter done at its copy's offset."""
        at_ms = self.clock()
        await self.write_markers(
            (t.letter.marker_key, t.pending.done(offset=c.offset, at_ms=at_ms)) for c, t in copies
        )


def _partition(planned: Planned, counts: dict[str, int]) -> int:
    """The destination partition: an interrupted run's, else where any producer would put it."""
    if planned.previous is not None:
        return planned.previous.partition
    count = counts[planned.topic]
    letter = planned.letter
    if letter.key is not None:
        return partition_for_key(letter.key, count)
    origin = letter.origin
    return origin.partition if origin is not None and origin.partition < count else 0
