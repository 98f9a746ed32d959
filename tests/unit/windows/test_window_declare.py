import pytest

from streamapp.errors import TopologyError
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


def revenue(**changes: object) -> Aggregate:
    fields: dict[str, object] = {
        "name": "revenue_per_product_hourly",
        "events": ("Order Completed",),
        "key": ("properties.product_id",),
        "window": Tumbling(size_s=3600),
        "grace_s": 300,
        "measures": (
            Count(),
            Sum("properties.revenue"),
            Max("properties.revenue"),
            DistinctUsers(),
        ),
    }
    fields.update(changes)
    return Aggregate(**fields)  # type: ignore[arg-type]


def test_output_names_are_derived_and_overridable() -> None:
    agg = revenue()
    assert [m.output_name for m in agg.measures] == [
        "count",
        "sum_revenue",
        "max_revenue",
        "distinct_users",
    ]
    assert agg.key_fields == ("product_id",)
    assert Min("properties.load-time", as_="fastest").output_name == "fastest"
    assert Min("properties.load-time").output_name == "min_load_time"
    assert agg.numeric_paths == ("properties.revenue",)
    assert agg.counts_users


def test_version_is_stable_short_and_changes_with_the_definition() -> None:
    assert revenue().version == revenue().version
    assert len(revenue().version) == 8
    assert revenue().version != revenue(grace_s=301).version
    assert revenue().version != revenue(measures=(Count(),)).version
    # the order of event names means nothing
    a = revenue(events=("A", "B"))
    b = revenue(events=("B", "A"))
    assert a.version == b.version


def test_lists_become_tuples() -> None:
    agg = revenue(events=["Order Completed"], key=["properties.product_id"], measures=[Count()])
    assert agg.events == ("Order Completed",)
    assert agg.key == ("properties.product_id",)
    assert agg.measures == (Count(),)


def test_colliding_key_names_fall_back_to_the_whole_path() -> None:
    agg = revenue(key=("properties.type", "context.device.type", "properties.window_start"))
    assert agg.key_fields == ("properties_type", "context_device_type", "properties_window_start")
    assert revenue(key=(Key("context.library.name", as_="platform"),)).key_fields == ("platform",)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"name": "bad-name"}, "name"),
        ({"name": "1abc"}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"window": Tumbling(size_s=0)}, "window.size_s"),
        ({"window": Tumbling(size_s=1.5)}, "window.size_s"),
        ({"window": Hopping(size_s=3600, step_s=7200)}, "window.step_s"),
        ({"window": Hopping(size_s=3600, step_s=7)}, "window.step_s"),
        ({"window": Hopping(size_s=86_400, step_s=1)}, "window.step_s"),
        ({"window": "hourly"}, "window"),
        ({"grace_s": -1}, "grace_s"),
        ({"events": "Order Completed"}, "events"),
        ({"events": ("",)}, "events[0]"),
        ({"key": "properties.product_id"}, "key"),
        ({"key": ("",)}, "key[0]"),
        ({"key": ("properties",)}, "key[0]"),
        ({"key": ("properties..x",)}, "key[0]"),
        ({"key": ("userId.x",)}, "key[0]"),
        ({"key": ("body.x",)}, "key[0]"),
        ({"key": ("event", "event")}, "key[1]"),
        ({"key": (Key("event", as_="bad name"),)}, "key[0].as_"),
        ({"key": (Key("event", as_="window_end"),)}, "key[0]"),
        ({"measures": ()}, "measures"),
        ({"measures": (Count(), "median")}, "measures[1]"),
        ({"measures": (Sum("revenue"),)}, "measures[0].path"),
        ({"measures": (Count(), Count())}, "measures[1]"),
        ({"measures": (Count(as_="product_id"),)}, "measures[0]"),
        ({"measures": (Count(as_="window_start"),)}, "measures[0]"),
        ({"measures": (Count(as_="no spaces"),)}, "measures[0].as_"),
    ],
)
def test_invalid_declarations_name_the_field(changes: dict[str, object], field: str) -> None:
    with pytest.raises(TopologyError) as caught:
        revenue(**changes)
    assert caught.value.field == field
    assert caught.value.reason


def test_unknown_measure_lists_the_known_ones() -> None:
    class Median:
        as_ = None

    with pytest.raises(TopologyError, match="unknown measure Median; known: Count, Sum"):
        revenue(measures=(Median(),))
