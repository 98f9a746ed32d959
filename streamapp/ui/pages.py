"""The operator UI's pages, rendered from plain values: overview, dead letters, trace, profiles.

Pure: :mod:`streamapp.ui.routes` gathers the data (the sampler's last sample, the workers'
``/health``, ``events.dlq`` and the retry markers, trace lines, a profile read) and these
functions turn it into HTML. Every outside string is escaped (:func:`streamapp.ui.html.esc`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import orjson

from streamapp.ingest.timestamps import format_iso8601_ms
from streamapp.observability.observed import Observed
from streamapp.ops.letters import Letter, origin_text, preview, retry_status
from streamapp.ops.markers import Marker, MarkerLog
from streamapp.ops.retry_plan import RetryReport, report_lines
from streamapp.ops.trace_path import Step
from streamapp.ui.html import esc, hidden, href, message, num, page, table

PAYLOAD_SHOWN_BYTES: Final = 64 * 1024
LIST_PREVIEW_CHARS: Final = 100


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """One worker as its ``/health`` answered (or did not)."""

    url: str
    worker_id: str | None
    assigned: Mapping[str, Sequence[int]]
    rebalancing: bool
    error: str | None = None
    recovery: Mapping[str, Any] | None = None
    """``/health``'s ``recovery``: in_progress, active_remaining, standby_remaining."""


def login(error: str | None = None) -> str:
    """The login form: the API token, posted to ``/ui/login``."""
    note = message(error, bad=True) if error else ""
    body = (
        f"{note}<p>Sign in with the API token (<code>STREAMAPP_API_TOKEN</code>).</p>"
        '<form method="post" action="/ui/login">'
        '<label>Token <input type="password" name="token" autocomplete="current-password" '
        'autofocus required></label> <button type="submit">Log in</button></form>'
    )
    return page("Log in", body, nav=False)


def _time(ms: int | None) -> str:
    return "-" if ms is None else esc(format_iso8601_ms(ms))


def overview(observed: Observed, workers: Sequence[WorkerInfo], input_topics: Sequence[str]) -> str:
    """Rates per stage, lag per partition (with its owner), workers, recovery."""
    owner: dict[tuple[str, int], str] = {}
    for w in workers:
        for topic, owned_parts in w.assigned.items():
            for p in owned_parts:
                owner[(topic, p)] = w.worker_id or w.url
    sampled = (
        "not sampled yet (the first sample comes a few seconds after start)"
        if observed.sampled_at_ms is None
        else f"sampled at {format_iso8601_ms(observed.sampled_at_ms)}"
    )
    parts = [f'<p class="muted" id="sampled">{esc(sampled)}</p>', "<h2>Rate per stage</h2>"]
    rates = [
        (esc(stage), num(observed.stage_rates.get(stage, 0.0)), num(int(total)))
        for stage, total in sorted(observed.stage_totals.items())
    ]
    parts.append(
        table(("stage", "events/s (last interval)", "events since start"), rates)
        if rates
        else "<p>No stage has handled an event on this worker yet.</p>"
    )
    parts.append("<h2>Consumer lag per partition</h2>")
    if observed.lag_error:
        parts.append(message(f"reading lag failed: {observed.lag_error}", bad=True))
    total = sum(row.lag for row in observed.lag)
    parts.append(f'<p>Total lag: <strong id="total-lag">{total:,}</strong> records</p>')
    lag_rows = [
        (
            esc(row.topic),
            num(row.partition),
            "-" if row.committed is None else num(row.committed),
            num(row.end),
            num(row.lag),
            esc(owner.get((row.topic, row.partition), "?")),
        )
        for row in observed.lag
        if row.topic in input_topics
    ]
    parts.append(
        table(("topic", "partition", "committed", "end", "lag", "owner"), lag_rows, cls="lag")
    )
    parts.append("<h2>Workers</h2>")
    worker_rows = []
    for w in workers:
        owned = "; ".join(
            f"{esc(t)}: {esc(', '.join(str(p) for p in sorted(ps)))}"
            for t, ps in sorted(w.assigned.items())
            if t in input_topics
        )
        state = (
            f'<span class="bad">{esc(w.error)}</span>'
            if w.error
            else ("rebalancing" if w.rebalancing else '<span class="ok">ok</span>')
        )
        worker_rows.append(
            (esc(w.worker_id or "?"), esc(w.url), state, _recovery_text(w.recovery), owned or "-")
        )
    parts.append(
        table(("worker", "url", "state", "recovery", "input partitions owned"), worker_rows)
    )
    parts.append("<h2>Recovery and tables (this worker)</h2>")
    rec = observed.recovery
    if rec is None:
        parts.append("<p>Not sampled yet.</p>")
    else:
        state = "recovering" if rec.in_progress else "up to date"
        parts.append(
            f"<p>Tables {esc(state)}: {rec.active_remaining:,} active and "
            f"{rec.standby_remaining:,} standby changelog records left to read.</p>"
        )
        if rec.remaining_by_partition:
            rows = [(esc(t), num(p), num(n)) for t, p, n in rec.remaining_by_partition]
            parts.append(table(("changelog", "partition", "records left"), rows))
    keys = [(esc(name), num(n)) for name, n in sorted(observed.table_keys.items())]
    if keys:
        parts.append(table(("table", "keys (RocksDB estimate, this worker)"), keys))
    return page("Overview", "".join(parts))


