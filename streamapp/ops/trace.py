"""``streamapp trace <cid>``: read one event's trace lines and dead letters, and follow retries.

Trace lines are keyed by correlation id, so only the partition the default partitioner maps the
id to (murmur2, as the workers' producer does) is read; all partitions when the topic's partition
ids are not the usual ``0..n-1`` and the count cannot be trusted. Dead letters are keyed by the
refused record's key, so the DLQ is read whole (``--since`` bounds both reads).

A letter ``dlq retry`` re-sent to ``events`` goes on under another correlation id: validate
names an accepted event by its ``messageId``, not by the id the refused record had. The retry
marker says where the copy is; its ``messageId`` gives the id to follow. Read-only.
"""

from __future__ import annotations

from collections.abc import Sequence

from streamapp.config import Settings
from streamapp.ops.dlq import read_marker_log
from streamapp.ops.kafka import Kafka, partition_for_key
from streamapp.ops.letters import Letter, letter_from_record
from streamapp.ops.markers import MarkerLog, MarkerState
from streamapp.ops.records import Record
from streamapp.ops.trace_path import (
    Step,
    copy_correlation_id,
    ordered,
    path_of,
    step_from_retry,
)
from streamapp.topics import TopicNames


def trace_partitions(correlation_id: str, partitions: Sequence[int]) -> list[int]:
    """The partitions that can hold the id's trace lines: its murmur2 partition, else all."""
    if list(partitions) != list(range(len(partitions))):
        return list(partitions)  # the count is unknown: scan everything
    return [partition_for_key(correlation_id.encode("utf-8", "replace"), len(partitions))]


async def trace(settings: Settings, correlation_id: str, *, since_ms: int | None) -> list[Step]:
    """Every step of the event ``correlation_id`` (empty when nothing is known of it)."""
    names = settings.topics
    async with Kafka(settings.kafka_bootstrap_servers) as kafka:
        lines = await _trace_records(kafka, names.traces, correlation_id, since_ms)
        letters = await _letters(kafka, names.events_dlq, correlation_id, since_ms)
        markers = await read_marker_log(kafka, names.dlq_retries) if letters else MarkerLog()
        steps = path_of(correlation_id, lines, letters, markers, names.events_dlq)
        for letter in letters:
            steps += await _follow(kafka, names, letter, markers, since_ms)
    return ordered(steps)


async def _follow(
    kafka: Kafka, names: TopicNames, letter: Letter, markers: MarkerLog, since_ms: int | None
) -> list[Step]:
    """The retry of a letter, and the path of its copy when that has another correlation id."""
    marker = markers.get(letter.marker_key)
    if marker is None or marker.state is not MarkerState.DONE or marker.offset is None:
        return []
    copy = await _record_at(kafka, marker.topic, marker.partition, marker.offset)
    follows_as = copy_correlation_id(copy.value) if copy is not None else None
    if marker.topic != names.events or follows_as == letter.correlation_id:
        follows_as = None  # the copy keeps the letter's id: its lines are already in the path
    sent_at_ms = copy.timestamp_ms if copy is not None else marker.at_ms
    steps = [step_from_retry(letter, marker, follows_as, sent_at_ms=sent_at_ms)]
    if follows_as is not None:
        lines = await _trace_records(kafka, names.traces, follows_as, since_ms)
        steps += path_of(follows_as, lines, [], MarkerLog(), names.events_dlq)
    return steps


async def _record_at(kafka: Kafka, topic: str, partition: int, offset: int) -> Record | None:
    read = await kafka.read(
        topic, partitions=[partition], start={partition: offset}, until={partition: offset + 1}
    )
    return next((r for r in read.records if r.offset == offset), None)


async def _trace_records(
    kafka: Kafka, topic: str, correlation_id: str, since_ms: int | None
) -> list[Record]:
    partitions = await kafka.partitions(topic)
    if partitions is None:
        return []
    chosen = trace_partitions(correlation_id, partitions)
    read = await kafka.read(topic, partitions=chosen, since_ms=since_ms)
    key = correlation_id.encode("utf-8", "replace")
    return [r for r in read.records if r.key == key]


async def _letters(
    kafka: Kafka, topic: str, correlation_id: str, since_ms: int | None
) -> list[Letter]:
    if await kafka.partitions(topic) is None:
        return []
    read = await kafka.read(topic, since_ms=since_ms)
    letters = (letter_from_record(r) for r in read.records)
    return [x for x in letters if x.correlation_id == correlation_id]
