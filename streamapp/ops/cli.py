"""The bodies of ``streamapp dlq list|retry`` and ``streamapp trace``: options in, lines out.

:mod:`streamapp.commands` registers them on the Faust CLI and exits with what they return; here
they are plain coroutines over the settings and an :class:`Output`, so the option rules are in
one place. Exit status: 0 done, 1 nothing found or a broker/topic error, 2 wrong options.
Results go to stdout (one line per letter or step, pipeable); counts and errors to stderr.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import orjson
from aiokafka.errors import KafkaError

from streamapp.config import Settings
from streamapp.errors import StreamappError
from streamapp.ops import dlq, retry, trace
from streamapp.ops.letters import LetterFilter, letter_json, letter_line
from streamapp.ops.retry_plan import Selector, report_lines
from streamapp.ops.since import parse_since
from streamapp.ops.trace_path import path_lines

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2
FAILURES: Final = (StreamappError, KafkaError)
"""What ends a command with status 1 and one line: our errors and the broker's."""


@dataclass(frozen=True, slots=True)
class Output:
    """Where a command writes: results to ``out``, counts and errors to ``err``."""

    out: Callable[[str], None]
    err: Callable[[str], None]


@dataclass(frozen=True, slots=True)
class DlqOptions:
    """The options of ``streamapp dlq`` as given on the command line."""

    action: str
    reason: str | None = None
    cid: str | None = None
    everything: bool = False
    since: str | None = None
    limit: int | None = None
    as_json: bool = False


class _Usage(ValueError):
    """Options that do not fit together."""


async def dlq_command(settings: Settings, options: DlqOptions, output: Output, now_ms: int) -> int:
    """Run ``dlq list`` or ``dlq retry``; return the exit status."""
    try:
        since_ms = _since(options.since, now_ms)
        if options.action == "list":
            if options.everything:
                raise _Usage("--all chooses letters to retry; dlq list shows all by default")
            return await _list(settings, options, since_ms, output)
        if options.limit is not None or options.as_json:
            raise _Usage("--limit and --json are options of dlq list")
        selector = Selector.from_options(
            reason=options.reason, correlation_id=options.cid, everything=options.everything
        )
    except ValueError as exc:
        output.err(f"streamapp dlq {options.action}: {exc}")
        return EXIT_USAGE
    return await _retry(settings, selector, since_ms, output)


def _since(text: str | None, now_ms: int) -> int | None:
    return None if text is None else parse_since(text, now_ms=now_ms)


async def _list(settings: Settings, options: DlqOptions, since_ms: int | None, out: Output) -> int:
    chosen = LetterFilter(options.reason, options.cid)
    try:
        listing = await dlq.list_letters(settings, chosen, since_ms=since_ms, limit=options.limit)
    except FAILURES as exc:
        out.err(f"streamapp dlq list: {exc}")
        return EXIT_FAILED
    for letter in listing.letters:
        marker = listing.markers.get(letter.marker_key)
        if options.as_json:
            out.out(orjson.dumps(letter_json(letter, marker)).decode())
        else:
            out.out(letter_line(letter, marker))
    out.err(
        f"{len(listing.letters)} of {listing.matched} matching letters shown "
        f"({listing.read} read from {settings.topics.events_dlq})"
    )
    return EXIT_OK


async def _retry(settings: Settings, selector: Selector, since_ms: int | None, out: Output) -> int:
    try:
        report = await retry.retry(settings, selector, since_ms=since_ms)
    except FAILURES as exc:
        out.err(f"streamapp dlq retry: {exc}")
        return EXIT_FAILED
    for line in report_lines(report, events_topic=settings.topics.events):
        out.out(line)
    return EXIT_OK


async def trace_command(
    settings: Settings, correlation_id: str, since: str | None, output: Output, now_ms: int
) -> int:
    """Print the path of one event; exit 1 when nothing is known of it."""
    try:
        since_ms = _since(since, now_ms)
    except ValueError as exc:
        output.err(f"streamapp trace: {exc}")
        return EXIT_USAGE
    try:
        steps = await trace.trace(settings, correlation_id, since_ms=since_ms)
    except FAILURES as exc:
        output.err(f"streamapp trace: {exc}")
        return EXIT_FAILED
    names = settings.topics
    if not steps:
        output.err(
            f"streamapp trace: nothing found for correlation id {correlation_id!r} on "
            f"{names.traces} or {names.events_dlq}. Workers trace only the share of events "
            "STREAMAPP_TRACE_SAMPLE_RATE says, and every rejected one; trace lines expire after "
            "STREAMAPP_TRACE_RETENTION_MS."
        )
        return EXIT_FAILED
    output.out(f"trace {correlation_id}: {len(steps)} steps")
    for line in path_lines(steps):
        output.out(line)
    return EXIT_OK