def _recovery_text(recovery: Mapping[str, Any] | None) -> str:
    if not recovery:
        return "-"
    active, standby = recovery.get("active_remaining"), recovery.get("standby_remaining")
    state = "recovering" if recovery.get("in_progress") else "up to date"
    return esc(f"{state}; {active} active, {standby} standby records left")


def _status(marker: Marker | None) -> str:
    status = retry_status(marker)
    return f'<span class="ok">{status}</span>' if status == "retried" else esc(status)


def letter_link(letter: Letter) -> str:
    """The path of a letter's page."""
    return f"/ui/dlq/{letter.dlq_partition}/{letter.dlq_offset}"


def dead_letters(
    letters: Sequence[Letter],
    markers: MarkerLog,
    *,
    reason: str | None,
    since: str | None,
    all_reasons: Counter[str],
    shown_limit: int,
    note: str | None = None,
) -> str:
    """The dead-letter browser: filters, the letters (with checkboxes), and the retry buttons."""
    parts = [message(note, bad=True)] if note else []
    reason_links = " · ".join(
        f'<a href="{href("/ui/dlq", reason=r, since=since)}">{esc(r)}</a> ({n})'
        for r, n in sorted(all_reasons.items())
    )
    parts.append(
        '<form method="get" action="/ui/dlq">'
        f'<label>Reason <input name="reason" value="{esc(reason or "")}"></label> '
        f'<label>Since <input name="since" value="{esc(since or "")}" '
        'placeholder="1h, 2d or 2025-03-01T12:00:00Z"></label> '
        '<button type="submit">Filter</button> <a href="/ui/dlq">clear</a></form>'
        f"<p>Reasons: {reason_links or 'none'}</p>"
    )
    if reason:
        parts.append(
            '<form method="post" action="/ui/dlq/retry" class="inline">'
            f"{hidden('reason', reason)}{hidden('since', since or '')}"
            f'<button type="submit" id="retry-reason">Retry all {esc(reason)}'
            f"{esc(' since ' + since) if since else ''}</button></form>"
        )
    shown = letters[:shown_limit]
    parts.append(f"<p>{len(shown)} of {len(letters)} letters shown, oldest first.</p>")
    rows = [
        (
            f'<input type="checkbox" name="letter" value="{esc(x.marker_key)}" '
            f'aria-label="select {esc(x.marker_key)}">',
            f'<a href="{letter_link(x)}">{esc(x.marker_key)}</a>',
            _time(x.time_ms),
            esc(x.reason),
            esc(x.stage),
            esc(origin_text(x.origin)),
            esc(x.correlation_id or "-"),
            _status(markers.get(x.marker_key)),
            f"<code>{esc(preview(x.value, LIST_PREVIEW_CHARS))}</code>",
        )
        for x in shown
    ]
    headers = ("", "letter", "refused at", "reason", "stage", "origin", "cid", "retry", "payload")
    parts.append(
        '<form method="post" action="/ui/dlq/retry">'
        + table(headers, rows, cls="letters")
        + '<button type="submit" id="retry-selected">Retry selected</button></form>'
    )
    return page("Dead letters", "".join(parts))


def payload_text(value: bytes) -> str:
    """The payload for reading: indented JSON when it parses, else escaped text (cut long)."""
    cut = value[:PAYLOAD_SHOWN_BYTES]
    try:
        text = orjson.dumps(orjson.loads(value), option=orjson.OPT_INDENT_2).decode()
        if len(text) > PAYLOAD_SHOWN_BYTES:
            text = text[:PAYLOAD_SHOWN_BYTES] + "\n…"
    except orjson.JSONDecodeError:
        text = preview(cut, PAYLOAD_SHOWN_BYTES)
    return text


def dead_letter(letter: Letter, marker: Marker | None) -> str:
    """One letter: its headers, the payload, its retry state and a Retry button."""
    fields = [
        ("letter", letter.marker_key),
        ("refused at", format_iso8601_ms(letter.time_ms)),
        ("reason", letter.reason),
        ("detail", letter.detail),
        ("stage", letter.stage),
        ("origin", origin_text(letter.origin)),
        ("correlation id", letter.correlation_id or "-"),
        ("key", "-" if letter.key is None else letter.key.decode("utf-8", "replace")),
        ("payload bytes", f"{len(letter.value):,}"),
    ]
    rows = [(esc(k), esc(v)) for k, v in fields]
    rows.append(("retry", _status(marker)))
    if marker is not None and marker.offset is not None:
        rows.append(("copy", esc(f"{marker.topic}/{marker.partition}/{marker.offset}")))
    trace = (
        f'<p><a href="{href("/ui/trace", cid=letter.correlation_id)}">Trace this event</a></p>'
        if letter.correlation_id
        else ""
    )
    body = (
        table(("field", "value"), rows)
        + '<form method="post" action="/ui/dlq/retry">'
        + hidden("letter", letter.marker_key)
        + '<button type="submit" id="retry-one">Retry</button></form>'
        + trace
        + f'<h2>Payload</h2><pre id="payload">{esc(payload_text(letter.value))}</pre>'
    )
    return page(f"Dead letter {letter.marker_key}", body)


