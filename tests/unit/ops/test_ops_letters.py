from __future__ import annotations

from dataclasses import replace

import orjson
from hypothesis import given
from hypothesis import strategies as st

from streamapp.events import Origin
from streamapp.ops.letters import (
    LetterFilter,
    chronological,
    letter_from_record,
    letter_json,
    letter_line,
    preview,
)
from streamapp.ops.markers import Marker, MarkerState
from streamapp.ops.records import Record
from tests.unit.ops.helpers import T0, dlq_record, letter


def test_a_letter_reads_every_header() -> None:
    x = letter(12, partition=3, cid="abc", key=b"k", value=b"{nope")
    assert (x.dlq_partition, x.dlq_offset, x.marker_key) == (3, 12, "3:12")
    assert (x.reason, x.stage, x.correlation_id) == ("too_large", "validate", "abc")
    assert x.origin == Origin("t1.events", 2, 7)
    assert x.failed_at_ms == T0 and x.time_ms == T0
    assert (x.key, x.value) == (b"k", b"{nope")


def test_a_foreign_record_on_the_dlq_still_parses() -> None:
    x = letter_from_record(Record("t1.events.dlq", 0, 4, T0 + 9, None, None, ()))
    assert (x.reason, x.stage, x.origin, x.correlation_id) == ("?", "?", None, "")
    assert x.time_ms == T0 + 9  # no failed-at header: the DLQ record's own time
    assert x.value == b""


def test_an_unreadable_origin_is_no_origin() -> None:
    good = dlq_record(1)
    headers = tuple(
        (k, b"x") if k == "streamapp-origin-offset" else (k, v) for k, v in good.headers
    )
    assert letter_from_record(replace(good, headers=headers)).origin is None
    assert letter_from_record(dlq_record(1, origin=None)).origin is None


def test_filter_by_reason_and_cid() -> None:
    a, b = letter(1, reason="not_json", cid="c1"), letter(2, reason="too_large", cid="c2")
    assert [x.dlq_offset for x in (a, b) if LetterFilter().matches(x)] == [1, 2]
    assert [x.dlq_offset for x in (a, b) if LetterFilter(reason="too_large").matches(x)] == [2]
    assert [x.dlq_offset for x in (a, b) if LetterFilter(correlation_id="c1").matches(x)] == [1]
    assert not LetterFilter(reason="not_json", correlation_id="c2").matches(a)


def test_letters_are_listed_in_the_order_they_failed_across_partitions() -> None:
    late = letter(0, partition=0, failed_at_ms=T0 + 50)
    early = letter(9, partition=1, failed_at_ms=T0 + 10)
    tie = letter(3, partition=0, failed_at_ms=T0 + 10)
    assert chronological([late, early, tie]) == [tie, early, late]


def test_preview_escapes_what_a_terminal_cannot_show() -> None:
    assert preview(b"") == "(empty)"
    assert preview(b'{"a":1}') == '{"a":1}'
    assert preview(b"a\nb\tc\x00\xff\xfe d") == "a\\nb\\tc\\x00\\xff\\xfe d"
    assert preview("é€😀".encode()) == "é€😀"
    assert preview("\u2028".encode()) == "\\u2028"


def test_preview_cuts_at_80_characters() -> None:
    assert preview(b"x" * 80) == "x" * 80
    assert preview(b"x" * 81) == "x" * 80 + "…"
    assert preview("é".encode() * 200) == "é" * 80 + "…"


@given(st.binary(max_size=600))
def test_preview_is_always_one_printable_line(value: bytes) -> None:
    shown = preview(value)
    assert shown.isprintable()
    assert len(shown) <= 80 * 6 + 1  # at most \uNNNN per character, plus the ellipsis


def test_a_line_has_position_time_reason_stage_origin_cid_status_preview() -> None:
    x = letter(5, partition=1, cid="c9", value=b'{"type":"track","p":"\x01"}')
    line = letter_line(x, None)
    for part in ("1:5", "2025-06-15T15:06:40.000Z", "too_large", "validate", "t1.events/2/7"):
        assert part in line
    assert "cid=c9" in line and line.endswith('{"type":"track","p":"\\x01"}')
    assert " - " in line
    done = Marker(MarkerState.DONE, "r", T0, "t1.events", 0, 3, 4)
    assert "retried" in letter_line(x, done)
    assert "retry-pending" in letter_line(x, Marker(MarkerState.PENDING, "r", T0, "t", 0, 3))


def test_json_line_has_every_field() -> None:
    x = letter(5, key=None)
    done = Marker(MarkerState.DONE, "r", T0, "t1.events", 0, 3, 4)
    obj = orjson.loads(orjson.dumps(letter_json(x, done)))
    assert obj["dlq_partition"] == 0 and obj["dlq_offset"] == 5
    assert obj["origin_topic"] == "t1.events" and obj["origin_offset"] == 7
    assert obj["key"] is None and obj["value_bytes"] == len(x.value)
    assert obj["retried"] is True and obj["retry"] == "done"
    assert obj["failed_at_ms"] == T0 and obj["failed_at"].endswith("Z")
