"""The operator UI's routes on each worker's web server: ``/ui`` and its pages.

Access: :mod:`streamapp.views.auth` lets a request in with the bearer token or the session cookie
that ``POST /ui/login`` sets for the right token (HttpOnly, SameSite=Strict, path ``/ui``); a GET
without either is redirected to the login form. Every page is server-rendered HTML without
JavaScript (the Content-Security-Policy forbids scripts).

Cross-site requests: everything that changes something (retry, log out) is a POST, and a POST
authenticated by the cookie must also come from this origin: browsers do not send a
SameSite=Strict cookie on a request another site starts, and when the request carries ``Origin``
or ``Sec-Fetch-Site`` (every current browser sends them on a POST) they must name this origin.
A retry is idempotent anyway: its markers make a repeated POST send nothing.

What each page reuses: the overview reads the sampler's last sample
(:mod:`streamapp.observability.sampler`) and asks every worker the assignor knows for its
``/health``; the dead-letter pages and retries call :mod:`streamapp.ops` (the same code as
``streamapp dlq list|retry`` and ``streamapp trace``); the profile page asks this worker's own
``GET /profiles/{id}`` and ``/counters/{id}`` with the bearer token, so any worker answers for any
key through the usual routing.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote

import aiohttp
import orjson
from aiohttp import web
from aiokafka.errors import KafkaError
from yarl import URL

from streamapp.errors import StreamappError
from streamapp.observability.sampler import input_topics
from streamapp.ops import dlq, retry, trace
from streamapp.ops.letters import LetterFilter
from streamapp.ops.retry_plan import Selector
from streamapp.ops.since import parse_since
from streamapp.ui import pages
from streamapp.ui.html import message, page
from streamapp.views.auth import SESSION_COOKIE, session_value, token_matches
from streamapp.views.routing import SERVED_BY_HEADER

if TYPE_CHECKING:
    from streamapp.app import Runtime

FAILURES: Final = (StreamappError, KafkaError)
LETTERS_SHOWN: Final = 500
HEALTH_TIMEOUT_S: Final = 2.0
READ_TIMEOUT_S: Final = 15.0
MAX_SELECTED: Final = 10_000
HEADERS: Final = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
}


def _html(text: str, status: int = 200) -> web.Response:
    return web.Response(text=text, status=status, content_type="text/html", headers=HEADERS)


def _error(title: str, text: str, status: int) -> web.Response:
    return _html(page(title, message(text, bad=True)), status)


def same_origin(request: web.Request) -> bool:
    """Whether a cookie-authenticated POST comes from a page of this origin (see the docstring).

    A request with the bearer token needs no such check: another site cannot make a browser send
    it.
    """
    if request.headers.get("Authorization", "").startswith("Bearer "):
        return True
    if request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
        return False
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    return URL(origin).raw_authority == request.host


def _now_ms() -> int:
    return int(time.time() * 1000)


def install(rt: Runtime) -> None:
    """Register the ``/ui`` routes."""
    settings = rt.settings

    async def login_form(request: web.Request) -> web.Response:
        return _html(pages.login())

    async def login(request: web.Request) -> web.Response:
        form = await request.post()
        given = form.get("token")
        if not isinstance(given, str) or not token_matches(rt, given):
            return _html(pages.login("That is not the API token."), 401)
        resp = web.HTTPSeeOther("/ui")
        resp.set_cookie(
            SESSION_COOKIE,
            session_value(settings.api_token),
            path="/ui",
            httponly=True,
            samesite="Strict",
            secure=request.secure,
        )
        raise resp

    async def logout(request: web.Request) -> web.Response:
        if not same_origin(request):
            return _error("Forbidden", "cross-site request refused", 403)
        resp = web.HTTPSeeOther("/ui/login")
        resp.del_cookie(SESSION_COOKIE, path="/ui")
        raise resp

    async def overview(request: web.Request) -> web.Response:
        workers = await _workers(rt)
        return _html(pages.overview(rt.observed, workers, input_topics(rt)))

    async def letters(request: web.Request) -> web.Response:
        reason = request.query.get("reason") or None
        since = request.query.get("since") or None
        try:
            since_ms = None if since is None else parse_since(since, now_ms=_now_ms())
        except ValueError as exc:
            return _error("Dead letters", str(exc), 400)
        try:
            listing = await dlq.list_letters(
                settings, LetterFilter(), since_ms=since_ms, limit=None
            )
        except FAILURES as exc:
            return _error("Dead letters", f"reading the dead letters failed: {exc}", 502)
        all_reasons = Counter(x.reason for x in listing.letters)
        chosen = [x for x in listing.letters if reason is None or x.reason == reason]
        body = pages.dead_letters(
            chosen,
            listing.markers,
            reason=reason,
            since=since,
            all_reasons=all_reasons,
            shown_limit=LETTERS_SHOWN,
        )
        return _html(body)

    async def letter(request: web.Request) -> web.Response:
        raw_p, raw_o = request.match_info["partition"], request.match_info["offset"]
        if not (raw_p.isdigit() and raw_o.isdigit()):
            return _error("Dead letter", "no such letter", 404)
        try:
            found = await dlq.one_letter(settings, int(raw_p), int(raw_o))
        except FAILURES as exc:
            return _error("Dead letter", f"reading the letter failed: {exc}", 502)
        if found is None:
            return _error("Dead letter", f"no letter at {raw_p}:{raw_o}", 404)
        return _html(pages.dead_letter(*found))

    async def retry_letters(request: web.Request) -> web.Response:
        if not same_origin(request):
            return _error("Forbidden", "cross-site request refused", 403)
        form = await request.post()
        keys = [k for k in form.getall("letter", []) if isinstance(k, str)]
        reason = form.get("reason")
        if keys:
            if len(keys) > MAX_SELECTED:
                return _error("Retry", f"at most {MAX_SELECTED} letters at once", 400)
            selector, what = Selector.of_letters(keys), "letters " + ", ".join(keys[:20])
        elif isinstance(reason, str) and reason:
            selector, what = Selector(reason=reason), f"every letter with reason {reason}"
        else:
            return _error("Retry", "choose letters to retry (tick them), or a reason", 400)
        since = form.get("since")
        since_ms: int | None = None
        if isinstance(since, str) and since and not keys:
            try:
                since_ms = parse_since(since, now_ms=_now_ms())
            except ValueError as exc:
                return _error("Retry", str(exc), 400)
            what += f" refused since {since}"
        try:
            report = await retry.retry(settings, selector, since_ms=since_ms)
        except FAILURES as exc:
            return _error("Retry", f"the retry failed: {exc}", 502)
        return _html(pages.retried(report, events_topic=settings.topics.events, what=what))

    async def trace_page(request: web.Request) -> web.Response:
        cid = request.query.get("cid", "").strip()
        if not cid:
            return _html(pages.trace("", None))
        try:
            steps = await trace.trace(settings, cid, since_ms=None)
        except FAILURES as exc:
            return _html(pages.trace(cid, None, f"reading the traces failed: {exc}"), 502)
        return _html(pages.trace(cid, steps))

    async def profile_page(request: web.Request) -> web.Response:
        requested = request.query.get("id", "").strip()
        if not requested:
            return _html(pages.profile("", None, None, None))
        base = settings.web_url.rstrip("/")
        quoted = quote(requested, safe="")
        headers = {"Authorization": f"Bearer {settings.api_token}"}
        timeout = aiohttp.ClientTimeout(total=READ_TIMEOUT_S)
        async with aiohttp.ClientSession(timeout=timeout, headers=headers) as session:
            prof, served_by = await _get_json(session, f"{base}/profiles/{quoted}")
            counters = None
            if prof[0] == 200:
                counters, _ = await _get_json(session, f"{base}/counters/{quoted}")
        return _html(pages.profile(requested, prof, counters, served_by))

    router = rt.web_app.router
    router.add_get("/ui", overview)
    router.add_get("/ui/login", login_form)
    router.add_post("/ui/login", login)
    router.add_post("/ui/logout", logout)
    router.add_get("/ui/dlq", letters)
    router.add_get("/ui/dlq/{partition}/{offset}", letter)
    router.add_post("/ui/dlq/retry", retry_letters)
    router.add_get("/ui/trace", trace_page)
    router.add_get("/ui/profiles", profile_page)


async def _get_json(session: aiohttp.ClientSession, url: str) -> tuple[tuple[int, Any], str | None]:
    """(status, decoded body) of a GET and who served it; status 0 when nobody answered."""
    try:
        async with session.get(url) as resp:
            raw = await resp.read()
            served_by = resp.headers.get(SERVED_BY_HEADER)
            try:
                return (resp.status, orjson.loads(raw)), served_by
            except orjson.JSONDecodeError:
                return (resp.status, raw.decode("utf-8", "replace")[:500]), served_by
    except (aiohttp.ClientError, TimeoutError) as exc:
        return (0, f"no answer: {exc!r}"), None


def worker_urls(rt: Runtime) -> list[str]:
    """The URL of every worker the assignor last heard of, this one's too (sorted, unique)."""
    urls = {rt.settings.web_url.rstrip("/")}
    try:
        assignor: Any = rt.app.assignor
        for mapping in (assignor.changelog_distribution, assignor.external_topic_distribution):
            urls.update(str(url).rstrip("/") for url in (mapping or {}))
    except AttributeError:  # no rebalance yet
        pass
    return sorted(urls)


async def _workers(rt: Runtime) -> list[pages.WorkerInfo]:
    """Ask every known worker's ``/health`` (concurrently, short timeout)."""
    timeout = aiohttp.ClientTimeout(total=HEALTH_TIMEOUT_S)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        return list(await asyncio.gather(*(_health(session, u) for u in worker_urls(rt))))


async def _health(session: aiohttp.ClientSession, url: str) -> pages.WorkerInfo:
    (status, body), _ = await _get_json(session, f"{url}/health")
    if status != 200 or not isinstance(body, dict):
        reason = body.get("status") if isinstance(body, dict) else body
        return pages.WorkerInfo(url, None, {}, False, f"{status or 'no answer'}: {reason}"[:200])
    assigned, recovery = body.get("assigned"), body.get("recovery")
    return pages.WorkerInfo(
        url=url,
        worker_id=str(body.get("worker_id")),
        assigned=assigned if isinstance(assigned, dict) else {},
        rebalancing=bool(body.get("rebalancing")),
        recovery=recovery if isinstance(recovery, dict) else None,
    )
