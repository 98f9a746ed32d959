"""A sink consumer that knows nothing of streamapp: aiokafka, fastavro and the schemas topic.

This is what a user with only an Avro library does to read ``aggregates.<name>``:

1. read ``streamapp.schemas`` (compacted; key = CRC-64-AVRO fingerprint as 16 hex digits, value =
   the schema JSON), parse each schema with fastavro and check that its key is the fingerprint of
   its Parsing Canonical Form;
2. for each sink record, check the Avro single-object header (``C3 01`` + the 8-byte fingerprint,
   little-endian as the Avro spec and Java write it), look the schema up by that fingerprint and
   decode the rest with :func:`fastavro.schemaless_reader`.

Nothing here imports ``streamapp``: a bug shared by the encoder and the test cannot cancel out.
"""

from __future__ import annotations

import asyncio
import io
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import fastavro
from aiokafka import AIOKafkaConsumer, TopicPartition
from fastavro.schema import fingerprint, parse_schema, to_parsing_canonical_form

SINGLE_OBJECT_MAGIC = b"\xc3\x01"
HEADER_BYTES = len(SINGLE_OBJECT_MAGIC) + 8
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class RawRecord:
    """One Kafka record as read, with its timestamp (ms since the epoch)."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, bytes]


@dataclass(frozen=True)
class SinkRecord:
    """One decoded sink record: the Kafka coordinates and the Avro record (times as epoch ms)."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes
    fingerprint_hex: str
    schema_name: str
    value: dict[str, Any]


class SinkDecodeError(AssertionError):
    """A sink record a plain Avro consumer cannot decode."""


