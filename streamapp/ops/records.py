"""The Kafka record as the operator commands see it: a plain value, read once at the edge.

Pure: :mod:`streamapp.ops.kafka` builds these from aiokafka's records so that everything that
filters, plans or formats works on typed values and is tested without a broker.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Record:
    """One record of a topic: coordinates, broker timestamp, key, value and headers."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()

    def header(self, name: str) -> bytes | None:
        """The value of the first header called ``name``."""
        for key, value in self.headers:
            if key == name:
                return value
        return None

    def header_text(self, name: str) -> str | None:
        """The first header called ``name`` as text (invalid UTF-8 replaced, never raises)."""
        raw = self.header(name)
        return None if raw is None else raw.decode("utf-8", "replace")

    def header_int(self, name: str) -> int | None:
        """The first header called ``name`` as an integer; ``None`` when absent or not a number."""
        raw = self.header(name)
        if raw is None:
            return None
        try:
            return int(raw)
        except ValueError:
            return None
