"""Build dead-letter records: the original bytes, byte for byte, and headers that explain them.

Headers: reason, human detail, stage, origin topic/partition/offset, correlation id and time of
failure. Pure; the edge that owns a producer sends what this builds.
"""

from __future__ import annotations

from dataclasses import dataclass

from streamapp.events import Origin, Rejection
from streamapp.topics import Header

MAX_DETAIL_BYTES = 512


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One record for ``events.dlq``."""

    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]


def dead_letter(
    rejection: Rejection,
    *,
    original: bytes,
    key: bytes | None,
    origin: Origin | None,
    correlation_id: str,
    failed_at_ms: int,
) -> DeadLetter:
    """The dead letter of a rejected record; ``original`` is kept byte for byte."""
    headers = [
        (Header.REASON, rejection.reason.value.encode()),
        (Header.DETAIL, rejection.detail.encode("utf-8", "replace")[:MAX_DETAIL_BYTES]),
        (Header.STAGE, rejection.stage.encode()),
        (Header.CORRELATION_ID, correlation_id.encode("utf-8", "replace")),
        (Header.FAILED_AT, str(failed_at_ms).encode()),
    ]
    if origin is not None:
        headers += [
            (Header.ORIGIN_TOPIC, origin.topic.encode()),
            (Header.ORIGIN_PARTITION, str(origin.partition).encode()),
            (Header.ORIGIN_OFFSET, str(origin.offset).encode()),
        ]
    return DeadLetter(key=key, value=original, headers=headers)
