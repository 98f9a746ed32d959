"""``streamapp dlq list``: read ``events.dlq`` and the retry markers, keep the chosen letters.

The Kafka edge of :mod:`streamapp.ops.letters`; read-only (it creates no topic, so it can be
pointed at a deployment without changing it).
"""

from __future__ import annotations

from dataclasses import dataclass

from streamapp.config import Settings
from streamapp.ops.kafka import Kafka
from streamapp.ops.letters import Letter, LetterFilter, chronological, letter_from_record
from streamapp.ops.markers import MarkerLog, read_markers


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
