"""``GET /profiles/{id}`` and ``GET /counters/{id}``: what we know about a user, from any worker.

Reads the ``profiles`` table (profile and counters per user). The request is served by the worker
that owns the key and forwarded there from any other. An anonymous id that was stitched into a
user answers with that user's profile and counters (``requested_id`` says what was asked). Bearer
token required (:mod:`streamapp.views.auth`). Profiles are personal data: never logged.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote, unquote

import orjson
from aiohttp import web

from streamapp.app import Runtime
from streamapp.counters.counters import Counters, daily, lifetime
from streamapp.ingest.timestamps import format_iso8601_ms
from streamapp.profiles.profile import Profile
from streamapp.profiles.user_state import UserState
from streamapp.state.fence import is_reserved
from streamapp.views.routing import SERVED_BY_HEADER, route_or_serve

TABLE = "profiles"
MAX_DAYS = 366
MAX_REDIRECTS = 8
REQUESTED_HEADER = "X-Streamapp-Requested-Id"


def _json(status: int, body: object, rt: Runtime) -> web.Response:
    return web.Response(
        status=status,
        body=orjson.dumps(body),
        content_type="application/json",
        headers={SERVED_BY_HEADER: rt.worker_id},
    )


def _iso(ms: int | None) -> str | None:
    return None if ms is None else format_iso8601_ms(ms)


def profile_json(profile: Profile, requested: str) -> dict[str, Any]:
    """The public shape of a profile."""
    last = profile.last_event
    return {
        "user_id": profile.user_id,
        "requested_id": requested,
        "identified": profile.identified,
        "traits": dict(profile.traits),
        "first_seen": _iso(profile.first_seen_ms),
        "last_seen": _iso(profile.last_seen_ms),
        "event_count": profile.event_count,
        "known_ids": sorted(profile.known_ids),
        "last_event": None
        if last is None
        else {"name": last.name, "time": _iso(last.time_ms), "message_id": last.message_id},
    }


def counters_json(
    counters: Counters, user_id: str, requested: str, event: str | None, days: int | None
) -> dict[str, Any]:
    """The public shape of a user's counters (one event name or all)."""
    names = [event] if event is not None else sorted(counters.names)
    now_ms = int(time.time() * 1000)
    out: dict[str, Any] = {}
    for name in names:
        entry: dict[str, Any] = {"lifetime": lifetime(counters, name)}
        if days is not None:
            per_day = daily(counters, name, days, now_ms)
            entry["days"] = per_day
            entry["last_days_total"] = sum(per_day.values())
        out[name] = entry
    return {"user_id": user_id, "requested_id": requested, "events": out}


def install(rt: Runtime) -> None:
    """Register the profile and counter views."""

    def read(user_id: str) -> UserState | None:
        table = rt.tables[TABLE]
        raw = table.get(user_id.encode())
        return UserState.from_bytes(raw) if isinstance(raw, bytes) else None

    async def answer(
        request: web.Request, route: str, requested: str, user_id: str, hops: int
    ) -> web.Response:
        if not user_id or is_reserved(user_id):
            return _json(404, {"error": "unknown id"}, rt)

        async def serve() -> web.Response:
            state = read(user_id)
            if state is None:
                return _json(404, {"error": f"unknown id {requested!r}"}, rt)
            merged_into = state.profile.merged_into
            if merged_into is not None:
                if hops >= MAX_REDIRECTS:
                    return _json(508, {"error": "cycle of merged ids"}, rt)
                return await answer(request, route, requested, merged_into, hops + 1)
            return render(request, route, requested, state)

        path = f"/{route}/{quote(user_id, safe='')}"
        extra = {REQUESTED_HEADER: quote(requested, safe="")}
        return await route_or_serve(
            rt, request, TABLE, user_id.encode(), serve, path=path, extra_headers=extra
        )

    def render(request: web.Request, route: str, requested: str, state: UserState) -> web.Response:
        if route == "profiles":
            return _json(200, profile_json(state.profile, requested), rt)
        event = request.query.get("event") or None
        days_raw = request.query.get("days")
        days: int | None = None
        if days_raw is not None:
            if not days_raw.isdigit() or not 1 <= int(days_raw) <= MAX_DAYS:
                return _json(400, {"error": f"days must be a whole number 1..{MAX_DAYS}"}, rt)
            days = int(days_raw)
        body = counters_json(state.counters, state.profile.user_id, requested, event, days)
        return _json(200, body, rt)

    def requested_of(request: web.Request) -> str:
        forwarded = request.headers.get(REQUESTED_HEADER)
        return unquote(forwarded) if forwarded else request.match_info["id"]

    async def profiles(request: web.Request) -> web.Response:
        return await answer(request, "profiles", requested_of(request), request.match_info["id"], 0)

    async def counters(request: web.Request) -> web.Response:
        return await answer(request, "counters", requested_of(request), request.match_info["id"], 0)

    router = rt.web_app.router
    router.add_get("/profiles/{id}", profiles)
    router.add_get("/counters/{id}", counters)
