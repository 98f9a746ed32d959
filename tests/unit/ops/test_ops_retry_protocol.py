"""The once protocol of `dlq retry` on an in-memory broker: a crash at every send, two runs at once.

Whatever happens, once runs complete every chosen letter has exactly one copy on its destination
(its bytes, its key, the retry-of header) and a done marker.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from streamapp.ops.markers import MarkerState, read_markers
from streamapp.ops.retry import retry_with
from streamapp.ops.retry_plan import IN_DOUBT_AFTER_MS, Selector, Skip
from streamapp.topics import Header
from tests.unit.ops.helpers import NAMES, T0, dlq_record
from tests.unit.ops.memory_kafka import Crash, MemoryKafka

LETTERS = 4
SELECT = Selector(reason="too_large")


class Clock:
    def __init__(self) -> None:
        self.now_ms = T0 + 3_600_000

    def __call__(self) -> int:
        return self.now_ms

    def later(self) -> None:
        self.now_ms += IN_DOUBT_AFTER_MS


def broker() -> MemoryKafka:
    kafka = MemoryKafka(
        {NAMES.events: 4, NAMES.events_dlq: 2, NAMES.dlq_retries: 1, NAMES.events_identify: 4}
    )
    for n in range(LETTERS):
        record = dlq_record(
            n // 2,
            partition=n % 2,
            key=f"user-{n}".encode() if n != 3 else None,
            value=f'{{"n":{n}}}'.encode(),
            cid=f"cid-{n}",
        )
        kafka.append(NAMES.events_dlq, record.partition, record.key, record.value, record.headers)
    kafka.append(NAMES.events_dlq, 0, b"k", b"{nope", dlq_record(9, reason="not_json").headers)
    return kafka


def assert_once(kafka: MemoryKafka) -> None:
    """Every too_large letter has exactly one copy and a done marker pointing at it."""
    copies = [r for r in kafka.records(NAMES.events) if r.header(Header.RETRY_OF)]
    by_letter = Counter(r.header_text(Header.RETRY_OF) for r in copies)
    letters = {f"{n % 2}:{n // 2}": n for n in range(LETTERS)}
    assert by_letter == Counter(letters.keys()), by_letter
    markers = read_markers(kafka.records(NAMES.dlq_retries))
    for copy in copies:
        n = letters[copy.header_text(Header.RETRY_OF) or ""]
        assert copy.value == f'{{"n":{n}}}'.encode()
        assert copy.key == (f"user-{n}".encode() if n != 3 else None)
        assert copy.header_text(Header.CORRELATION_ID) == f"cid-{n}"
        marker = markers.get(copy.header_text(Header.RETRY_OF) or "")
        assert marker is not None and marker.state is MarkerState.DONE
        assert (marker.topic, marker.partition, marker.offset) == (
            copy.topic,
            copy.partition,
            copy.offset,
        )


async def test_a_run_sends_each_letter_once_and_a_second_run_nothing() -> None:
    kafka, clock = broker(), Clock()
    first = await retry_with(kafka, NAMES, SELECT, since_ms=None, clock=clock)
    assert (len(first.sent), first.already, first.skipped) == (LETTERS, 0, ())
    assert_once(kafka)
    second = await retry_with(kafka, NAMES, SELECT, since_ms=None, clock=clock)
    assert (len(second.sent), second.already) == (0, LETTERS)
    assert_once(kafka)


def test_a_keyless_copy_goes_to_its_origin_partition() -> None:
    kafka = broker()
    asyncio.run(retry_with(kafka, NAMES, SELECT, since_ms=None, clock=Clock()))
    (keyless,) = [r for r in kafka.records(NAMES.events) if r.key is None]
    assert keyless.partition == 2  # the origin partition the helper writes


# 4 pending markers, 4 copies, 4 done markers: 12 sends; crash at each, appended or not.
@pytest.mark.parametrize("appended", [True, False])
@pytest.mark.parametrize("crash_at", range(1, 3 * LETTERS + 1))
async def test_a_crash_at_any_send_neither_loses_nor_duplicates(
    crash_at: int, appended: bool
) -> None:
    kafka, clock = broker(), Clock()
    kafka.crash_at, kafka.appended_on_crash = crash_at, appended
    with pytest.raises(Crash):
        await retry_with(kafka, NAMES, SELECT, since_ms=None, clock=clock)
    kafka.crash_at = None
    soon = await retry_with(kafka, NAMES, SELECT, since_ms=None, clock=clock)
    if crash_at > 1 or appended:  # a pending marker is there: a run under a minute leaves it
        assert {why for _, why in soon.skipped} <= {Skip.IN_PROGRESS}
    clock.later()
    await retry_with(kafka, NAMES, SELECT, since_ms=None, clock=clock)
    assert_once(kafka)


async def test_two_runs_at_once_send_each_letter_once() -> None:
    kafka, clock = broker(), Clock()
    a, b = await asyncio.gather(
        retry_with(kafka, NAMES, SELECT, since_ms=None, clock=clock),
        retry_with(kafka, NAMES, SELECT, since_ms=None, clock=clock),
    )
    assert len(a.sent) + len(b.sent) == LETTERS
    assert len(a.skipped) + len(b.skipped) == LETTERS  # the loser says another run holds them
    assert_once(kafka)


async def test_a_crashed_run_resumed_by_two_runs_at_once_still_sends_once() -> None:
    kafka, clock = broker(), Clock()
    kafka.crash_at = LETTERS + 2  # pending markers written, two copies sent, then dead
    with pytest.raises(Crash):
        await retry_with(kafka, NAMES, SELECT, since_ms=None, clock=clock)
    kafka.crash_at = None
    clock.later()
    a, b = await asyncio.gather(
        retry_with(kafka, NAMES, SELECT, since_ms=None, clock=clock),
        retry_with(kafka, NAMES, SELECT, since_ms=None, clock=clock),
    )
    assert len(a.sent) + len(b.sent) == 2 and len(a.found) + len(b.found) == 2
    assert_once(kafka)