async def read_topic(bootstrap: str, topic: str, *, timeout_s: float = 15.0) -> list[RawRecord]:
    """Every record of ``topic`` from the beginning up to its end offsets at the time of call."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        parts = consumer.partitions_for_topic(topic)
        if not parts:
            await consumer._client.force_metadata_update()
            parts = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        if not tps:
            return []
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        out: list[RawRecord] = []
        remaining = {tp for tp in tps if ends[tp] > 0}
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while remaining:
            if loop.time() > deadline:
                raise AssertionError(f"could not read {topic} to its end in {timeout_s} s")
            batch = await consumer.getmany(timeout_ms=300, max_records=10_000)
            for tp, msgs in batch.items():
                for m in msgs:
                    if m.offset < ends[tp]:
                        headers = {k: v for k, v in (m.headers or ())}
                        out.append(
                            RawRecord(
                                m.topic,
                                m.partition,
                                m.offset,
                                m.timestamp,
                                m.key,
                                m.value,
                                headers,
                            )
                        )
                    if m.offset + 1 >= ends[tp]:
                        remaining.discard(tp)
        return out
    finally:
        await consumer.stop()


@dataclass(frozen=True)
class Schema:
    """A schema as published: its JSON, the fastavro-parsed form and the fingerprint."""

    definition: dict[str, Any]
    parsed: Any
    fingerprint_hex: str


def schemas_from_records(records: list[RawRecord]) -> dict[str, Schema]:
    """The schemas of ``streamapp.schemas`` by fingerprint hex; checks each key is its fingerprint.

    The topic is compacted: the latest value of a key wins, as a compacting consumer would see it.
    """
    found: dict[str, Schema] = {}
    for r in sorted(records, key=lambda r: (r.partition, r.offset)):
        if r.key is None or r.value is None:
            raise SinkDecodeError(f"schema record without key or value at offset {r.offset}")
        definition = json.loads(r.value)
        parsed = parse_schema(definition)
        computed = fingerprint(to_parsing_canonical_form(parsed), "CRC-64-AVRO")
        key = r.key.decode()
        if computed != key:
            raise SinkDecodeError(
                f"schema {definition.get('name')!r} is keyed {key} but its CRC-64-AVRO "
                f"fingerprint is {computed}"
            )
        found[key] = Schema(definition, parsed, key)
    return found


def _to_ms(value: object) -> object:
    """fastavro turns ``timestamp-millis`` into aware datetimes; back to epoch milliseconds."""
    if isinstance(value, datetime):
        return (value - _EPOCH) // timedelta(milliseconds=1)
    return value


def decode(schemas: dict[str, Schema], raw: RawRecord) -> SinkRecord:
    """Decode one single-object-encoded sink record with the schema its fingerprint names."""
    data = raw.value or b""
    where = f"{raw.topic}/{raw.partition}@{raw.offset}"
    if len(data) < HEADER_BYTES or not data.startswith(SINGLE_OBJECT_MAGIC):
        raise SinkDecodeError(f"{where}: no Avro single-object header C3 01: {data[:12]!r}")
    fp = data[len(SINGLE_OBJECT_MAGIC) : HEADER_BYTES].hex()
    schema = schemas.get(fp)
    if schema is None:
        raise SinkDecodeError(
            f"{where}: fingerprint {fp} not on the schemas topic {sorted(schemas)}"
        )
    body = io.BytesIO(data[HEADER_BYTES:])
    record = fastavro.schemaless_reader(body, schema.parsed, None)
    if body.tell() != len(data) - HEADER_BYTES:
        raise SinkDecodeError(f"{where}: {len(data) - HEADER_BYTES - body.tell()} bytes left over")
    if not isinstance(record, dict):
        raise SinkDecodeError(f"{where}: decoded to {type(record).__name__}, not a record")
    if raw.key is None:
        raise SinkDecodeError(f"{where}: sink record without a key")
    name = f"{schema.definition.get('namespace', '')}.{schema.definition['name']}"
    value = {k: _to_ms(v) for k, v in record.items()}
    return SinkRecord(
        raw.topic, raw.partition, raw.offset, raw.timestamp_ms, raw.key, fp, name, value
    )


class SinkWatcher:
    """Follows the sink topics (and the schemas topic) from their beginning, decoding as it goes.

    Synchronous API over a private event loop, for tests that must react to what the sink shows
    (e.g. send late events only once a window was seen closed). Keeps every record read.
    """

    def __init__(self, bootstrap: str, schemas_topic: str, sink_topics: list[str]) -> None:
        self.schemas_topic = schemas_topic
        self.sink_topics = sink_topics
        self.schemas: dict[str, Schema] = {}
        self.records: dict[str, list[SinkRecord]] = {t: [] for t in sink_topics}
        self._undecoded: list[RawRecord] = []
        self._schema_raw: list[RawRecord] = []
        self._loop = asyncio.new_event_loop()
        self._consumer = self._loop.run_until_complete(self._start(bootstrap))

    async def _start(self, bootstrap: str) -> AIOKafkaConsumer:
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        self._consumer = consumer
        await consumer.start()
        tps: list[TopicPartition] = []
        for topic in [self.schemas_topic, *self.sink_topics]:
            parts = self._consumer.partitions_for_topic(topic)
            for _ in range(20):
                if parts:
                    break
                await self._consumer._client.force_metadata_update()
                parts = self._consumer.partitions_for_topic(topic)
                await asyncio.sleep(0.25)
            if not parts:
                raise AssertionError(f"topic {topic} does not exist")
            tps += [TopicPartition(topic, p) for p in sorted(parts)]
        self._consumer.assign(tps)
        await self._consumer.seek_to_beginning(*tps)
        return consumer

    def close(self) -> None:
        self._loop.run_until_complete(self._consumer.stop())
        self._loop.close()

    def __enter__(self) -> SinkWatcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def poll(self, timeout_s: float = 0.3) -> list[SinkRecord]:
        """Read what arrived since the last poll; return the newly decoded sink records."""
        batch = self._loop.run_until_complete(
            self._consumer.getmany(timeout_ms=int(timeout_s * 1000), max_records=10_000)
        )
        for tp, msgs in sorted(batch.items()):
            for m in msgs:
                raw = RawRecord(
                    m.topic,
                    m.partition,
                    m.offset,
                    m.timestamp,
                    m.key,
                    m.value,
                    {k: v for k, v in (m.headers or ())},
                )
                if tp.topic == self.schemas_topic:
                    self._schema_raw.append(raw)
                else:
                    self._undecoded.append(raw)
        if self._schema_raw:
            self.schemas = schemas_from_records(self._schema_raw)
        new: list[SinkRecord] = []
        waiting: list[RawRecord] = []
        for raw in self._undecoded:
            fp = (raw.value or b"")[len(SINGLE_OBJECT_MAGIC) : HEADER_BYTES].hex()
            if fp not in self.schemas and (raw.value or b"").startswith(SINGLE_OBJECT_MAGIC):
                waiting.append(raw)  # its schema may not have been read yet
                continue
            record = decode(self.schemas, raw)
            self.records[raw.topic].append(record)
            new.append(record)
        self._undecoded = waiting
        return new

    def undecoded(self) -> list[RawRecord]:
        """Records still waiting for their schema (must be empty once the schemas are read)."""
        return list(self._undecoded)
