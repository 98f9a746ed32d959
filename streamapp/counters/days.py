"""UTC days: epoch milliseconds to a day number and to the ``YYYY-MM-DD`` label counters store.

Labels of years 0001..9999 sort as strings in the same order as the days, so retention and range
queries compare labels directly. Must not read the clock: "today" is always passed in.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from typing import Final

MS_PER_DAY: Final = 86_400_000
_EPOCH_ORDINAL: Final = date(1970, 1, 1).toordinal()
_FIRST_DAY: Final = 1 - _EPOCH_ORDINAL
_LAST_DAY: Final = date.max.toordinal() - _EPOCH_ORDINAL


def day_of(time_ms: int) -> int:
    """Return the UTC day number (days since 1970-01-01) of an instant in epoch milliseconds."""
    return time_ms // MS_PER_DAY


@lru_cache(maxsize=8192)
def day_label(day: int) -> str:
    """Return the ``YYYY-MM-DD`` label of a day number (clamped to years 0001..9999)."""
    clamped = min(max(day, _FIRST_DAY), _LAST_DAY)
    return date.fromordinal(clamped + _EPOCH_ORDINAL).isoformat()


def label_day(label: str) -> int:
    """Return the day number of a ``YYYY-MM-DD`` label; raise ``ValueError`` if it is not one."""
    return date.fromisoformat(label).toordinal() - _EPOCH_ORDINAL
