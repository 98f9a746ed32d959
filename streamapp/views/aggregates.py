"""``GET /aggregates/{name}?key=&from=&to=``: closed and still-open windows of one aggregate key.

Served by the worker that owns the key's partition of ``windows.<name>`` (forwarded there from
any other). ``key`` is repeated once per key field, in declaration order; ``from``/``to`` (ISO-8601
or epoch ms) bound the window start. Open windows are marked ``"closed": false`` and carry their
running measures. While the version is being backfilled (:mod:`streamapp.replay`) the answer
says ``"backfilling": true``. For a *changed* aggregate the version it replaces answers meanwhile
(``"serving": "previous"``, ``"version"`` the previous version's, ``"backfill"`` naming the new
one): it kept running live (:mod:`streamapp.replay.previous`), so its answers are current, by the
old definition. Once the new version's done-marker released the key's partition, the new version
answers (``"serving": "current"``). A newly added aggregate, a previous version with another key,
or one that could not be rebuilt leaves the new version's partial state answering, marked
``"backfilling": true``: its closed windows are not out yet and its open ones are partial.
While the worker rebalances or restores its tables the answer is 503: a read then never loads a
partition's state into the owner's cache (:meth:`~streamapp.windows.runtime.AggregateRuntime.peek`).
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from aiohttp import web
from aiokafka.partitioner import murmur2

from streamapp.app import Runtime
from streamapp.ingest.timestamps import parse_iso8601_ms
from streamapp.sink.avro import record_for
from streamapp.views.routing import SERVED_BY_HEADER, route_or_serve
from streamapp.windows.assign import window_at
from streamapp.windows.runtime import CLOSED_PREFIX, AggregateRuntime, partial_key, partition_items

MAX_WINDOWS = 10_000


def _json(status: int, body: object, rt: Runtime) -> web.Response:
    return web.Response(
        status=status,
        body=orjson.dumps(body),
        content_type="application/json",
        headers={SERVED_BY_HEADER: rt.worker_id},
    )


def _bound(raw: str | None) -> int | None:
    if raw is None or raw == "":
        return None
    if raw.lstrip("-").isdigit():
        return int(raw)
    return parse_iso8601_ms(raw)


def _partition(key: bytes, partitions: int) -> int:
    return (int(murmur2(key)) & 0x7FFFFFFF) % partitions


def windows_of(
    agg: AggregateRuntime, key: tuple[str, ...], partition: int, now_ms: int
) -> list[dict[str, Any]]:
    """Closed windows (as emitted) and open windows (running) of ``key``, by window start."""
    out: list[dict[str, Any]] = []
    prefix = CLOSED_PREFIX + orjson.dumps(list(key))[:-1] + b","
    for _, value in partition_items(agg.table, partition, prefix):
        record = orjson.loads(value)
        out.append({**record, "closed": True})
    state = agg.peek(partition, now_ms)
    for wid, window in state.open_windows.items():
        if wid.key != key:
            continue
        rng = window_at(wid.start_ms, agg.aggregate.window)
        record = record_for(agg.aggregate, key, rng, window.accumulator)
        out.append({**record, "closed": False})
    out.sort(key=lambda r: int(r["window_start"]))
    return out


def _recovering(rt: Runtime) -> bool:
    """Whether Faust is rebalancing or restoring tables on this worker (reads are incomplete)."""
    app: Any = rt.app
    return bool(getattr(app, "rebalancing", False) or getattr(app, "in_recovery", False))


def _answering(agg: AggregateRuntime, partition: int, now_ms: int) -> AggregateRuntime:
    """The version that answers: the previous one while the new one holds, if keyed alike."""
    answering = agg.answering(partition, now_ms)
    if answering.aggregate.key_paths != agg.aggregate.key_paths:
        return agg  # the request's key means something else to the previous version
    return answering


def _backfill_info(agg: AggregateRuntime) -> dict[str, Any]:
    """What a holding answer says about the backfill: the new version and where it starts."""
    decision = agg.gate.state.decision(agg.name, agg.aggregate.version)
    return {
        "version": agg.aggregate.version,
        "from": decision.from_text if decision is not None else None,
        "previous": agg.previous.aggregate.version if agg.previous is not None else None,
    }


def install(rt: Runtime) -> None:
    """Register ``GET /aggregates/{name}``."""

    async def aggregates(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        agg: AggregateRuntime | None = rt.aggregates.get(name)
        if agg is None:
            return _json(404, {"error": f"unknown aggregate {name!r}"}, rt)
        key = tuple(request.query.getall("key", []))
        if len(key) != len(agg.aggregate.key_fields):
            fields = ", ".join(agg.aggregate.key_fields)
            return _json(400, {"error": f"give one key= per key field ({fields})"}, rt)
        try:
            start, end = _bound(request.query.get("from")), _bound(request.query.get("to"))
        except ValueError:
            return _json(400, {"error": "from/to must be ISO-8601 or epoch milliseconds"}, rt)
        pkey = partial_key(key)
        table_name = f"windows-{agg.name}-{agg.aggregate.version}"

        async def serve() -> web.Response:
            if not agg.gate.loaded:  # holding or not is unknown until the control log is read
                return _json(503, {"error": "aggregate state is still loading; retry"}, rt)
            if _recovering(rt):  # the table is still being restored: its windows are incomplete
                return _json(503, {"error": "aggregate state is being recovered; retry"}, rt)
            partition = _partition(pkey, rt.settings.topic_partitions)
            now_ms = int(time.time() * 1000)
            answering = _answering(agg, partition, now_ms)
            rows = [
                r
                for r in windows_of(answering, key, partition, now_ms)
                if (start is None or int(r["window_start"]) >= start)
                and (end is None or int(r["window_start"]) < end)
            ][:MAX_WINDOWS]
            holding = agg.peek(partition, now_ms).holding
            body: dict[str, Any] = {
                "aggregate": agg.name,
                "version": answering.aggregate.version,
                "serving": "current" if answering is agg else "previous",
                "key": dict(zip(answering.aggregate.key_fields, key, strict=True)),
                "windows": rows,
                "backfilling": holding,
            }
            if holding:
                body["backfill"] = _backfill_info(agg)
            return _json(200, body, rt)

        return await route_or_serve(rt, request, table_name, pkey, serve)

    rt.web_app.router.add_get("/aggregates/{name}", aggregates)
