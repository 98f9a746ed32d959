"""Which dead letters ``dlq retry`` re-drives, to which topic, and what it tells the operator.

Pure: given the letters, the latest retry markers and the selection, :func:`plan_retry` sorts each
chosen letter into *send*, *already retried* or *skipped (why)*; :func:`report_lines` prints the
outcome. The protocol that carries a plan out exactly once is in :mod:`streamapp.ops.retry`.

Where a letter may go (:func:`destination`):

* origin ``events`` (validate refused the raw record): back to ``events``, the same bytes;
* origin ``events.identify`` (identify refused it; nothing downstream saw it): back there;
* origin ``events.identified`` (profiles refused it): skipped, because the windows stage reads
  that topic too and already counted the record; a copy would be counted twice;
* reason ``late`` (windows refused it; the value is the normalised event body, which profiles and
  counters already applied): only with ``--reason late``, and to ``events``, where identify's
  messageId dedupe recognises it; re-sent to its origin (``events.identified``) profiles would
  apply it a second time;
* any other origin (another deployment's topic, or none): skipped.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Final, NamedTuple

from streamapp.events import Reason
from streamapp.ops.letters import Letter, chronological
from streamapp.ops.markers import Marker, MarkerLog, MarkerState
from streamapp.topics import TopicNames

IN_DOUBT_AFTER_MS: Final = 60_000
"""A pending marker younger than this may belong to a run still under way (or a copy the broker
has appended but not yet replicated: acks=all waits up to ``replica.lag.time.max.ms``, 30 s by
default), so it is left alone; an older one belongs to a run that was interrupted."""

LATE: Final = Reason.LATE.value


class Skip(StrEnum):
    """Why a chosen letter is not re-driven (the value is what the operator reads)."""

    LATE = (
        "late letters carry the event body (already counted in profiles and counters), not raw "
        "input; re-sent they would be late again. Pass --reason late to re-drive them anyway"
    )
    NO_ORIGIN = "the letter names no origin topic"
    FOREIGN = "its origin topic is not this deployment's events or events.identify topic"
    IDENTIFIED = (
        "its origin is events.identified, which the windows stage reads too: a copy would be "
        "counted there a second time"
    )
    IN_PROGRESS = "another retry run holds it (pending marker under 60 s old): run again later"
    UNREADABLE = "its retry marker is unreadable; delete it (tombstone) to allow a retry"


@dataclass(frozen=True, slots=True)
class Selector:
    """Which letters ``dlq retry`` considers: one reason, one correlation id, chosen ones, or all.

    ``letters`` (``<dlq partition>:<dlq offset>`` keys) is what the operator UI sends for "retry
    this one" and "retry selected".
    """

    reason: str | None = None
    correlation_id: str | None = None
    everything: bool = False
    letters: frozenset[str] | None = None

    @classmethod
    def from_options(
        cls, *, reason: str | None, correlation_id: str | None, everything: bool
    ) -> Selector:
        """The selector of exactly one of ``--reason``, ``--cid`` and ``--all``.

        Raises:
            ValueError: none or several were given (re-driving is not a default).

        """
        given = [reason is not None, correlation_id is not None, everything]
        if sum(given) != 1:
            raise ValueError("choose the letters with exactly one of --reason, --cid or --all")
        return cls(reason, correlation_id, everything)

    @classmethod
    def of_letters(cls, keys: Iterable[str]) -> Selector:
        """The selector of exactly these letters (by marker key)."""
        return cls(letters=frozenset(keys))

    def chooses(self, letter: Letter) -> bool:
        """Whether ``letter`` is selected."""
        if self.letters is not None:
            return letter.marker_key in self.letters
        if self.reason is not None:
            return letter.reason == self.reason
        if self.correlation_id is not None:
            return letter.correlation_id == self.correlation_id
        return self.everything

    @property
    def late_asked(self) -> bool:
        """Late letters are re-driven only when asked for by name."""
        return self.reason == LATE


def destination(letter: Letter, names: TopicNames, *, late_asked: bool) -> str | Skip:
    """The topic a letter's copy goes to, or why it goes nowhere (rules in the module docstring)."""
    if letter.reason == LATE:
        return names.events if late_asked else Skip.LATE
    if letter.origin is None:
        return Skip.NO_ORIGIN
    if letter.origin.topic in (names.events, names.events_identify):
        return letter.origin.topic
    if letter.origin.topic == names.events_identified:
        return Skip.IDENTIFIED
    return Skip.FOREIGN


