"""Answer a table read on any worker: serve it here when this worker owns the key, else forward.

Faust's ``table_route`` forwards method and headers but no body and no loop guard; this does the
same for GET with the query string kept, plus a hop count so two workers that disagree about
ownership during a rebalance answer 503 instead of bouncing a request between them.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import aiohttp
from aiohttp import web
from yarl import URL

from streamapp.app import Runtime

log = logging.getLogger(__name__)

HOP_HEADER = "X-Streamapp-Forwarded-By"
HOPS_HEADER = "X-Streamapp-Hops"
MAX_HOPS = 3
"""A read is forwarded at most this often: once to the key's owner, once more when the owner
finds the key merged into another (a stitched anonymous id), and one spare. More means two
workers disagree about ownership during a rebalance: answer 503 rather than bounce."""
SERVED_BY_HEADER = "X-Streamapp-Served-By"
FORWARD_TIMEOUT_S = 10.0


def _ident(url: URL) -> tuple[str, int]:
    return (url.host or "", int(url.port or 80))


class OwnerNotKnownYet(Exception):
    """The producer has no metadata for the table's changelog yet (just after a start)."""


def owner_url(rt: Runtime, table: str, key: bytes) -> URL | None:
    """The web URL of the worker that owns ``key`` in ``table``, or None when unknown.

    Raises:
        OwnerNotKnownYet: right after a (re)start, before the producer has fetched the
            changelog topic's metadata (aiokafka then fails with a TypeError); the read is
            answered 503 with Retry-After, found by the reliability suite's worker-crash run.

    """
    try:
        return URL(str(rt.app.router.key_store(table, key)))
    except (KeyError, ValueError, AttributeError):
        return None
    except TypeError as exc:
        raise OwnerNotKnownYet(table) from exc


async def route_or_serve(
    rt: Runtime,
    request: web.Request,
    table: str,
    key: bytes,
    serve: Callable[[], Awaitable[web.Response]],
    *,
    path: str | None = None,
    extra_headers: dict[str, str] | None = None,
) -> web.Response:
    """Serve locally when this worker owns ``key``; otherwise forward the GET to the owner.

    ``path`` replaces the request's path in the forwarded request (to ask for another key);
    ``extra_headers`` are added to it.
    """
    try:
        dest = owner_url(rt, table, key)
    except OwnerNotKnownYet:
        body = b'{"error":"this worker is starting and does not know the owner yet; retry"}'
        return web.Response(
            status=503, body=body, content_type="application/json", headers={"Retry-After": "1"}
        )
    here = URL(rt.settings.web_url)
    if dest is None or _ident(dest) == _ident(here):
        return await serve()
    hops_raw = request.headers.get(HOPS_HEADER, "0")
    hops = int(hops_raw) if hops_raw.isdigit() else MAX_HOPS
    if hops >= MAX_HOPS:
        body = b'{"error":"ownership is moving (rebalance); retry"}'
        return web.Response(
            status=503, body=body, content_type="application/json", headers={"Retry-After": "1"}
        )
    target = request.url.with_scheme("http").with_host(dest.host or "").with_port(dest.port)
    if path is not None:
        target = target.with_path(path).with_query(request.query)
    headers = {k: v for k, v in request.headers.items() if k.lower() in {"authorization", "accept"}}
    headers[HOP_HEADER] = rt.worker_id
    headers[HOPS_HEADER] = str(hops + 1)
    headers.update(extra_headers or {})
    timeout = aiohttp.ClientTimeout(total=FORWARD_TIMEOUT_S)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(target, headers=headers) as resp,
        ):
            payload = await resp.read()
            served_by = resp.headers.get(SERVED_BY_HEADER, "")
            return web.Response(
                status=resp.status,
                body=payload,
                content_type=resp.content_type,
                headers={SERVED_BY_HEADER: served_by},
            )
    except (aiohttp.ClientError, TimeoutError) as exc:
        log.warning("forwarding %s to %s failed: %r", request.path, dest, exc)
        body = b'{"error":"the owning worker did not answer; retry"}'
        return web.Response(
            status=503, body=body, content_type="application/json", headers={"Retry-After": "1"}
        )
