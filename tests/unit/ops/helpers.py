"""Builders for dead-letter records and letters, as the stages write them."""

from __future__ import annotations

from streamapp.ops.letters import Letter, letter_from_record
from streamapp.ops.records import Record
from streamapp.topics import Header, TopicNames

NAMES = TopicNames("t1.")
T0 = 1_750_000_000_000


def dlq_record(
    offset: int,
    *,
    partition: int = 0,
    reason: str = "too_large",
    stage: str = "validate",
    origin: tuple[str, int, int] | None = ("t1.events", 2, 7),
    cid: str = "cid-1",
    key: bytes | None = b"user-1",
    value: bytes = b'{"type":"track"}',
    failed_at_ms: int | None = T0,
) -> Record:
    headers = [
        (Header.REASON, reason.encode()),
        (Header.DETAIL, b"event larger than 600 bytes"),
        (Header.STAGE, stage.encode()),
        (Header.CORRELATION_ID, cid.encode()),
    ]
    if failed_at_ms is not None:
        headers.append((Header.FAILED_AT, str(failed_at_ms).encode()))
    if origin is not None:
        headers += [
            (Header.ORIGIN_TOPIC, origin[0].encode()),
            (Header.ORIGIN_PARTITION, str(origin[1]).encode()),
            (Header.ORIGIN_OFFSET, str(origin[2]).encode()),
        ]
    return Record("t1.events.dlq", partition, offset, T0 + 5, key, value, tuple(headers))


def letter(offset: int, **kwargs: object) -> Letter:
    return letter_from_record(dlq_record(offset, **kwargs))  # type: ignore[arg-type]
