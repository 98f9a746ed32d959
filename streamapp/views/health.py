"""``GET /health`` and ``GET /metrics``: is this worker up, what does it own, what has it counted.

Both are open (no token): orchestrators and Prometheus scrape them. They reveal ids of workers and
partitions and counts, never user data.
"""

from __future__ import annotations

import orjson
from aiohttp import web
from faust.exceptions import ConsumerNotStarted

from streamapp.app import Runtime


def _assignment(rt: Runtime) -> dict[str, list[int]]:
    """Partitions this worker reads, per topic: Faust's consumer and the validate reader's."""
    assigned = set(rt.app.consumer.assignment())
    if rt.events_reader is not None:
        assigned |= rt.events_reader.assignment()
    by_topic: dict[str, list[int]] = {}
    for tp in sorted(assigned):
        by_topic.setdefault(tp.topic, []).append(tp.partition)
    return by_topic


def install(rt: Runtime) -> None:
    """Register ``/health`` and ``/metrics`` on the worker's web server."""

    async def health(request: web.Request) -> web.Response:
        try:
            assigned = _assignment(rt)
        except ConsumerNotStarted:
            starting = {"status": "starting", "worker_id": rt.worker_id}
            return web.Response(
                status=503, body=orjson.dumps(starting), content_type="application/json"
            )
        body: dict[str, object] = {
            "status": "ok",
            "worker_id": rt.worker_id,
            "url": rt.settings.web_url,
            "app_id": rt.settings.app_id,
            "assigned": assigned,
            "rebalancing": bool(rt.app.rebalancing),
        }
        recovery = rt.observed.recovery  # as last sampled (streamapp.observability.sampler)
        if recovery is not None:
            body["recovery"] = {
                "in_progress": recovery.in_progress,
                "active_remaining": recovery.active_remaining,
                "standby_remaining": recovery.standby_remaining,
            }
        return web.Response(body=orjson.dumps(body), content_type="application/json")

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(
            body=rt.metrics.render(),
            headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"},
        )

    router = rt.web_app.router
    router.add_get("/health", health)
    router.add_get("/metrics", metrics)
