"""One event's path through the stages, from its trace lines and dead letters.

Trace lines (:mod:`streamapp.observability.trace`) are JSON records keyed by correlation id: one
per stage the event went through (validate, identify, profiles), with the stage's detail: how it
was accepted or why refused, whom identify made of it, which user's state profiles changed. Dead
letters with the same correlation id say where the event was set aside. Pure: the edge
(:mod:`streamapp.ops.trace`) reads the records; this module orders and describes them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import orjson

from streamapp.events import JSON
from streamapp.ingest.timestamps import format_iso8601_ms
from streamapp.ops.letters import Letter, origin_text
from streamapp.ops.markers import Marker, MarkerLog, MarkerState
from streamapp.ops.records import Record

DEAD_LETTER: Final = "dlq"
RETRY: Final = "retry"
_RANK: Final = {RETRY: -1, "validate": 0, "identify": 1, "profiles": 2, DEAD_LETTER: 8}
"""Stage order in the dataflow: breaks ties between lines written in the same millisecond (a
copy is sent before validate reads it; a letter is written after its stage's line)."""
_OTHER_RANK: Final = 3


@dataclass(frozen=True, slots=True)
class Step:
    """One line of an event's path."""

    at_ms: int
    stage: str
    topic: str
    processing_s: float | None
    host: str
    summary: str
    rank: int


def step_from_trace(record: Record, correlation_id: str) -> Step | None:
    """The step a trace record describes; ``None`` for another event's line or an unreadable one."""
    try:
        line = orjson.loads(record.value or b"")
    except orjson.JSONDecodeError:
        return None
    if not isinstance(line, dict) or line.get("correlation_id") != correlation_id:
        return None
    stage, topic, host = (_text(line.get(k)) for k in ("stage", "topic", "host"))
    detail = line.get("detail")
    processed = line.get("processed_at_ms")
    seconds = line.get("processing_s")
    return Step(
        at_ms=processed if isinstance(processed, int) else record.timestamp_ms,
        stage=stage,
        topic=topic,
        processing_s=float(seconds) if isinstance(seconds, int | float) else None,
        host=host,
        summary=describe(stage, detail if isinstance(detail, dict) else {}, host),
        rank=_RANK.get(stage, _OTHER_RANK),
    )


def _text(value: JSON) -> str:
    return value if isinstance(value, str) else "?"


def describe(stage: str, detail: Mapping[str, JSON], host: str) -> str:
    """What a stage did with the event, in words, from its trace line's detail."""
    if "rejected" in detail:
        return f"rejected {detail['rejected']}: {detail.get('why', '')}"
    if "identified_as" in detail:
        return _identified(detail)
    if "user" in detail:
        return _applied(detail)
    if not detail:
        return f"accepted on {host}" if stage == "validate" else f"processed on {host}"
    return orjson.dumps(dict(detail)).decode()


def _identified(detail: Mapping[str, JSON]) -> str:
    ids = detail.get("identified_as")
    names = ", ".join(str(i) for i in ids) if isinstance(ids, list) else ""
    outcome = detail.get("outcome", "?")
    where = f"partition {detail.get('partition', '?')} offset {detail.get('offset', '?')}"
    if not names:
        return f"{outcome}: not forwarded ({where})"
    return f"identified as {names} ({outcome}; {where})"


def _applied(detail: Mapping[str, JSON]) -> str:
    outcome, user, kind = detail.get("outcome", "?"), detail.get("user", "?"), detail.get("kind")
    text = f"applied to user {user}" if outcome == "applied" else f"{outcome} for user {user}"
    if kind not in (None, "event"):
        text += f" ({kind})"
    sent_to = detail.get("sent_to")
    if isinstance(sent_to, list) and sent_to:
        text += "; sent to " + ", ".join(str(k) for k in sent_to)
    return text


def step_from_letter(letter: Letter, markers: MarkerLog, dlq_topic: str) -> Step:
    """The step of a dead letter: why and where it was set aside, and whether it was retried."""
    marker = markers.get(letter.marker_key)
    if marker is None:
        retried = "not retried"
    else:
        retried = "retried" if marker.state is MarkerState.DONE else "retry pending"
    summary = (
        f"dead-lettered {letter.reason} by {letter.stage}: {letter.detail}; "
        f"origin {origin_text(letter.origin)}; letter {letter.marker_key}, {retried}"
    )
    return Step(letter.time_ms, DEAD_LETTER, dlq_topic, None, "", summary, _RANK[DEAD_LETTER])


def copy_correlation_id(value: bytes | None) -> str | None:
    """The correlation id validate gives a copy it accepts: the Segment ``messageId``, if any."""
    try:
        obj = orjson.loads(value or b"")
    except orjson.JSONDecodeError:
        return None
    message_id = obj.get("messageId") if isinstance(obj, dict) else None
    return message_id if isinstance(message_id, str) and message_id else None


def step_from_retry(
    letter: Letter, marker: Marker, follows_as: str | None, *, sent_at_ms: int
) -> Step:
    """The step of a retried letter: where its copy went, and under which id its path goes on.

    ``sent_at_ms`` is the copy's record timestamp (the marker is written after the copy, so its
    time may follow the copy's first trace line).
    """
    where = f"{marker.topic}/{marker.partition}/{marker.offset}"
    summary = f"letter {letter.marker_key} re-sent by dlq retry to {where}"
    if follows_as is not None:
        summary += f"; its path goes on as correlation id {follows_as}"
    return Step(sent_at_ms, RETRY, marker.topic, None, "", summary, _RANK[RETRY])


def path_of(
    correlation_id: str,
    traces: Iterable[Record],
    letters: Iterable[Letter],
    markers: MarkerLog,
    dlq_topic: str,
) -> list[Step]:
    """Every step of the event, ordered by processed time (stage order within a millisecond)."""
    steps = [s for s in (step_from_trace(r, correlation_id) for r in traces) if s is not None]
    steps += [
        step_from_letter(x, markers, dlq_topic)
        for x in letters
        if x.correlation_id == correlation_id
    ]
    return ordered(steps)


def ordered(steps: Iterable[Step]) -> list[Step]:
    """Steps by processed time; within one millisecond, in dataflow order."""
    return sorted(steps, key=lambda s: (s.at_ms, s.rank))


def path_lines(steps: Sequence[Step]) -> list[str]:
    """The printed path, one line per step: time, stage, topic, processing seconds, what happened.

    Columns are as wide as their widest value, so a long topic prefix keeps them aligned.
    """
    topic_width = max((len(s.topic) for s in steps), default=0)
    return [_line(s, topic_width) for s in steps]


def _line(step: Step, topic_width: int) -> str:
    seconds = "-" if step.processing_s is None else f"{step.processing_s:.6f}s"
    return "  ".join(
        (
            format_iso8601_ms(step.at_ms),
            f"{step.stage:<9}",
            f"{step.topic:<{topic_width}}",
            f"{seconds:>10}",
            step.summary,
        )
    )
