import io
from datetime import UTC, datetime

import fastavro
import orjson
import pytest
from fastavro.schema import fingerprint, parse_schema, to_parsing_canonical_form
from hypothesis import given
from hypothesis import strategies as st

from streamapp.sink.avro import (
    AvroDecodeError,
    AvroSchema,
    decode_confluent,
    decode_single_object,
    encode_confluent,
    encode_single_object,
    fingerprint_hex,
    record_for,
    record_key,
    schema_for,
)
from streamapp.windows.accumulator import Accumulator, EventValues
from streamapp.windows.assign import WindowRange
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

REVENUE = Aggregate(
    name="revenue_per_product_hourly",
    events=("Order Completed",),
    key=("properties.product_id", Key("context.library.name", as_="platform")),
    window=Tumbling(size_s=3600),
    grace_s=300,
    measures=(
        Count(),
        Sum("properties.revenue"),
        Min("properties.revenue"),
        Max("properties.revenue"),
        DistinctUsers(),
    ),
)
WINDOW = WindowRange(1_699_999_200_000, 1_700_002_800_000)  # an hour, aligned


def accumulator(*revenues: float | None) -> Accumulator:
    acc = Accumulator()
    for i, revenue in enumerate(revenues):
        numbers = {} if revenue is None else {"properties.revenue": revenue}
        acc.add(EventValues(numbers, f"u{i % 2}"))
    return acc


def test_schema_shape() -> None:
    schema = schema_for(REVENUE)
    assert schema["name"] == "revenue_per_product_hourly"
    assert schema["namespace"] == "streamapp.aggregates"
    fields = {f["name"]: f["type"] for f in schema["fields"]}  # type: ignore[index,union-attr]
    assert list(fields) == [
        "product_id",
        "platform",
        "window_start",
        "window_end",
        "count",
        "sum_revenue",
        "min_revenue",
        "max_revenue",
        "distinct_users",
        "aggregate_version",
    ]
    assert fields["product_id"] == "string"
    assert fields["window_start"] == {"type": "long", "logicalType": "timestamp-millis"}
    assert fields["count"] == "long"
    assert fields["sum_revenue"] == ["null", "double"]
    assert fields["distinct_users"] == "long"
    parse_schema(schema)  # valid Avro


def test_the_shipped_shapes_are_valid_avro() -> None:
    hopping = Aggregate(
        name="h", key=(), window=Hopping(size_s=60, step_s=30), grace_s=0, measures=(Count(),)
    )
    parse_schema(schema_for(hopping))


def test_record_for_a_closed_window() -> None:
    record = record_for(REVENUE, ("sku-1", "analytics.js"), WINDOW, accumulator(10.0, 2.5, None))
    assert record == {
        "product_id": "sku-1",
        "platform": "analytics.js",
        "window_start": WINDOW.start_ms,
        "window_end": WINDOW.end_ms,
        "count": 3,
        "sum_revenue": 12.5,
        "min_revenue": 2.5,
        "max_revenue": 10.0,
        "distinct_users": 2,
        "aggregate_version": REVENUE.version,
    }
    empty = record_for(REVENUE, ("sku-1", "x"), WINDOW, accumulator(None))
    assert empty["sum_revenue"] is None and empty["max_revenue"] is None


def test_fingerprint_matches_fastavro_and_the_spec_vector() -> None:
    definition = schema_for(REVENUE)
    expected = fingerprint(to_parsing_canonical_form(parse_schema(definition)), "CRC-64-AVRO")
    assert fingerprint_hex(definition) == expected
    assert AvroSchema.of(definition).fingerprint == bytes.fromhex(expected)
    # Avro spec / Java: fingerprint64("int") = 0x7275d51a3f395c8f, written little-endian
    assert AvroSchema.of("int").fingerprint == (0x7275D51A3F395C8F).to_bytes(8, "little")  # type: ignore[arg-type]


def test_a_changed_aggregate_has_a_new_fingerprint() -> None:
    other = Aggregate(
        name=REVENUE.name,
        events=REVENUE.events,
        key=REVENUE.key,
        window=REVENUE.window,
        grace_s=REVENUE.grace_s,
        measures=(Count(),),
    )
    assert fingerprint_hex(schema_for(other)) != fingerprint_hex(schema_for(REVENUE))


revenues = st.lists(
    st.none() | st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12),
    min_size=1,
    max_size=10,
)
key_text = st.text(max_size=20)


@given(revenues, key_text)
def test_single_object_decodes_with_plain_fastavro(values: list[float | None], key: str) -> None:
    schema = AvroSchema.of(schema_for(REVENUE))
    record = record_for(REVENUE, (key, "ios"), WINDOW, accumulator(*values))
    data = encode_single_object(schema, record)

    # a consumer with only the published schema JSON and fastavro
    assert data[:2] == b"\xc3\x01"
    published = orjson.loads(orjson.dumps(schema.definition))
    writer = fastavro.parse_schema(published)
    fp = fingerprint(to_parsing_canonical_form(writer), "CRC-64-AVRO")
    assert data[2:10] == bytes.fromhex(fp)
    decoded = fastavro.schemaless_reader(io.BytesIO(data[10:]), writer, None)
    assert isinstance(decoded, dict)
    start = datetime.fromtimestamp(WINDOW.start_ms / 1000, tz=UTC)
    end = datetime.fromtimestamp(WINDOW.end_ms / 1000, tz=UTC)
    assert decoded == {**record, "window_start": start, "window_end": end}

    assert decode_single_object({schema.fingerprint_hex: schema}, data) == decoded


def test_confluent_round_trip() -> None:
    schema = AvroSchema.of(schema_for(REVENUE))
    record = record_for(REVENUE, ("sku", "web"), WINDOW, accumulator(1.0))
    data = encode_confluent(42, schema, record)
    assert data[:5] == b"\x00\x00\x00\x00\x2a"
    decoded = decode_confluent({42: schema}, data)
    assert decoded["count"] == 1 and decoded["product_id"] == "sku"
    assert decoded == decode_single_object(
        {schema.fingerprint_hex: schema}, encode_single_object(schema, record)
    )


def test_decoding_refuses_unknown_or_malformed_bytes() -> None:
    schema = AvroSchema.of(schema_for(REVENUE))
    data = encode_single_object(schema, record_for(REVENUE, ("a", "b"), WINDOW, accumulator(1.0)))
    with pytest.raises(AvroDecodeError, match="unknown schema fingerprint"):
        decode_single_object({}, data)
    with pytest.raises(AvroDecodeError, match="C3 01"):
        decode_single_object({schema.fingerprint_hex: schema}, b"\x00" + data)
    with pytest.raises(AvroDecodeError):
        decode_single_object({schema.fingerprint_hex: schema}, data[:12])
    with pytest.raises(AvroDecodeError, match="unknown schema id"):
        decode_confluent(
            {}, encode_confluent(1, schema, record_for(REVENUE, ("a", "b"), WINDOW, accumulator()))
        )


def test_encoding_refuses_records_that_do_not_fit_the_schema() -> None:
    schema = AvroSchema.of(schema_for(REVENUE))
    record = record_for(REVENUE, ("a", "b"), WINDOW, accumulator(1.0))
    del record["count"]
    with pytest.raises(ValueError):
        encode_single_object(schema, record)


def test_record_key_is_deterministic_json() -> None:
    assert record_key(("sku-1", "web"), 3_600_000) == b'["sku-1","web",3600000]'
    assert record_key((), 0) == b"[0]"
    assert record_key(("a",), 1) == record_key(["a"], 1)
