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


class BatchTracer:
    """Collects the trace lines of one batch of one stage; the edge sends them after the batch.

    Processing seconds are the batch's wall time shared out per event: per-event timing would
    cost more than the work it measures.
    """

    __slots__ = ("_host", "_lines", "_rate", "_stage", "_started", "_topic")

    def __init__(self, *, stage: str, topic: str, host: str, rate: float, started: float) -> None:
        self._stage, self._topic, self._host, self._rate = stage, topic, host, rate
        self._started = started
        self._lines: list[tuple[str, int | None, Mapping[str, JSON]]] = []

    def note(
        self,
        correlation_id: str,
        occurred_at_ms: int | None,
        detail: Mapping[str, JSON],
        *,
        always: bool = False,
    ) -> None:
        """Remember a line for this event if it is sampled (or ``always``, for rejections)."""
        if always or sampled(correlation_id, self._rate):
            self._lines.append((correlation_id, occurred_at_ms, detail))

    def lines(self, *, now_ms: int, finished: float, events: int) -> list[tuple[bytes, bytes]]:
        """The (key, value) records of the noted lines."""
        per_event_s = (finished - self._started) / max(1, events)
        return [
            (
                cid.encode("utf-8", "replace"),
                trace_line(
                    correlation_id=cid,
                    topic=self._topic,
                    stage=self._stage,
                    processing_s=per_event_s,
                    occurred_at_ms=occurred,
                    processed_at_ms=now_ms,
                    host=self._host,
                    detail=detail,
                ),
            )
            for cid, occurred, detail in self._lines
        ]