@dataclass(frozen=True, slots=True)
class Planned:
    """A letter to re-drive to ``topic``; ``previous`` is an interrupted run's pending marker."""

    letter: Letter
    topic: str
    previous: Marker | None = None


@dataclass(frozen=True, slots=True)
class Plan:
    """Every chosen letter, sorted: to send, already retried, or skipped with the reason."""

    send: tuple[Planned, ...]
    already: tuple[Letter, ...]
    skipped: tuple[tuple[Letter, Skip], ...]


def plan_retry(
    letters: Iterable[Letter],
    markers: MarkerLog,
    selector: Selector,
    names: TopicNames,
    *,
    now_ms: int,
) -> Plan:
    """Sort the letters ``selector`` chooses, in the order they were refused."""
    send: list[Planned] = []
    already: list[Letter] = []
    skipped: list[tuple[Letter, Skip]] = []
    for letter in chronological(x for x in letters if selector.chooses(x)):
        marker = markers.get(letter.marker_key)
        if letter.marker_key in markers.unreadable:
            skipped.append((letter, Skip.UNREADABLE))
        elif marker is not None and marker.state is MarkerState.DONE:
            already.append(letter)
        elif marker is not None:  # pending: an earlier run may have sent a copy
            if now_ms - marker.at_ms < IN_DOUBT_AFTER_MS:
                skipped.append((letter, Skip.IN_PROGRESS))
            else:
                send.append(Planned(letter, marker.topic, marker))
        else:
            target = destination(letter, names, late_asked=selector.late_asked)
            if isinstance(target, Skip):
                skipped.append((letter, target))
            else:
                send.append(Planned(letter, target))
    return Plan(tuple(send), tuple(already), tuple(skipped))


class Copy(NamedTuple):
    """Where the copy of a letter is: sent by this run, or found sent by an interrupted one."""

    letter: Letter
    topic: str
    partition: int
    offset: int


@dataclass(frozen=True, slots=True)
class RetryReport:
    """What one ``dlq retry`` run did."""

    sent: tuple[Copy, ...]
    found: tuple[Copy, ...]
    """Copies an interrupted run had sent: now marked done, not sent again."""
    already: int
    skipped: tuple[tuple[Letter, Skip], ...]


def report_lines(report: RetryReport, *, events_topic: str) -> list[str]:
    """The output of ``dlq retry``: a line per copy, a line per kind of skip, then the counts."""
    lines = [_copy_line("sent ", c) for c in report.sent]
    lines += [_copy_line("found", c) + "  (sent by an interrupted run)" for c in report.found]
    by_why = Counter(why for _, why in report.skipped)
    for why, count in sorted(by_why.items(), key=lambda item: item[0].name):
        keys = [x.marker_key for x, w in report.skipped if w is why]
        shown = ", ".join(keys[:5]) + (", …" if len(keys) > 5 else "")
        lines.append(f"skipped {count} ({shown}): {why.value}")
    late = sum(1 for c in report.sent if c.letter.reason == LATE)
    if late:
        lines.append(
            f"note: {late} late letters went to {events_topic}; identify drops each as a duplicate "
            "while it remembers the messageId, and the windows they missed stay closed"
        )
    already = report.already + len(report.found)
    summary = (
        f"retry: {len(report.sent)} sent, {already} already retried, {len(report.skipped)} skipped"
    )
    if report.found:
        summary += f" ({len(report.found)} completed from an interrupted run)"
    return [*lines, summary]


def _copy_line(verb: str, copy: Copy) -> str:
    letter = copy.letter
    return (
        f"{verb} {letter.marker_key:<9} -> {copy.topic}/{copy.partition}/{copy.offset}  "
        f"{letter.reason}  cid={letter.correlation_id or '-'}"
    )
