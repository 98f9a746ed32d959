"""ISO-8601 parsing and formatting of Segment timestamps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamapp.ingest.timestamps import (
    EARLIEST_MS,
    LATEST_MS,
    format_iso8601_ms,
    in_supported_range,
    parse_iso8601_ms,
)

NEW_YEAR_2024_MS = 1_704_067_200_000


@pytest.mark.parametrize(
    ("text", "expected_ms"),
    [
        ("2024-01-01T00:00:00Z", NEW_YEAR_2024_MS),
        ("2024-01-01T00:00:00.000Z", NEW_YEAR_2024_MS),
        ("2024-01-01T00:00:00.5Z", NEW_YEAR_2024_MS + 500),
        ("2024-01-01T00:00:00.123456789Z", NEW_YEAR_2024_MS + 123),
        ("2024-01-01T00:00:00,250Z", NEW_YEAR_2024_MS + 250),
        ("2024-01-01T00:00:00z", NEW_YEAR_2024_MS),
        ("2024-01-01t00:00:00Z", NEW_YEAR_2024_MS),
        ("2024-01-01 00:00:00Z", NEW_YEAR_2024_MS),
        ("2024-01-01T00:00Z", NEW_YEAR_2024_MS),
        ("2024-01-01T00:00:00", NEW_YEAR_2024_MS),  # naive means UTC
        ("2024-01-01T01:00:00+01:00", NEW_YEAR_2024_MS),
        ("2024-01-01T01:00:00+0100", NEW_YEAR_2024_MS),
        ("2024-01-01T01:00:00+01", NEW_YEAR_2024_MS),
        ("2023-12-31T19:30:00-04:30", NEW_YEAR_2024_MS),
        ("2024-01-01T00:00:00.123456+00:00", NEW_YEAR_2024_MS + 123),  # analytics-python
        ("1970-01-01T00:00:00Z", 0),
        ("2024-02-29T00:00:00Z", NEW_YEAR_2024_MS + 59 * 86_400_000),
    ],
)
def test_parses_the_forms_segment_libraries_send(text: str, expected_ms: int) -> None:
    assert parse_iso8601_ms(text) == expected_ms


@pytest.mark.parametrize(
    "text",
    [
        "",
        "yesterday",
        "2024-01-01",  # date only: would silently be midnight
        "20240101T000000Z",  # compact form
        "2024-W01-1T00:00:00Z",
        "2024-13-01T00:00:00Z",
        "2024-02-30T00:00:00Z",
        "2023-02-29T00:00:00Z",
        "2024-01-01T24:00:00Z",
        "2024-01-01T00:60:00Z",
        "2024-01-01T23:59:60Z",  # leap seconds are not representable
        "2024-01-01T00:00:00+24:00",
        "2024-01-01T00:00:00+05:60",
        "2024-01-01T00:00:00ZZ",
        "2024-01-01T00:00:00.Z",
        " 2024-01-01T00:00:00Z",
        "2024-01-01T00:00:00Z\n",
        "٢٠٢٤-01-01T00:00:00Z",  # non-ASCII digits
        "1700000000",
        # The canonical form streamapp writes is read by a faster path: it refuses the same.
        "2023-02-29T10:00:00.000Z",
        "2024-01-01T24:00:00.000Z",
        "2024-01-01T23:60:00.000Z",
        "2024-01-01T23:59:60.000Z",
        "٢٠٢٤-01-01T00:00:00.000Z",
    ],
)
def test_refuses_what_is_not_an_iso8601_date_time(text: str) -> None:
    with pytest.raises(ValueError):
        parse_iso8601_ms(text)


def test_formats_milliseconds_in_utc_with_z() -> None:
    assert format_iso8601_ms(NEW_YEAR_2024_MS + 7) == "2024-01-01T00:00:00.007Z"
    assert format_iso8601_ms(0) == "1970-01-01T00:00:00.000Z"
    assert format_iso8601_ms(LATEST_MS - 1) == "2200-12-31T23:59:59.999Z"


def test_supported_range_is_years_1970_to_2200() -> None:
    assert in_supported_range(EARLIEST_MS)
    assert not in_supported_range(EARLIEST_MS - 1)
    assert in_supported_range(parse_iso8601_ms("2200-12-31T23:59:59.999Z"))
    assert not in_supported_range(parse_iso8601_ms("2201-01-01T00:00:00Z"))


@settings(max_examples=500)
@given(st.integers(min_value=EARLIEST_MS, max_value=LATEST_MS - 1))
def test_format_then_parse_is_the_identity(ms: int) -> None:
    assert parse_iso8601_ms(format_iso8601_ms(ms)) == ms


def test_the_per_second_caches_agree_with_datetime_across_a_refill() -> None:
    """Many events share a second; past the cache's size it empties and refills, still exact."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    start = 1_700_000_000_000
    for ms in [*range(start, start + 3_000, 7), *range(start, start + 6_000_000, 997)]:
        text = (epoch + timedelta(milliseconds=ms)).isoformat(timespec="milliseconds")
        expected = text.replace("+00:00", "Z")
        assert format_iso8601_ms(ms) == expected
        assert parse_iso8601_ms(expected) == ms
