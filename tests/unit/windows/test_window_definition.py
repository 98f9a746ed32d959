"""Rebuilding an aggregate from the definition its version recorded on the control log."""

from pathlib import Path

import orjson
import pytest

from streamapp.windows.declare import (
    Aggregate,
    Count,
    DistinctUsers,
    Hopping,
    Key,
    Max,
    Min,
    Sum,
    Tumbling,
)
from streamapp.windows.definition import DefinitionError, aggregate_from_definition
from streamapp.windows.load import load_topologies

TOPOLOGIES = Path(__file__).resolve().parents[3] / "topologies"

DECLARED = [
    Aggregate(
        name="plain",
        key=("properties.plan",),
        window=Tumbling(size_s=10),
        grace_s=10,
        measures=(Count(), DistinctUsers()),
    ),
    Aggregate(
        name="every_default_overridden",
        events=("Order Completed", "Product Added"),
        key=(Key("context.library.name", as_="platform"), "properties.currency"),
        window=Hopping(size_s=3600, step_s=600),
        grace_s=0,
        measures=(
            Count(as_="n"),
            Sum("properties.revenue"),
            Min("properties.revenue", as_="cheapest"),
            Max("properties.revenue"),
            DistinctUsers(as_="buyers"),
        ),
    ),
    Aggregate(  # two keys ending alike: the default field names take the whole path
        name="clashing_keys",
        key=("context.device.type", "properties.type"),
        window=Tumbling(size_s=60),
        grace_s=5,
        measures=(Count(),),
    ),
]


@pytest.mark.parametrize("aggregate", DECLARED, ids=lambda a: a.name)
def test_round_trip_keeps_version_and_definition(aggregate: Aggregate) -> None:
    recorded = orjson.loads(orjson.dumps(aggregate.definition()))  # as read from the log
    rebuilt = aggregate_from_definition(recorded, aggregate.version)
    assert rebuilt.version == aggregate.version
    assert rebuilt.definition() == aggregate.definition()
    assert rebuilt.key_fields == aggregate.key_fields
    assert [m.output_name for m in rebuilt.measures] == [m.output_name for m in aggregate.measures]


def test_round_trip_of_every_shipped_topology() -> None:
    for aggregate in load_topologies(TOPOLOGIES):
        rebuilt = aggregate_from_definition(aggregate.definition(), aggregate.version)
        assert rebuilt.version == aggregate.version


def test_another_version_is_refused() -> None:
    with pytest.raises(DefinitionError, match="hashes to"):
        aggregate_from_definition(DECLARED[0].definition(), "00000000")


@pytest.mark.parametrize(
    "change",
    [
        {"window": {"kind": "sliding", "size_s": 10}},
        {"measures": [{"kind": "median", "as": "m"}]},
        {"measures": []},
        {"grace_s": "10"},
        {"key": ["properties.plan", "extra"]},
        {"name": None},
    ],
)
def test_malformed_definitions_are_refused(change: dict[str, object]) -> None:
    definition = {**DECLARED[0].definition(), **change}
    with pytest.raises(DefinitionError):
        aggregate_from_definition(definition, DECLARED[0].version)  # type: ignore[arg-type]


def test_missing_field_is_refused() -> None:
    definition = dict(DECLARED[0].definition())
    del definition["window"]
    with pytest.raises(DefinitionError):
        aggregate_from_definition(definition, DECLARED[0].version)
