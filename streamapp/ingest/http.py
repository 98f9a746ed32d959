"""The Segment HTTP Tracking API on every worker: ``POST /v1/{track,identify,...,batch}``.

Real Segment SDKs point their ``host`` here. A request is answered ``200 {"success": true}`` only
after every event in it was acknowledged by the broker (acks=all) on the ``events`` topic, keyed
by its identity key, with ``receivedAt`` and a ``messageId`` set. Otherwise:

* 401: no write key, or one not in ``STREAMAPP_WRITE_KEYS``;
* 400: the request or one of its events is invalid (the reason names it); nothing of it is kept;
* 429 + Retry-After: too many events await broker acks (backpressure, not unbounded memory);
* 503 + Retry-After: the broker did not acknowledge; the client should retry (the same
  ``messageId`` is deduplicated downstream).

Parsing and validation are the pure :mod:`streamapp.ingest.http_request` and
:mod:`streamapp.ingest.validate`; this module is the aiohttp edge only.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Any

import orjson
from aiohttp import web

from streamapp.app import Runtime
from streamapp.events import Event, Rejection
from streamapp.ingest.http_request import HttpRejection, parse_request, write_key_from
from streamapp.ingest.validate import validate_object
from streamapp.topics import Header

log = logging.getLogger(__name__)

CALL_TYPES = ("track", "identify", "alias", "page", "screen", "group", "batch")
SEND_TIMEOUT_S = 15.0


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status, body=orjson.dumps(body), content_type="application/json", headers=headers
    )


class IngestEndpoint:
    """The handler of ``POST /v1/<type>`` for one worker."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.in_flight = 0

    async def handle(self, request: web.Request) -> web.Response:
        """Answer one Tracking API call."""
        call = request.match_info["call"]
        response = await self._handle(request, call)
        self.rt.metrics.http_requests.labels(f"/v1/{call}", str(response.status)).inc()
        return response

    async def _handle(self, request: web.Request, call: str) -> web.Response:
        settings = self.rt.settings
        auth = request.headers.get("Authorization")
        header_key = write_key_from(auth, None)
        if auth is not None and header_key not in settings.write_keys:
            return _json(401, {"success": False, "error": "unknown write key"})
        if request.content_length is not None and request.content_length > settings.max_batch_bytes:
            return _json(400, {"success": False, "error": _too_large(call, settings)})
        try:
            body = await _read_at_most(request, settings.max_batch_bytes + 1)
        except Exception as exc:  # aiohttp failed to inflate a gzip body, or the client left
            self.rt.metrics.rejected.labels("http", "bad_request").inc()
            return _json(400, {"success": False, "error": f"could not read the body: {exc}"})
        parsed = parse_request(
            call,
            body,
            # aiohttp has already inflated a gzip body while we read it (bounded by our read).
            content_encoding=None,
            max_event_bytes=settings.max_event_bytes,
            max_batch_bytes=settings.max_batch_bytes,
        )
        if header_key is None:
            body_key = None if isinstance(parsed, HttpRejection) else parsed.write_key_in_body
            if body_key not in settings.write_keys:
                reason = "unknown write key" if body_key else "missing write key"
                return _json(401, {"success": False, "error": reason})
        if isinstance(parsed, HttpRejection):
            self.rt.metrics.rejected.labels("http", "bad_request").inc()
            return _json(parsed.status, {"success": False, "error": parsed.reason})

        received_at_ms = int(time.time() * 1000)
        events: list[Event] = []
        for index, obj in enumerate(parsed.events):
            result = validate_object(
                obj,
                received_at_ms=received_at_ms,
                new_message_id=lambda: str(uuid.uuid4()),
                sent_at=parsed.sent_at,
            )
            if isinstance(result, Rejection):
                self.rt.metrics.rejected.labels("http", result.reason.value).inc()
                where = f"event {index}: " if call == "batch" else ""
                return _json(400, {"success": False, "error": where + result.detail})
            events.append(result)
        return await self._produce(events)

    async def _produce(self, events: list[Event]) -> web.Response:
        settings, names = self.rt.settings, self.rt.settings.topics
        if self.in_flight + len(events) > settings.ingest_max_in_flight:
            return _json(
                429, {"success": False, "error": "too many events in flight"}, {"Retry-After": "1"}
            )
        self.in_flight += len(events)
        self.rt.metrics.ingest_in_flight.set(self.in_flight)
        try:
            producer = self.rt.app.producer
            futures = []
            for event in events:
                headers = [
                    (Header.CORRELATION_ID, event.message_id.encode()),
                    (Header.INGEST, b"http"),
                ]
                futures.append(
                    await producer.send(
                        names.events,
                        event.identity_key.encode(),
                        orjson.dumps(event.body),
                        None,
                        None,
                        headers,
                    )
                )
            await asyncio.wait_for(asyncio.gather(*futures), SEND_TIMEOUT_S)
        except Exception as exc:  # the broker did not take them: the client must retry
            log.warning("ingest produce failed: %r", exc)
            return _json(
                503, {"success": False, "error": "broker unavailable"}, {"Retry-After": "2"}
            )
        finally:
            self.in_flight -= len(events)
            self.rt.metrics.ingest_in_flight.set(self.in_flight)
        self.rt.metrics.produced.labels(names.events).inc(len(events))
        return _json(200, {"success": True})


async def _read_at_most(request: web.Request, limit: int) -> bytes:
    """Read the body, but never more than ``limit`` bytes (a larger one is refused anyway)."""
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = await request.content.read(limit - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _too_large(call: str, settings: Any) -> str:
    if call == "batch":
        return f"batch larger than {settings.max_batch_bytes // 1024} KB"
    return f"event larger than {settings.max_event_bytes // 1024} KB"


def install(rt: Runtime) -> None:
    """Register the Tracking API routes on the worker's web server."""
    endpoint = IngestEndpoint(rt)
    router = rt.web_app.router
    for call in CALL_TYPES:
        router.add_post(f"/v1/{{call:{call}}}", endpoint.handle)
