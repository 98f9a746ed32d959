from __future__ import annotations

import pytest

from streamapp.ops.since import parse_since

NOW = 1_750_000_000_000


@pytest.mark.parametrize(
    ("text", "back_ms"),
    [
        ("90s", 90_000),
        ("15m", 900_000),
        ("1h", 3_600_000),
        ("2d", 172_800_000),
        ("1w", 604_800_000),
    ],
)
def test_a_span_counts_back_from_now(text: str, back_ms: int) -> None:
    assert parse_since(text, now_ms=NOW) == NOW - back_ms


def test_iso_date_times_and_dates_are_utc() -> None:
    assert parse_since("2025-03-01T12:00:00Z", now_ms=NOW) == 1_740_830_400_000
    assert parse_since("2025-03-01T13:00:00+01:00", now_ms=NOW) == 1_740_830_400_000
    assert parse_since("2025-03-01", now_ms=NOW) == 1_740_787_200_000


@pytest.mark.parametrize("text", ["yesterday", "1y", "-1h", "", "2025-13-01"])
def test_anything_else_is_refused_saying_what_is_accepted(text: str) -> None:
    with pytest.raises(ValueError, match="span back from now"):
        parse_since(text, now_ms=NOW)
