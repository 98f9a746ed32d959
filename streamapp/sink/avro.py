"""Avro encoding of closed windows for ``aggregates.<name>`` (ARCHITECTURE.md, "Sink format").

One schema per aggregate, derived from its declaration: a record named after the aggregate in
namespace ``streamapp.aggregates`` with the key fields (strings), ``window_start`` and
``window_end`` (``long``/``timestamp-millis``), the measures (``count`` and ``distinct_users``
``long``; sums, minima and maxima nullable ``double``, null when no event had a number) and
``aggregate_version``.

Two framings:

* Avro single-object encoding (the embedded default): ``C3 01``, the schema's 8-byte
  CRC-64-AVRO fingerprint (little-endian, as the Avro spec and Java write it), then the
  schemaless body. The schema itself goes on ``streamapp.schemas`` keyed by
  :attr:`AvroSchema.fingerprint_hex`.
* Confluent wire format (with a schema registry): ``00``, 4-byte big-endian schema id, body.

The record key is :func:`record_key`: the same (aggregate key, window start) for a re-emit, so
a re-emit is an upsert. Pure: no producing, no registry calls.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final, TypeAlias

import fastavro
import orjson
from fastavro.schema import fingerprint, parse_schema, to_parsing_canonical_form
from fastavro.types import Schema

from streamapp.errors import StreamappError
from streamapp.events import JSON, JSONObject
from streamapp.windows.accumulator import Accumulator
from streamapp.windows.assign import WindowRange
from streamapp.windows.declare import Aggregate, Count, DistinctUsers, Measure

NAMESPACE: Final = "streamapp.aggregates"
SINGLE_OBJECT_MAGIC: Final = b"\xc3\x01"
CONFLUENT_MAGIC: Final = b"\x00"
FINGERPRINT_BYTES: Final = 8

AvroRecord: TypeAlias = dict[str, str | int | float | None]
"""A record as the encoder takes it (timestamps as epoch milliseconds)."""


@dataclass(eq=False)
class AvroDecodeError(StreamappError):
    """Bytes that are not a record this sink wrote with a known schema."""

    framing: str
    reason: str

    def __str__(self) -> str:
        return f"cannot decode {self.framing} record: {self.reason}"


def schema_for(aggregate: Aggregate) -> JSONObject:
    """The Avro schema (JSON form) of ``aggregate``'s sink records."""
    fields: list[JSON] = [
        {"name": name, "type": "string", "doc": f"key {path}"}
        for name, path in zip(aggregate.key_fields, aggregate.key_paths, strict=True)
    ]
    fields.append(_timestamp("window_start", "window start, inclusive (UTC epoch ms)"))
    fields.append(_timestamp("window_end", "window end, exclusive (UTC epoch ms)"))
    fields.extend(_measure_field(m) for m in aggregate.measures)
    fields.append({"name": "aggregate_version", "type": "string", "doc": "definition hash"})
    return {
        "type": "record",
        "name": aggregate.name,
        "namespace": NAMESPACE,
        "doc": f"streamapp aggregate {aggregate.name}, version {aggregate.version}",
        "fields": fields,
    }


def _timestamp(name: str, doc: str) -> JSON:
    return {"name": name, "type": {"type": "long", "logicalType": "timestamp-millis"}, "doc": doc}


def _measure_field(measure: Measure) -> JSON:
    if isinstance(measure, Count | DistinctUsers):
        return {"name": measure.output_name, "type": "long", "doc": measure.kind}
    doc = f"{measure.kind} of {measure.path}; null when no event had a number"
    return {"name": measure.output_name, "type": ["null", "double"], "default": None, "doc": doc}


