from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from streamapp.config import SETTINGS_SPEC, load_settings, render_env_example
from streamapp.errors import ConfigurationError

REPO = Path(__file__).resolve().parents[3]


def test_defaults_are_the_documented_ones() -> None:
    s = load_settings({})
    assert s.kafka_bootstrap_servers == "127.0.0.1:9092"
    assert s.web_port == 6066
    assert s.write_keys == frozenset({"dev-write-key"})
    assert s.topics.events == "events"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("STREAMAPP_TOPIC_PARTITIONS", "-1"),
        ("STREAMAPP_TOPIC_PARTITIONS", "eight"),
        ("STREAMAPP_WEB_PORT", "70000"),
        ("STREAMAPP_REPLICATION_FACTOR", "0"),
        ("STREAMAPP_WRITE_KEYS", " , "),
        ("STREAMAPP_DLQ_MAX_RATIO", "1.5"),
        ("STREAMAPP_LOG_LEVEL", "LOUD"),
    ],
)
def test_an_invalid_value_names_the_variable(variable: str, value: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        load_settings({variable: value})
    assert info.value.variable == variable
    assert variable in str(info.value) and repr(value) in str(info.value)


def test_min_insync_cannot_exceed_replication() -> None:
    with pytest.raises(ConfigurationError) as info:
        load_settings({"STREAMAPP_MIN_INSYNC_REPLICAS": "2"})
    assert info.value.variable == "STREAMAPP_MIN_INSYNC_REPLICAS"


def test_env_example_lists_every_variable_with_its_default() -> None:
    assert (REPO / ".env.example").read_text() == render_env_example()


def test_docker_compose_runs_kafka_and_workers_configured_by_settings() -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    services = compose["services"]
    assert services["kafka"]["image"] == "apache/kafka:3.9.2"
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    known = {v.env for v in SETTINGS_SPEC}
    workers = [s for name, s in services.items() if name.startswith("worker")]
    assert len(workers) >= 2
    for worker in workers:
        assert worker["build"] == "."
        env = worker["environment"]
        assert set(env) <= known, set(env) - known
        assert env["STREAMAPP_KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
        load_settings({k: str(v) for k, v in env.items() if "${" not in str(v)})
    assert (REPO / "Dockerfile").read_text().count("streamapp") >= 2
