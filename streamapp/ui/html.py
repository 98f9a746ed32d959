"""Small HTML builders for the operator UI: escaping, the page frame, tables, forms.

Pure string building. Everything that came from outside (event bytes, ids, reasons, topic
names) goes through :func:`esc` before it reaches a page: a dead letter's payload is
attacker-controlled text. No template engine, no front-end build: the pages are plain HTML with
one small stylesheet.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import Final
from urllib.parse import urlencode

STYLE: Final = """
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#222}
header{background:#1f2937;color:#fff;padding:.5em 1em;display:flex;gap:1.2em;align-items:center}
header a{color:#e5e7eb;text-decoration:none}header a:hover{text-decoration:underline}
header form{margin-left:auto}main{padding:1em 1.5em}
table{border-collapse:collapse;margin:.5em 0 1.2em}td,th{border:1px solid #ddd;padding:3px 8px;
text-align:left;vertical-align:top}th{background:#f3f4f6}td:has(>.num){text-align:right}
pre{background:#f8f8f8;border:1px solid #ddd;padding:.6em;white-space:pre-wrap;
word-break:break-all;max-height:30em;overflow:auto}
.bad{color:#b91c1c}.ok{color:#15803d}.muted{color:#6b7280}
.msg{border-left:4px solid #2563eb;background:#eff6ff;padding:.5em 1em;margin:.5em 0}
form.inline{display:inline}button{cursor:pointer}
"""

NAV: Final = (
    ("/ui", "Overview"),
    ("/ui/dlq", "Dead letters"),
    ("/ui/trace", "Trace"),
    ("/ui/profiles", "Profiles"),
)


def esc(value: object) -> str:
    """``value`` as text safe inside HTML elements and quoted attributes."""
    return html.escape(str(value), quote=True)


def href(path: str, **query: str | int | None) -> str:
    """A link to ``path`` with the non-empty query parameters, escaped for an attribute."""
    params = {k: v for k, v in query.items() if v is not None and v != ""}
    return esc(path + ("?" + urlencode(params) if params else ""))


def page(title: str, body: str, *, nav: bool = True) -> str:
    """A whole HTML document: the header with navigation (and log-out) and ``body``."""
    links = "".join(f'<a href="{path}">{esc(label)}</a>' for path, label in NAV)
    header = (
        f"<header><strong>streamapp</strong>{links}"
        '<form method="post" action="/ui/logout"><button>Log out</button></form></header>'
        if nav
        else "<header><strong>streamapp</strong></header>"
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{esc(title)} · streamapp</title><style>{STYLE}</style></head>"
        f"<body>{header}<main><h1>{esc(title)}</h1>{body}</main></body></html>"
    )


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], *, cls: str = "") -> str:
    """A table; ``rows`` hold HTML already (escape cell text with :func:`esc` first)."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    attr = f' class="{esc(cls)}"' if cls else ""
    return f"<table{attr}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def num(value: float | int) -> str:
    """A right-aligned number cell's content (thousands separated, rates to one decimal)."""
    text = f"{value:,.1f}" if isinstance(value, float) else f"{value:,}"
    return f'<span class="num">{text}</span>'


def message(text: str, *, bad: bool = False) -> str:
    """A notice box (escaped text)."""
    cls = "msg bad" if bad else "msg"
    return f'<div class="{cls}" role="status">{esc(text)}</div>'


def hidden(name: str, value: str) -> str:
    """A hidden form field."""
    return f'<input type="hidden" name="{esc(name)}" value="{esc(value)}">'
