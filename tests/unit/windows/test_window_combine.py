import orjson

from streamapp.events import JSON, Event, EventType, Origin
from streamapp.windows.combine import Combiner, Extractor, Outcome, Partial
from streamapp.windows.declare import (
    Aggregate,
    Count,
    DistinctUsers,
    Hopping,
    Max,
    Sum,
    Tumbling,
)

HOUR_MS = 3_600_000

REVENUE = Aggregate(
    name="revenue_per_product_hourly",
    events=("Order Completed",),
    key=("properties.product_id",),
    window=Tumbling(size_s=3600),
    grace_s=300,
    measures=(Count(), Sum("properties.revenue"), Max("properties.revenue"), DistinctUsers()),
)


def track(
    name: str,
    t: int,
    properties: dict[str, JSON] | None = None,
    *,
    user: str | None = "u1",
    anonymous: str | None = None,
) -> Event:
    props: dict[str, JSON] = properties or {}
    body: dict[str, JSON] = {
        "type": "track",
        "event": name,
        "userId": user,
        "properties": props,
        "context": {"library": {"name": "analytics-python"}, "device": {"type": "ios"}},
    }
    return Event(
        type=EventType.TRACK,
        message_id=f"m{t}",
        event_time_ms=t,
        received_at_ms=t,
        user_id=user,
        anonymous_id=anonymous,
        event=name,
        properties=props,
        body=body,
    )


def test_extractor_resolves_keys_and_numbers() -> None:
    ex = Extractor.of(REVENUE)
    event = track("Order Completed", 0, {"product_id": 42, "revenue": 9.5})
    assert ex.selects(event)
    assert not ex.selects(track("Product Viewed", 0, {"product_id": 42}))
    assert ex.key_of(event) == ("42",)
    values = ex.values_of(event, "canonical")
    assert dict(values.numbers) == {"properties.revenue": 9.5}
    assert values.user_id == "canonical"
    assert ex.values_of(event).user_id == "u1"
    assert ex.values_of(track("X", 0, user=None, anonymous="a1")).user_id == "a1"


def test_key_rendering() -> None:
    ex = Extractor.of(REVENUE)

    def key(value: JSON) -> tuple[str, ...] | None:
        return ex.key_of(track("Order Completed", 0, {"product_id": value}))

    assert key("sku-1") == ("sku-1",)
    assert key(7) == key(7.0) == ("7",)
    assert key(1.5) == ("1.5",)
    assert key(True) == ("true",)
    assert key({"b": 1, "a": [2]}) == ('{"a":[2],"b":1}',)
    assert key("") == ("",)
    assert key(None) is None


def test_context_and_event_paths() -> None:
    agg = Aggregate(
        name="n",
        key=("event", "context.device.type", "type"),
        window=Tumbling(size_s=60),
        grace_s=0,
        measures=(Count(),),
    )
    ex = Extractor.of(agg)
    assert ex.key_of(track("Signed Up", 0)) == ("Signed Up", "ios", "track")
    page = Event(type=EventType.PAGE, message_id="p", event_time_ms=0, received_at_ms=0)
    assert ex.key_of(page) is None  # no context.device.type


def test_combiner_skips_unselected_and_keyless_events_and_ignores_bad_numbers() -> None:
    combiner = Combiner(REVENUE)
    add = combiner.add
    assert (
        add(track("Product Viewed", 0), correlation_id="c0", size_bytes=10) is Outcome.NOT_SELECTED
    )
    assert add(track("Order Completed", 1, {}), correlation_id="c1", size_bytes=10) is (
        Outcome.MISSING_KEY
    )
    ok = track("Order Completed", 2, {"product_id": "p", "revenue": "12.50"})
    assert add(ok, correlation_id="c2", size_bytes=10) is Outcome.ADDED
    ok2 = track("Order Completed", 3, {"product_id": "p", "revenue": 5}, user="u2")
    assert add(ok2, correlation_id="c3", size_bytes=10, origin=Origin("t", 0, 3)) is Outcome.ADDED
    (partial,) = combiner.drain()
    assert partial.key == ("p",)
    acc = partial.windows[0]
    assert acc.count == 2
    assert acc.sum_of("properties.revenue") == 5.0
    assert acc.users.keys() == {"u1", "u2"}
    assert [c.correlation_id for c in partial.contributions] == ["c2", "c3"]
    assert partial.contributions[1].origin == Origin("t", 0, 3)
    body = orjson.loads(partial.contributions[0].body_json)
    assert body["properties"] == {"product_id": "p", "revenue": "12.50"}
    assert combiner.drain() == []


def test_hopping_events_land_in_every_window() -> None:
    agg = Aggregate(
        name="n",
        key=(),
        window=Hopping(size_s=3600, step_s=900),
        grace_s=0,
        measures=(Count(),),
    )
    combiner = Combiner(agg)
    combiner.add(track("X", HOUR_MS), correlation_id="c", size_bytes=1)
    (partial,) = combiner.drain()
    assert partial.key == ()
    assert sorted(partial.windows) == [900_000, 1_800_000, 2_700_000, 3_600_000]
    assert all(acc.count == 1 for acc in partial.windows.values())


def test_partials_are_cut_at_the_byte_budget_and_keep_offset_order() -> None:
    combiner = Combiner(REVENUE, max_partial_bytes=100)
    for i in range(5):
        event = track("Order Completed", i, {"product_id": "p"})
        combiner.add(event, correlation_id=f"c{i}", size_bytes=40, origin=Origin("t", 0, i))
    combiner.add(track("Order Completed", 9, {"product_id": "q"}), correlation_id="q", size_bytes=1)
    partials = combiner.drain()
    p_parts = [p for p in partials if p.key == ("p",)]
    assert [[c.correlation_id for c in p.contributions] for p in p_parts] == [
        ["c0", "c1"],
        ["c2", "c3"],
        ["c4"],
    ]
    assert sum(p.windows[0].count for p in p_parts) == 5


def test_partial_json_round_trip() -> None:
    combiner = Combiner(REVENUE)
    for i in range(3):
        event = track("Order Completed", i * HOUR_MS, {"product_id": "p", "revenue": 1.25 * i})
        combiner.add(event, correlation_id=f"c{i}", size_bytes=1, origin=Origin("t", 2, i))
    (partial,) = combiner.drain()
    restored = Partial.from_json(orjson.loads(orjson.dumps(partial.to_json())))
    assert restored == partial
