"""Wire the dataflow into one worker: topics, tables, agents and web routes, in dataflow order.

Each stage package exposes ``install(runtime)``; this module calls them in the order data meets
them, so reading it is reading ARCHITECTURE.md's diagram.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from streamapp.app import Runtime


def install(rt: Runtime) -> None:
    """Install every stage and route on the runtime's app."""
    from streamapp.identify import agent as identify_stage
    from streamapp.ingest import agent as validate_stage
    from streamapp.ingest import http as ingest_http
    from streamapp.observability import sampler
    from streamapp.profiles import agent as profiles_stage
    from streamapp.ui import routes as ui
    from streamapp.views import aggregates, auth, health, openapi, profiles
    from streamapp.windows import agent as windows_stage

    auth.install(rt)  # bearer token on every route but health, metrics and ingest
    health.install(rt)
    ingest_http.install(rt)  # POST /v1/*  -> topic events
    validate_stage.install(rt)  # ① events -> events.identify | events.dlq
    identify_stage.install(rt)  # ② events.identify -> events.identified (table identities)
    profiles_stage.install(rt)  # ③④ events.identified -> table profiles (profile + counters)
    windows_stage.install(rt)  # ⑤⑥ events.identified -> windows.<name> -> aggregates.<name>
    profiles.install(rt)  # GET /profiles/{id}, /counters/{id}
    aggregates.install(rt)  # GET /aggregates/{name}
    openapi.install(rt)  # GET /openapi.json
    ui.install(rt)  # /ui: the operator web UI
    sampler.install(rt)  # rates, lag, table sizes, recovery -> /metrics and /ui
