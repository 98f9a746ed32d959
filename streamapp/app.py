"""The Faust app: settings in, every stage, table and web route wired.

``faust -A streamapp.app worker`` and ``streamapp worker`` both load the module-level ``app``.
This module only assembles: stage logic lives in the stage packages (``ingest/``,
``identify/``, ``profiles/``, ``windows/``, ``sink/``), web routes in ``views/``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import faust
from aiohttp import web

from streamapp import gc_tuning, malloc_arenas, provision
from streamapp.config import Settings, default_worker_id, heartbeat_interval_s, load_settings
from streamapp.observability.metrics import Metrics, create_metrics
from streamapp.observability.observed import Observed

if TYPE_CHECKING:
    from streamapp.ingest.reader import EventsReader

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Runtime:
    """What every edge (agent, view) of one worker shares: settings, metrics, app, tables.

    Built once per process in :func:`create_app`; stages receive it instead of reading globals.
    """

    settings: Settings
    metrics: Metrics
    worker_id: str
    app: StreamApp
    tables: dict[str, Any] = field(default_factory=dict)
    aggregate_names: tuple[str, ...] = ()
    aggregates: dict[str, Any] = field(default_factory=dict)
    partition_stages: dict[str, list[tuple[str, Any]]] = field(default_factory=dict)
    """Topic -> the (stage, per-partition handler) pairs that read it through one shared agent."""
    observed: Observed = field(default_factory=Observed)
    start_hooks: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    """Run once when the worker starts, after its topics exist and before any table recovers
    (the last moment a table can still be declared)."""
    stop_hooks: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    """Run when the worker stops, before Faust stops its consumer and producer."""
    events_reader: EventsReader | None = None
    """The validate stage's own consumer of ``events`` (:mod:`streamapp.ingest.reader`)."""

    @property
    def web_app(self) -> web.Application:
        """The worker's aiohttp application (Faust's web server), to add routes and middleware."""
        return cast(web.Application, cast(Any, self.app.web).web_app)


class StreamApp(faust.App):
    """Faust's App plus one duty: create our topics before any consumer starts."""

    runtime: Runtime

    async def on_first_start(self) -> None:
        """Tune the collector, create every topic (never broker auto-create), start, freeze."""
        rt = self.runtime
        gc_tuning.tune()
        rt.settings.data_dir.mkdir(parents=True, exist_ok=True)
        await super().on_first_start()
        specs = provision.required_topics(
            rt.settings, tables=rt.tables.keys(), aggregates=rt.aggregate_names
        )
        await provision.create_topics(rt.settings, specs)
        for hook in rt.start_hooks:
            await hook()
        gc_tuning.freeze_startup_objects()

    async def on_stop(self) -> None:
        """Run the stop hooks (the validate reader leaves its group), then Faust's own stop."""
        for hook in self.runtime.stop_hooks:
            try:
                await hook()
            except Exception:
                log.exception("a stop hook failed; stopping anyway")
        await super().on_stop()


PRODUCER_LINGER_MS = 5
"""How long the producer waits to fill a batch; a few ms per hop buys far fewer produce requests.

Faust's defaults (no linger, 16 KB batches, ~35 of our events) send a request per handful of
records, and under the benchmark a quarter of a worker's CPU went to writing produce requests
(py-spy, README "Benchmarks"). The delivery contract is unchanged: acks=all, and Faust flushes the
producer before it commits offsets.
"""
PRODUCER_MAX_BATCH_BYTES = 256 * 1024
"""Largest producer batch per partition."""


def faust_broker_url(settings: Settings) -> str:
    """Faust's broker URL list for the bootstrap servers (``kafka://a;kafka://b``)."""
    hosts = [h.strip() for h in settings.kafka_bootstrap_servers.split(",") if h.strip()]
    return ";".join(f"kafka://{h}" for h in hosts)


def bulk_store_url() -> str:
    """The store URL of every table: registered here, before Faust resolves it."""
    from streamapp.state import bulk_restore

    bulk_restore.register()
    return f"{bulk_restore.SCHEME}://"


def create_app(settings: Settings) -> StreamApp:
    """Build the app for one worker process."""
    worker_data = settings.data_dir / f"worker-{settings.web_port}"
    app = StreamApp(
        settings.app_id,
        broker=faust_broker_url(settings),
        # Faust's RocksDB store ("rocksdb://", on rocksdict) plus a bulk rebuild from the
        # changelog before Faust's per-record recovery: see streamapp.state.bulk_restore.
        store=bulk_store_url(),
        datadir=str(worker_data),
        autodiscover=False,
        web_enabled=True,
        web_host=settings.web_host,
        web_port=settings.web_port,
        canonical_url=settings.web_url,
        web_tables_enabled=False,
        web_router_enabled=False,
        web_graph_enabled=False,
        web_stats_enabled=False,
        web_metrics_enabled=False,
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.replication_factor,
        topic_allow_declare=True,
        table_standby_replicas=settings.standby_replicas,
        producer_acks=-1,
        producer_linger_ms=PRODUCER_LINGER_MS,
        producer_max_batch_size=PRODUCER_MAX_BATCH_BYTES,
        consumer_auto_offset_reset="earliest",
        stream_buffer_maxsize=settings.batch_max_events * 2,
        broker_commit_every=settings.batch_max_events,
        # Faust's 60 s default leaves a killed worker's partitions idle for a minute.
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=heartbeat_interval_s(settings),
        logging_config=None,
    )
    runtime = Runtime(
        settings=settings,
        metrics=create_metrics(),
        worker_id=default_worker_id(settings),
        app=app,
    )
    app.runtime = runtime

    from streamapp import pipeline

    pipeline.install(runtime)
    return app


malloc_arenas.limit()  # before any thread: `faust -A streamapp.app worker` starts here too
app = create_app(load_settings())
