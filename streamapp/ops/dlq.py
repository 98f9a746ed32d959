"""``streamapp dlq list``: read ``events.dlq`` and the retry markers, keep the chosen letters.

The Kafka edge of :mod:`streamapp.ops.letters`; read-only (it creates no topic, so it can be
pointed at a deployment without changing it).
"""

from __future__ import annotations

from dataclasses import dataclass

from streamapp.config import Settings
from streamapp.ops.kafka import Kafka
from streamapp.ops.letters import Letter, LetterFilter, chronological, letter_from_record
from streamapp.ops.markers import Marker, MarkerLog, read_markers


@dataclass(frozen=True, slots=True)
class Listing:
    """The letters to show (oldest first), their markers, and how many matched and were read."""

    letters: list[Letter]
    markers: MarkerLog
    matched: int
    read: int


async def list_letters(
    settings: Settings, chosen: LetterFilter, *, since_ms: int | None, limit: int | None
) -> Listing:
    """The first ``limit`` letters ``chosen`` matches among those written at or after ``since_ms``.

    Raises:
        TopicNotFound: the deployment has no DLQ topic.

    """
    names = settings.topics
    async with Kafka(settings.kafka_bootstrap_servers) as kafka:
        dlq = await kafka.read(names.events_dlq, since_ms=since_ms)
        markers = await read_marker_log(kafka, names.dlq_retries)
    letters = chronological(
        x for x in (letter_from_record(r) for r in dlq.records) if chosen.matches(x)
    )
    shown = letters if limit is None else letters[:limit]
    return Listing(shown, markers, len(letters), len(dlq.records))


async def read_marker_log(kafka: Kafka, topic: str) -> MarkerLog:
    """The retry markers; none when no retry ever ran (the topic may not exist yet)."""
    if await kafka.partitions(topic) is None:
        return MarkerLog()
    return read_markers((await kafka.read(topic)).records)


async def one_letter(
    settings: Settings, partition: int, offset: int
) -> tuple[Letter, Marker | None] | None:
    """The letter at ``partition``/``offset`` of ``events.dlq`` and its marker; ``None``: no such.

    Raises:
        TopicNotFound: the deployment has no DLQ topic.

    """
    names = settings.topics
    async with Kafka(settings.kafka_bootstrap_servers) as kafka:
        if partition not in (await kafka.partitions(names.events_dlq) or []):
            return None
        read = await kafka.read(
            names.events_dlq,
            partitions=[partition],
            start={partition: offset},
            until={partition: offset + 1},
        )
        record = next((r for r in read.records if r.offset == offset), None)
        if record is None:
            return None
        markers = await read_marker_log(kafka, names.dlq_retries)
    letter = letter_from_record(record)
    return letter, markers.get(letter.marker_key)
