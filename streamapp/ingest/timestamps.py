"""ISO-8601 date-times <-> epoch milliseconds, as Segment events carry them.

Used by :mod:`streamapp.ingest.validate` to read ``timestamp``, ``sentAt``, ``originalTimestamp``
and ``receivedAt`` and to write the normalised ones back. We parse with our own strict pattern
instead of :meth:`datetime.fromisoformat`, which since Python 3.11 also accepts date-only, week
and compact forms that no Segment library sends and that would silently become midnight.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Final

EARLIEST_MS: Final = 0
"""The first supported instant, 1970-01-01T00:00:00Z (inclusive)."""

LATEST_MS: Final = 7289654400000
"""The end of the supported range, 2201-01-01T00:00:00Z (exclusive): years 1970..2200."""

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_NAIVE_EPOCH: Final = datetime(1970, 1, 1)
_ONE_MS: Final = timedelta(milliseconds=1)

_CACHED_SECONDS: Final = 4096
_SECONDS: dict[str, int] = {}
"""``YYYY-MM-DDTHH:MM:SS`` -> epoch ms of that second, for the canonical form: events of one batch
share few seconds, and the datetime arithmetic was most of a parse. Emptied when full (a plain
dict of str and int, which the garbage collector does not walk)."""
_PREFIXES: dict[int, str] = {}
"""Epoch second -> ``YYYY-MM-DDTHH:MM:SS``, the same idea for :func:`format_iso8601_ms`."""

_ISO8601: Final = re.compile(
    r"(?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2})"
    r"[Tt ](?P<hour>\d{2}):(?P<minute>\d{2})"
    r"(?::(?P<second>\d{2})(?:[.,](?P<fraction>\d+))?)?"
    r"(?P<zone>[Zz]|[+-]\d{2}(?::?\d{2})?)?",
    re.ASCII,
)

_CANONICAL: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z")
"""The one form streamapp writes (:func:`format_iso8601_ms`), so every internal record has it.

For exactly this form :meth:`datetime.fromisoformat` gives the same instant as the strict parse
below, about eight times faster (0.4 against 3.2 µs); every later stage reads two per event.
"""


def parse_iso8601_ms(text: str) -> int:
    """Parse an ISO-8601 / RFC 3339 date-time into epoch milliseconds (UTC).

    Accepts ``Z`` or a ``±HH:MM`` / ``±HHMM`` / ``±HH`` offset, optional seconds and any number of
    fractional digits (truncated to milliseconds). A date-time without an offset is UTC, as
    Segment's API treats it.

    Raises:
        ValueError: ``text`` is not such a date-time or names a day or time that does not exist.

    """
    if _CANONICAL.fullmatch(text) is not None:
        second = text[:19]
        found = _SECONDS.get(second)
        if found is None:
            if len(_SECONDS) >= _CACHED_SECONDS:
                _SECONDS.clear()
            found = _SECONDS[second] = (datetime.fromisoformat(second) - _NAIVE_EPOCH) // _ONE_MS
        return found + int(text[20:23])
    match = _ISO8601.fullmatch(text)
    if match is None:
        raise ValueError(f"not an ISO-8601 date-time: {text[:64]!r}")
    parts = match.groupdict()
    moment = datetime(
        int(parts["year"]),
        int(parts["month"]),
        int(parts["day"]),
        int(parts["hour"]),
        int(parts["minute"]),
        int(parts["second"] or 0),
        tzinfo=_zone(parts["zone"]),
    )
    fraction_ms = int((parts["fraction"] or "0")[:3].ljust(3, "0"))
    return (moment - _EPOCH) // _ONE_MS + fraction_ms


def format_iso8601_ms(ms: int) -> str:
    """Format epoch milliseconds as ``YYYY-MM-DDTHH:MM:SS.mmmZ``, the form Segment emits.

    Raises:
        OverflowError: ``ms`` lies outside the years :class:`datetime` can represent (1..9999).

    """
    second, millis = divmod(ms, 1000)
    prefix = _PREFIXES.get(second)
    if prefix is None:
        if len(_PREFIXES) >= _CACHED_SECONDS:
            _PREFIXES.clear()
        moment = _NAIVE_EPOCH + timedelta(seconds=second)
        prefix = _PREFIXES[second] = moment.isoformat(timespec="seconds")
    return f"{prefix}.{millis:03d}Z"


def in_supported_range(ms: int) -> bool:
    """Whether ``ms`` falls in years 1970..2200, the only event times streamapp accepts."""
    return EARLIEST_MS <= ms < LATEST_MS


def _zone(text: str | None) -> timezone:
    """The fixed offset of a zone designator; none means UTC."""
    if text is None or text in ("Z", "z"):
        return UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:] or 0)
    if hours > 23 or minutes > 59:
        raise ValueError(f"offset out of range: {text!r}")
    return timezone(sign * timedelta(hours=hours, minutes=minutes))
