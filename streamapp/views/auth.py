"""Who may call what: the bearer token for views, ops and the UI; write keys for ingest.

One middleware decides for every route, from the route's path, so a new route is protected by
default: only the paths in :data:`OPEN_PATHS` answer without credentials, and ``/v1/*`` checks
write keys itself (the key may be in the body). A test walks every registered route to keep this
true.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from streamapp.app import Runtime


OPEN_PATHS = frozenset({"/health", "/metrics", "/ui/login", "/openapi.json"})
INGEST_PREFIX = "/v1/"
UI_PREFIX = "/ui"
SESSION_COOKIE = "streamapp_session"
_SESSION_CONTEXT = b"streamapp operator UI session v1"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def session_value(token: str) -> str:
    """The UI cookie's value for ``token``: derived from it, never the token itself.

    A copied cookie opens the UI (as the token would) but is no bearer token for the API, and the
    token is not stored in the browser. Changing the token ends every session.
    """
    return hmac.new(token.encode(), _SESSION_CONTEXT, hashlib.sha256).hexdigest()


def token_matches(rt: Runtime, given: str) -> bool:
    """Whether ``given`` is the API token (constant-time)."""
    return hmac.compare_digest(given.encode(), rt.settings.api_token.encode())


def token_ok(rt: Runtime, request: web.Request) -> bool:
    """True with the API token (bearer header), or the UI's session cookie on a ``/ui`` path."""
    auth = request.headers.get("Authorization", "")
    if auth.startswith("Bearer "):
        return token_matches(rt, auth[7:].strip())
    if not request.path.startswith(UI_PREFIX):
        return False  # the session cookie opens the UI only, never the API
    cookie = request.cookies.get(SESSION_COOKIE)
    expected = session_value(rt.settings.api_token)
    return cookie is not None and hmac.compare_digest(cookie.encode(), expected.encode())


def install(rt: Runtime) -> None:
    """Put the access middleware in front of every route."""

    @web.middleware
    async def require_token(request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        if path in OPEN_PATHS or path.startswith(INGEST_PREFIX):
            return await handler(request)
        if not token_ok(rt, request):
            if path.startswith(UI_PREFIX) and request.method == "GET":
                raise web.HTTPFound("/ui/login")
            return web.json_response(
                {"error": "bearer token required"},
                status=401,
                headers={"WWW-Authenticate": 'Bearer realm="streamapp"'},
            )
        return await handler(request)

    rt.web_app.middlewares.append(require_token)
