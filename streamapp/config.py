"""Settings: every ``STREAMAPP_*`` environment variable, read once at process start.

Twelve-factor: all that differs between a laptop and a cluster comes from here. The table
:data:`SETTINGS_SPEC` is the single list of variables; ``.env.example`` is generated from it and a
test keeps the two equal. Nothing else in the project reads ``os.environ`` for configuration.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streamapp.errors import ConfigurationError
from streamapp.topics import TopicNames


@dataclass(frozen=True, slots=True)
class Settings:
    """The frozen settings of one process. Build it with :func:`load_settings`."""

    app_id: str
    topic_prefix: str
    kafka_bootstrap_servers: str
    topic_partitions: int
    replication_factor: int
    min_insync_replicas: int
    standby_replicas: int
    data_dir: Path
    web_host: str
    web_port: int
    web_advertised_host: str
    write_keys: frozenset[str]
    api_token: str
    topologies_dir: Path
    dedupe_horizon_s: int
    counter_days_retained: int
    known_ids_max: int
    dlq_max_ratio: float
    dlq_window: int
    trace_sample_rate: float
    trace_retention_ms: int
    max_event_bytes: int
    max_batch_bytes: int
    ingest_max_in_flight: int
    batch_max_events: int
    batch_within_s: float
    window_idle_timeout_s: float
    session_timeout_s: float
    bulk_restore_min_records: int
    rocksdb_cache_mb: int
    rocksdb_write_buffers_mb: int
    schema_registry_url: str | None
    broker_home: Path
    broker_heap_mb: int
    log_level: str

    @property
    def topics(self) -> TopicNames:
        """The topic names of this deployment."""
        return TopicNames(self.topic_prefix)

    @property
    def web_url(self) -> str:
        """The URL other workers use to reach this worker's web server."""
        return f"http://{self.web_advertised_host}:{self.web_port}"


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value < 1:
        raise ValueError("must be a whole number >= 1")
    return value


def _non_negative_int(raw: str) -> int:
    value = int(raw)
    if value < 0:
        raise ValueError("must be a whole number >= 0")
    return value


def _port(raw: str) -> int:
    value = int(raw)
    if not 1 <= value <= 65535:
        raise ValueError("must be a TCP port between 1 and 65535")
    return value


def _ratio(raw: str) -> float:
    value = float(raw)
    if not 0.0 <= value <= 1.0:
        raise ValueError("must be a number between 0 and 1")
    return value


def _positive_float(raw: str) -> float:
    value = float(raw)
    if not value > 0:
        raise ValueError("must be a number > 0")
    return value


def _text(raw: str) -> str:
    if not raw.strip():
        raise ValueError("must not be empty")
    return raw.strip()


def _optional_text(raw: str) -> str | None:
    return raw.strip() or None


def _path(raw: str) -> Path:
    return Path(_text(raw)).expanduser()


def _keys(raw: str) -> frozenset[str]:
    keys = frozenset(k.strip() for k in raw.split(",") if k.strip())
    if not keys:
        raise ValueError("must list at least one write key (comma-separated)")
    return keys


def _level(raw: str) -> str:
    level = raw.strip().upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR")
    return level


@dataclass(frozen=True, slots=True)
class Variable:
    """One environment variable: its name, default, parser and meaning."""

    field: str
    default: str
    parse: Callable[[str], Any]
    doc: str

    @property
    def env(self) -> str:
        """The environment variable's name."""
        return "STREAMAPP_" + self.field.upper()


