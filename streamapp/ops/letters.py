"""Dead letters as the operator sees them: parsed from ``events.dlq`` records, filtered, printed.

A letter's headers (written by :mod:`streamapp.dlq.letters` and the windows stage) say why, where
and when a record was refused; its value is the refused record byte for byte (for ``late``
letters: the normalised event body). Pure: :mod:`streamapp.ops.dlq` reads the records and the
retry markers, this module turns them into lines. A letter never fails to parse: a missing or
unreadable header becomes ``None`` or ``"?"`` so that a foreign record on the topic is still shown.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from streamapp.events import JSON, Origin
from streamapp.ingest.timestamps import format_iso8601_ms
from streamapp.ops.markers import Marker, MarkerState
from streamapp.ops.records import Record
from streamapp.topics import Header

PREVIEW_CHARS: Final = 80
UNKNOWN: Final = "?"
_ESCAPES: Final = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


@dataclass(frozen=True, slots=True)
class Letter:
    """One dead letter: its place on ``events.dlq``, its headers and the refused bytes."""

    dlq_partition: int
    dlq_offset: int
    written_at_ms: int
    """The DLQ record's broker timestamp (what ``--since`` selects on)."""
    failed_at_ms: int | None
    reason: str
    detail: str
    stage: str
    origin: Origin | None
    correlation_id: str
    key: bytes | None
    value: bytes

    @property
    def marker_key(self) -> str:
        """The key of this letter's retry marker and ``streamapp-retry-of`` header."""
        return marker_key(self.dlq_partition, self.dlq_offset)

    @property
    def time_ms(self) -> int:
        """When the record was refused: the failed-at header, else the DLQ record's timestamp."""
        return self.failed_at_ms if self.failed_at_ms is not None else self.written_at_ms


def marker_key(dlq_partition: int, dlq_offset: int) -> str:
    """``<dlq partition>:<dlq offset>``: names one letter for as long as the DLQ topic lives."""
    return f"{dlq_partition}:{dlq_offset}"


def letter_from_record(record: Record) -> Letter:
    """Read one ``events.dlq`` record; never raises (unknown headers become ``?``/``None``)."""
    return Letter(
        dlq_partition=record.partition,
        dlq_offset=record.offset,
        written_at_ms=record.timestamp_ms,
        failed_at_ms=record.header_int(Header.FAILED_AT),
        reason=record.header_text(Header.REASON) or UNKNOWN,
        detail=record.header_text(Header.DETAIL) or "",
        stage=record.header_text(Header.STAGE) or UNKNOWN,
        origin=_origin(record),
        correlation_id=record.header_text(Header.CORRELATION_ID) or "",
        key=record.key,
        value=record.value or b"",
    )


def _origin(record: Record) -> Origin | None:
    topic = record.header_text(Header.ORIGIN_TOPIC)
    partition = record.header_int(Header.ORIGIN_PARTITION)
    offset = record.header_int(Header.ORIGIN_OFFSET)
    if topic is None or partition is None or offset is None:
        return None
    return Origin(topic, partition, offset)


@dataclass(frozen=True, slots=True)
class LetterFilter:
    """Which letters ``dlq list`` shows: by reason and/or correlation id (``None``: any)."""

    reason: str | None = None
    correlation_id: str | None = None

    def matches(self, letter: Letter) -> bool:
        """Whether ``letter`` passes every criterion that is set."""
        if self.reason is not None and letter.reason != self.reason:
            return False
        return self.correlation_id is None or letter.correlation_id == self.correlation_id


def chronological(letters: Iterable[Letter]) -> list[Letter]:
    """Letters in the order they were refused (partitions merged; ties by DLQ position)."""
    return sorted(letters, key=lambda x: (x.time_ms, x.dlq_partition, x.dlq_offset))


def preview(value: bytes, limit: int = PREVIEW_CHARS) -> str:
    r"""The first ``limit`` characters of ``value``, safe for one terminal line.

    Invalid UTF-8 bytes show as ``\xNN``, control and other non-printable characters as
    ``\n``/``\t``/``\xNN``/``\uNNNN``; a cut value ends with ``…``.
    """
    if not value:
        return "(empty)"
    # A character is at most 4 bytes: decoding a few more than needed never loses one.
    text = value[: limit * 4 + 4].decode("utf-8", "surrogateescape")
    shown = "".join(_escape(char) for char in text[:limit])
    return shown + ("…" if len(text) > limit else "")


def _escape(char: str) -> str:
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte, smuggled through by surrogateescape
        return f"\\x{code - 0xDC00:02x}"
    if char in _ESCAPES:
        return _ESCAPES[char]
    if char.isprintable():
        return char
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def retry_status(marker: Marker | None) -> str:
    """What ``dlq list`` says about a letter's retries: ``retried``, ``retry-pending`` or ``-``."""
    if marker is None:
        return "-"
    return "retried" if marker.state is MarkerState.DONE else "retry-pending"


def origin_text(origin: Origin | None) -> str:
    """``topic/partition/offset``, or ``-`` for a letter without origin headers."""
    return "-" if origin is None else f"{origin.topic}/{origin.partition}/{origin.offset}"


def letter_line(letter: Letter, marker: Marker | None) -> str:
    """One line of ``dlq list``: position, time, reason, stage, origin, cid, status, preview."""
    return "  ".join(
        (
            f"{letter.marker_key:<9}",
            format_iso8601_ms(letter.time_ms),
            f"{letter.reason:<19}",
            f"{letter.stage:<10}",
            origin_text(letter.origin),
            f"cid={letter.correlation_id or '-'}",
            f"{retry_status(marker):<13}",
            preview(letter.value),
        )
    )


def letter_json(letter: Letter, marker: Marker | None) -> Mapping[str, JSON]:
    """One JSON line of ``dlq list --json``: every header, the status and the preview."""
    origin = letter.origin
    return {
        "dlq_partition": letter.dlq_partition,
        "dlq_offset": letter.dlq_offset,
        "failed_at": format_iso8601_ms(letter.time_ms),
        "failed_at_ms": letter.time_ms,
        "reason": letter.reason,
        "detail": letter.detail,
        "stage": letter.stage,
        "origin_topic": None if origin is None else origin.topic,
        "origin_partition": None if origin is None else origin.partition,
        "origin_offset": None if origin is None else origin.offset,
        "correlation_id": letter.correlation_id,
        "key": None if letter.key is None else letter.key.decode("utf-8", "replace"),
        "value_bytes": len(letter.value),
        "preview": preview(letter.value),
        "retried": marker is not None and marker.state is MarkerState.DONE,
        "retry": None if marker is None else marker.state.value,
    }
