"""``GET /openapi.json``: the OpenAPI 3.1 document of the read API (and the ingest routes).

Written by hand next to the views it describes, so a change to one shows in the same diff.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from streamapp.app import Runtime

_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
_ERRORS = {
    "401": {"description": "bearer token missing or wrong"},
    "404": {"description": "unknown id"},
    "503": {"description": "the owning worker is moving (rebalance); retry"},
}
_PROFILE = {
    "type": "object",
    "properties": {
        "user_id": {"type": "string", "description": "canonical user id"},
        "requested_id": {"type": "string", "description": "the id asked for"},
        "identified": {"type": "boolean"},
        "traits": {"type": "object"},
        "first_seen": {"type": ["string", "null"], "format": "date-time"},
        "last_seen": {"type": ["string", "null"], "format": "date-time"},
        "event_count": {"type": "integer"},
        "known_ids": {"type": "array", "items": {"type": "string"}},
        "last_event": {"type": ["object", "null"]},
    },
}
_COUNTERS = {
    "type": "object",
    "properties": {
        "user_id": {"type": "string"},
        "requested_id": {"type": "string"},
        "events": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "properties": {
                    "lifetime": {"type": "integer"},
                    "days": {"type": "object", "additionalProperties": {"type": "integer"}},
                    "last_days_total": {"type": "integer"},
                },
            },
        },
    },
}


def document() -> dict[str, Any]:
    """The OpenAPI document."""
    bearer: list[dict[str, list[str]]] = [{"bearer": []}]
    return {
        "openapi": "3.1.0",
        "info": {"title": "streamapp", "version": "0.1.0"},
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "writeKey": {"type": "http", "scheme": "basic"},
            }
        },
        "paths": {
            "/profiles/{id}": {
                "get": {
                    "summary": "Profile of a user (an identified anonymous id answers its user)",
                    "security": bearer,
                    "parameters": [_ID],
                    "responses": {
                        "200": {
                            "description": "the profile",
                            "content": {"application/json": {"schema": _PROFILE}},
                        },
                        **_ERRORS,
                    },
                }
            },
            "/counters/{id}": {
                "get": {
                    "summary": "Event counts of a user: lifetime and per UTC day",
                    "security": bearer,
                    "parameters": [
                        _ID,
                        {"name": "event", "in": "query", "schema": {"type": "string"}},
                        {
                            "name": "days",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "maximum": 366},
                        },
                    ],
                    "responses": {
                        "200": {
                            "description": "the counters",
                            "content": {"application/json": {"schema": _COUNTERS}},
                        },
                        "400": {"description": "bad days"},
                        **_ERRORS,
                    },
                }
            },
            "/aggregates/{name}": {
                "get": {
                    "summary": "Closed and open windows of one aggregate key",
                    "security": bearer,
                    "parameters": [
                        {
                            "name": "name",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        },
                        {
                            "name": "key",
                            "in": "query",
                            "required": True,
                            "schema": {"type": "array", "items": {"type": "string"}},
                            "explode": True,
                        },
                        {"name": "from", "in": "query", "schema": {"type": "string"}},
                        {"name": "to", "in": "query", "schema": {"type": "string"}},
                    ],
                    "responses": {
                        "200": {
                            "description": "windows; backfilling is true while the version is "
                            "being backfilled (streamapp replay); serving is previous while the "
                            "version a changed aggregate replaces answers (version names it)"
                        },
                        **_ERRORS,
                    },
                }
            },
            "/v1/{call}": {
                "post": {
                    "summary": "Segment HTTP Tracking API (track, identify, alias, page, screen, "
                    "group, batch)",
                    "security": [{"writeKey": []}],
                    "parameters": [
                        {
                            "name": "call",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        }
                    ],
                    "responses": {
                        "200": {"description": '{"success": true}'},
                        "400": {"description": "invalid request or event, with the reason"},
                        "401": {"description": "unknown or missing write key"},
                        "429": {"description": "backpressure; see Retry-After"},
                        "503": {"description": "broker unavailable; see Retry-After"},
                    },
                }
            },
            "/health": {
                "get": {
                    "summary": "Worker id and assigned partitions",
                    "responses": {"200": {"description": "up"}},
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics",
                    "responses": {"200": {"description": "text"}},
                }
            },
        },
    }


def install(rt: Runtime) -> None:
    """Register ``GET /openapi.json``."""
    body = orjson.dumps(document())

    async def openapi(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    rt.web_app.router.add_get("/openapi.json", openapi)