SETTINGS_SPEC: tuple[Variable, ...] = (
    Variable(
        "app_id", "streamapp", _text, "Faust app id: consumer group and topic prefix of tables"
    ),
    Variable("topic_prefix", "", str.strip, "prefix of every topic name (share one cluster)"),
    Variable("kafka_bootstrap_servers", "127.0.0.1:9092", _text, "Kafka bootstrap servers"),
    Variable("topic_partitions", "8", _positive_int, "partitions of every topic streamapp creates"),
    Variable("replication_factor", "1", _positive_int, "replication factor of created topics"),
    Variable("min_insync_replicas", "1", _positive_int, "min.insync.replicas of created topics"),
    Variable("standby_replicas", "1", _non_negative_int, "standby replicas of each table"),
    Variable("data_dir", "./var", _path, "local state: RocksDB tables, broker data, logs"),
    Variable("web_host", "127.0.0.1", _text, "address the worker's web server binds"),
    Variable("web_port", "6066", _port, "port of the worker's web server"),
    Variable(
        "web_advertised_host", "127.0.0.1", _text, "host name other workers use to reach this one"
    ),
    Variable("write_keys", "dev-write-key", _keys, "comma-separated Segment write keys accepted"),
    Variable("api_token", "dev-token", _text, "bearer token for views, ops and the UI"),
    Variable("topologies_dir", "./topologies", _path, "folder of aggregate declarations"),
    Variable("dedupe_horizon_s", "86400", _positive_int, "messageId dedupe horizon, seconds"),
    Variable("counter_days_retained", "90", _positive_int, "per-UTC-day counter days kept"),
    Variable("known_ids_max", "50", _positive_int, "anonymous ids kept per profile"),
    Variable("dlq_max_ratio", "0.5", _ratio, "share of recent records rejected that trips breaker"),
    Variable("dlq_window", "1000", _positive_int, "how many recent records the breaker looks at"),
    Variable("trace_sample_rate", "0.0", _ratio, "share of accepted events traced (0..1)"),
    Variable("trace_retention_ms", "604800000", _positive_int, "retention of the trace topic"),
    Variable("max_event_bytes", "32768", _positive_int, "largest accepted event, bytes"),
    Variable("max_batch_bytes", "512000", _positive_int, "largest accepted /v1/batch body, bytes"),
    Variable("ingest_max_in_flight", "20000", _positive_int, "events awaiting acks before 429"),
    Variable("batch_max_events", "2000", _positive_int, "events a stage handles per batch"),
    Variable("batch_within_s", "0.02", _positive_float, "longest wait to fill a batch, seconds"),
    Variable("window_idle_timeout_s", "10", _positive_float, "idle partition closes windows after"),
    Variable(
        "session_timeout_s", "10", _positive_float, "a dead worker's partitions move after, seconds"
    ),
    Variable(
        "bulk_restore_min_records",
        "5000",
        _positive_int,
        "changelog tails at least this long are restored in bulk before Faust's recovery",
    ),
    Variable(
        "rocksdb_cache_mb",
        "256",
        _positive_int,
        "block cache shared by all of a worker's tables, MB",
    ),
    Variable(
        "rocksdb_write_buffers_mb",
        "64",
        _positive_int,
        "memtables of all of a worker's tables together, MB (then the largest is flushed)",
    ),
    Variable("schema_registry_url", "", _optional_text, "Confluent registry; empty: single-object"),
    Variable("broker_home", "~/.cache/streamapp/kafka-3.9.2", _path, "embedded broker jar cache"),
    Variable("broker_heap_mb", "512", _positive_int, "embedded broker JVM heap, MB"),
    Variable("log_level", "INFO", _level, "log level of streamapp's own loggers"),
)


def heartbeat_interval_s(settings: Settings) -> float:
    """Group heartbeats: a third of the session timeout, at most 3 s (Faust's and validate's)."""
    return min(3.0, settings.session_timeout_s / 3)


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read every ``STREAMAPP_*`` variable once.

    Raises:
        ConfigurationError: naming the first invalid variable.

    """
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for var in SETTINGS_SPEC:
        raw = env.get(var.env, var.default)
        try:
            values[var.field] = var.parse(raw)
        except ValueError as exc:
            reason = str(exc)
            if "invalid literal" in reason or "could not convert" in reason:
                reason = "not a number"
            raise ConfigurationError(var.env, raw, reason) from None
    if values["min_insync_replicas"] > values["replication_factor"]:
        raise ConfigurationError(
            "STREAMAPP_MIN_INSYNC_REPLICAS",
            str(values["min_insync_replicas"]),
            "must not exceed STREAMAPP_REPLICATION_FACTOR",
        )
    return Settings(**values)


def default_worker_id(settings: Settings) -> str:
    """A worker id that tells hosts and ports apart."""
    return f"{socket.gethostname()}:{settings.web_port}"


def render_env_example() -> str:
    """The text of ``.env.example``: every variable, its default and meaning."""
    lines = [
        "# Every setting streamapp reads, with its default. Copy to .env and change what differs.",
        "# Generated from streamapp/config.py (SETTINGS_SPEC); a test keeps the two equal.",
        "",
    ]
    for var in SETTINGS_SPEC:
        lines.append(f"# {var.doc}")
        lines.append(f"{var.env}={var.default}")
    return "\n".join(lines) + "\n"