@dataclass(frozen=True, slots=True)
class AvroSchema:
    """A schema parsed once, with its CRC-64-AVRO fingerprint. Build it with :meth:`of`."""

    definition: JSONObject
    parsed: Schema
    fingerprint: bytes

    @classmethod
    def of(cls, definition: JSONObject) -> AvroSchema:
        """Parse ``definition`` and compute its fingerprint (from the parsing canonical form)."""
        parsed = parse_schema(definition)
        canonical = to_parsing_canonical_form(parsed)
        # fastavro returns the fingerprint as hex of the little-endian bytes, as Java writes it.
        return cls(definition, parsed, bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO")))

    @property
    def fingerprint_hex(self) -> str:
        """The fingerprint as 16 hex digits: the key of the schema on ``streamapp.schemas``."""
        return self.fingerprint.hex()

    @property
    def canonical_json(self) -> str:
        """The Parsing Canonical Form (what the fingerprint is computed from)."""
        return str(to_parsing_canonical_form(self.parsed))


def fingerprint_hex(definition: JSONObject) -> str:
    """The CRC-64-AVRO fingerprint of a schema definition, as 16 hex digits."""
    return AvroSchema.of(definition).fingerprint_hex


def record_for(
    aggregate: Aggregate,
    key_values: Sequence[str],
    window_range: WindowRange,
    accumulator: Accumulator,
) -> AvroRecord:
    """The sink record of one closed window."""
    record: AvroRecord = dict(zip(aggregate.key_fields, key_values, strict=True))
    record["window_start"] = window_range.start_ms
    record["window_end"] = window_range.end_ms
    for measure in aggregate.measures:
        record[measure.output_name] = accumulator.value_of(measure)
    record["aggregate_version"] = aggregate.version
    return record


def record_key(key_values: Sequence[str], window_start_ms: int) -> bytes:
    """The Kafka record key: compact JSON ``[key values..., window start]``, deterministic."""
    return orjson.dumps([*key_values, window_start_ms])


def _body(schema: AvroSchema, record: Mapping[str, object]) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, schema.parsed, record, strict=True)
    return out.getvalue()


def encode_single_object(schema: AvroSchema, record: Mapping[str, object]) -> bytes:
    """Avro single-object encoding: ``C3 01`` + 8-byte fingerprint + schemaless body."""
    return SINGLE_OBJECT_MAGIC + schema.fingerprint + _body(schema, record)


def decode_single_object(
    schemas_by_fingerprint: Mapping[str, AvroSchema], data: bytes
) -> dict[str, object]:
    """Decode single-object bytes with the schema its fingerprint (hex) names."""
    header = len(SINGLE_OBJECT_MAGIC) + FINGERPRINT_BYTES
    if len(data) < header or not data.startswith(SINGLE_OBJECT_MAGIC):
        raise AvroDecodeError("single-object", "no C3 01 header")
    key = data[len(SINGLE_OBJECT_MAGIC) : header].hex()
    schema = schemas_by_fingerprint.get(key)
    if schema is None:
        raise AvroDecodeError("single-object", f"unknown schema fingerprint {key}")
    return _read(schema, data[header:], "single-object")


def encode_confluent(schema_id: int, schema: AvroSchema, record: Mapping[str, object]) -> bytes:
    """Confluent wire format: ``00`` + 4-byte big-endian schema id + schemaless body."""
    return CONFLUENT_MAGIC + struct.pack(">I", schema_id) + _body(schema, record)


def decode_confluent(schemas_by_id: Mapping[int, AvroSchema], data: bytes) -> dict[str, object]:
    """Decode Confluent wire-format bytes with the schema its id names."""
    if len(data) < 5 or not data.startswith(CONFLUENT_MAGIC):
        raise AvroDecodeError("confluent", "no 00 magic byte and schema id")
    (schema_id,) = struct.unpack(">I", data[1:5])
    schema = schemas_by_id.get(schema_id)
    if schema is None:
        raise AvroDecodeError("confluent", f"unknown schema id {schema_id}")
    return _read(schema, data[5:], "confluent")


def _read(schema: AvroSchema, body: bytes, framing: str) -> dict[str, object]:
    try:
        record = fastavro.schemaless_reader(io.BytesIO(body), schema.parsed, None)
    except (EOFError, ValueError, UnicodeDecodeError) as exc:
        raise AvroDecodeError(framing, f"{type(exc).__name__}: {exc}") from exc
    if not isinstance(record, dict):
        raise AvroDecodeError(framing, "the schema is not a record")
    return record