def retried(report: RetryReport, *, events_topic: str, what: str) -> str:
    """The outcome of a retry: the summary, then every line ``dlq retry`` would print."""
    lines = report_lines(report, events_topic=events_topic)
    links = "".join(
        f'<li><a href="{href("/ui/dlq/" + c.letter.marker_key.replace(":", "/"))}">'
        f"{esc(c.letter.marker_key)}</a> → {esc(f'{c.topic}/{c.partition}/{c.offset}')}</li>"
        for c in (*report.sent, *report.found)
    )
    body = (
        f"<p>Retry of {esc(what)}:</p>"
        + f'<p id="retry-summary"><strong>{esc(lines[-1])}</strong></p>'
        + (f"<ul>{links}</ul>" if links else "")
        + f"<pre>{esc(chr(10).join(lines))}</pre>"
        + '<p><a href="/ui/dlq">Back to the dead letters</a></p>'
    )
    return page("Retry", body)


def trace(correlation_id: str, steps: Sequence[Step] | None, error: str | None = None) -> str:
    """The trace search form and, once searched, the event's path."""
    parts = [
        '<form method="get" action="/ui/trace"><label>Correlation id '
        f'<input name="cid" value="{esc(correlation_id)}" size="50" required></label> '
        '<button type="submit">Trace</button></form>'
    ]
    if error:
        parts.append(message(error, bad=True))
    elif steps is not None and not steps:
        parts.append(
            message(
                f"Nothing found for {correlation_id!r}. Workers trace only the sampled share of "
                "events (STREAMAPP_TRACE_SAMPLE_RATE) and every rejected one, and trace lines "
                "expire (STREAMAPP_TRACE_RETENTION_MS)."
            )
        )
    elif steps:
        rows = [
            (
                _time(s.at_ms),
                esc(s.stage),
                esc(s.topic),
                "-" if s.processing_s is None else esc(f"{s.processing_s:.6f} s"),
                esc(s.host or "-"),
                esc(s.summary),
            )
            for s in steps
        ]
        parts.append(
            table(
                ("time", "stage", "topic", "processing", "host", "what happened"), rows, cls="steps"
            )
        )
    return page("Trace", "".join(parts))


def profile(
    requested: str,
    profile_answer: tuple[int, Any] | None,
    counters_answer: tuple[int, Any] | None,
    served_by: str | None,
) -> str:
    """The profile lookup form and, once looked up, the profile and its counters."""
    parts = [
        '<form method="get" action="/ui/profiles"><label>User or anonymous id '
        f'<input name="id" value="{esc(requested)}" size="40" required></label> '
        '<button type="submit">Look up</button></form>'
    ]
    if profile_answer is not None:
        status, body = profile_answer
        if status != 200 or not isinstance(body, dict):
            error = body.get("error") if isinstance(body, dict) else body
            parts.append(message(f"{status}: {error}", bad=True))
        else:
            parts.append(_profile_table(body, served_by))
            if counters_answer is not None and counters_answer[0] == 200:
                parts.append(_counters_table(counters_answer[1]))
    return page("Profiles", "".join(parts))


def _profile_table(body: Mapping[str, Any], served_by: str | None) -> str:
    traits = body.get("traits") or {}
    rows = [
        (esc(k), esc(body.get(k)))
        for k in ("user_id", "requested_id", "identified", "first_seen", "last_seen")
    ]
    rows.append(("event_count", f'<span id="event-count">{esc(body.get("event_count"))}</span>'))
    rows.append(("known_ids", esc(", ".join(str(i) for i in body.get("known_ids") or []))))
    last = body.get("last_event")
    if isinstance(last, dict):
        rows.append(("last_event", esc(f"{last.get('name')} at {last.get('time')}")))
    rows.append(("served by", esc(served_by or "?")))
    trait_rows = [(esc(k), esc(orjson.dumps(v).decode())) for k, v in sorted(traits.items())]
    out = "<h2>Profile</h2>" + table(("field", "value"), rows, cls="profile")
    if trait_rows:
        out += "<h2>Traits</h2>" + table(("trait", "value"), trait_rows)
    return out


def _counters_table(body: Any) -> str:
    events = body.get("events") if isinstance(body, dict) else None
    rows = [
        (esc(name), num(int(v.get("lifetime") or 0)))
        for name, v in sorted((events or {}).items())
        if isinstance(v, dict)
    ]
    return "<h2>Counters</h2>" + table(("event", "lifetime"), rows, cls="counters")
