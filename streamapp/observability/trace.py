"""Trace lines: one JSON record per event per stage on the traces topic, keyed by correlation id.

Sampling is decided from the correlation id alone (a stable hash), so every stage traces the same
events and a sampled event's whole path can be printed. Rejected records are always traced.
Pure: the edge sends what :func:`trace_line` builds.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping

import orjson

from streamapp.events import JSON

_BUCKETS = 10_000


def sampled(correlation_id: str, rate: float) -> bool:
    """Whether this event is traced at sampling ``rate`` (0..1), the same answer in every stage."""
    if rate <= 0.0:
        return False
    if rate >= 1.0:
        return True
    bucket = zlib.crc32(correlation_id.encode("utf-8", "replace")) % _BUCKETS
    return bucket < rate * _BUCKETS


def trace_line(
    *,
    correlation_id: str,
    topic: str,
    stage: str,
    processing_s: float,
    occurred_at_ms: int | None,
    processed_at_ms: int,
    host: str,
    detail: Mapping[str, JSON] | None = None,
) -> bytes:
    """One trace record's value (JSON)."""
    line: dict[str, JSON] = {
        "correlation_id": correlation_id,
        "topic": topic,
        "stage": stage,
        "processing_s": round(processing_s, 6),
        "occurred_at_ms": occurred_at_ms,
        "processed_at_ms": processed_at_ms,
        "host": host,
    }
    if detail:
        line["detail"] = dict(detail)
    return orjson.dumps(line)
