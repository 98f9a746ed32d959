"""A minimal Confluent-compatible schema registry for tests (no registry server installs here).

Implements the two calls a producer and a consumer make: register a schema under a subject
(``POST /subjects/{subject}/versions`` -> ``{"id": n}``) and fetch a schema by id
(``GET /schemas/ids/{id}`` -> ``{"schema": "..."}``). Runs in a thread on a free local port.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field

from aiohttp import web

from tests.support.workers import free_port


@dataclass
class FakeRegistry:
    port: int = field(default_factory=free_port)
    schemas: dict[int, str] = field(default_factory=dict)
    subjects: dict[str, list[int]] = field(default_factory=dict)
    _loop: asyncio.AbstractEventLoop | None = None
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _register(self, request: web.Request) -> web.Response:
        body = await request.json()
        text = body["schema"]
        known = {schema: sid for sid, schema in self.schemas.items()}
        sid = known.get(text, len(self.schemas) + 1)
        self.schemas[sid] = text
        self.subjects.setdefault(request.match_info["subject"], []).append(sid)
        return web.json_response({"id": sid})

    async def _by_id(self, request: web.Request) -> web.Response:
        sid = int(request.match_info["id"])
        if sid not in self.schemas:
            return web.json_response({"error_code": 40403}, status=404)
        return web.json_response({"schema": self.schemas[sid]})

    def start(self) -> None:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            app = web.Application()
            app.router.add_post("/subjects/{subject}/versions", self._register)
            app.router.add_get("/schemas/ids/{id}", self._by_id)
            self._runner = web.AppRunner(app)
            loop.run_until_complete(self._runner.setup())
            loop.run_until_complete(web.TCPSite(self._runner, "127.0.0.1", self.port).start())
            ready.set()
            loop.run_forever()

        threading.Thread(target=run, daemon=True).start()
        ready.wait(10)

    def stop(self) -> None:
        if self._loop is not None and self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
