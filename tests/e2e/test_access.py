"""Every route the web server registers is protected, so a new unprotected route fails the build.

Walks the routes of a real worker's aiohttp router (the same code the worker runs) and calls each
one on a running worker without credentials: ingest must answer 401 without a write key, every
view, ops and UI route 401 (or a redirect to the login page) without the bearer token. Only the
listed open routes may answer, and the login form's POST refuses a missing token without setting
a session cookie.
"""

from __future__ import annotations

import re
import urllib.error
import urllib.request

from streamapp.app import create_app
from streamapp.config import load_settings
from streamapp.views.auth import OPEN_PATHS
from tests.reliability.figures import write_figures
from tests.support.workers import Deployment

VIEW_ROUTES = {"/profiles/x", "/counters/x", "/aggregates/x"}
INGEST_ROUTES = {
    f"/v1/{call}" for call in ("track", "identify", "alias", "page", "screen", "group")
}


def _registered_routes(deployment: Deployment) -> list[tuple[str, str]]:
    app = create_app(load_settings(deployment.env(6999)))
    routes = []
    for route in app.runtime.web_app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        pattern = info.get("pattern")
        path = info.get("path") or (pattern.pattern if pattern is not None else None)
        if path and route.method != "HEAD":
            routes.append((route.method, path))
    return sorted(set(routes))


def _concrete(path: str) -> str:
    """A request path for a route: literal groups as written, free parameters as ``x``."""
    path = re.sub(r"\(\?P<\w+>([\w-]+)\)", lambda m: m.group(1), path)
    return re.sub(r"\(\?P<\w+>[^)]*\)", "x", path)


def _call(url: str, method: str) -> tuple[int, str | None]:
    req = urllib.request.Request(url, method=method, data=b"{}" if method == "POST" else None)

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(req, timeout=10) as resp:
            return resp.status, resp.headers.get("Set-Cookie")
    except urllib.error.HTTPError as err:
        return err.code, err.headers.get("Set-Cookie")


def test_every_route_needs_its_credentials(workers, deployment: Deployment) -> None:
    routes = _registered_routes(deployment)
    paths = {p for _, p in routes}
    concrete_paths = {_concrete(p) for p in paths}
    # The walk must reach every kind of route: views, ingest, the UI, and the open ones.
    assert VIEW_ROUTES | INGEST_ROUTES | {"/health", "/v1/batch"} <= concrete_paths, paths
    ui_pages = {"/ui", "/ui/login", "/ui/logout", "/ui/dlq", "/ui/dlq/x/x", "/ui/dlq/retry"}
    assert ui_pages | {"/ui/trace", "/ui/profiles"} <= concrete_paths, paths
    worker = workers()
    worker.wait_ready(topic=deployment.topic("events"))
    checked = 0
    kinds: dict[str, int] = {"open": 0, "ingest": 0, "ui": 0, "view or ops": 0}
    routes.append(("GET", "/"))  # Faust's own index, registered when the server starts
    for method, path in routes:
        concrete = _concrete(path)
        status, cookie = _call(worker.url + concrete, method)
        if (method, path) == ("POST", "/ui/login"):
            kind = "ui"
            assert (status, cookie) == (401, None), (method, path, status, cookie)
        elif path in OPEN_PATHS:
            kind = "open"
            assert status in (200, 503), (method, path, status)
        elif path.startswith("/v1/"):
            kind = "ingest"
            assert status == 401, (method, path, status)
        elif path.startswith("/ui"):
            kind = "ui"
            assert status in (302, 303, 401), (method, path, status)
        else:
            kind = "view or ops"
            assert status == 401, (method, path, status)
        kinds[kind] += 1
        checked += 1
    write_figures(
        "test_every_route_needs_its_credentials",
        {"routes_checked": checked, "by_kind": kinds, "open": sorted(OPEN_PATHS)},
    )
    assert checked == len(routes) >= 22
