"""``--since``: an ISO-8601 date-time or a span back from now (``90s``, ``15m``, ``1h``, ``2d``).

Pure: "now" is an argument, so a test fixes it.
"""

from __future__ import annotations

import re
from typing import Final

from streamapp.ingest.timestamps import parse_iso8601_ms

_SPAN: Final = re.compile(r"(?P<amount>\d+)\s*(?P<unit>ms|s|m|h|d|w)", re.ASCII)
_DATE: Final = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_UNIT_MS: Final = {
    "ms": 1,
    "s": 1000,
    "m": 60_000,
    "h": 3_600_000,
    "d": 86_400_000,
    "w": 604_800_000,
}


def parse_since(text: str, *, now_ms: int) -> int:
    """Epoch milliseconds of ``text``: a span back from ``now_ms``, a date-time or a date (UTC).

    Raises:
        ValueError: ``text`` is none of these; the message says what is accepted.

    """
    text = text.strip()
    span = _SPAN.fullmatch(text)
    if span is not None:
        return now_ms - int(span["amount"]) * _UNIT_MS[span["unit"]]
    if _DATE.fullmatch(text):
        text += "T00:00:00Z"  # a bare date is midnight UTC, as Segment reads zone-less times
    try:
        return parse_iso8601_ms(text)
    except ValueError:
        raise ValueError(
            f"{text[:64]!r} is neither a span back from now (30s, 15m, 1h, 2d, 1w) "
            "nor an ISO-8601 date or date-time (2025-03-01, 2025-03-01T12:00:00Z)"
        ) from None
