"""Stage ⑥ sink: closed windows as Avro records on ``aggregates.<name>``, schemas published.

Without ``STREAMAPP_SCHEMA_REGISTRY_URL``: Avro single-object encoding, and each schema is
published once per process on the compacted ``streamapp.schemas`` topic keyed by its fingerprint
(hex) and written as ``<data dir>/schemas/<name>-<version>.avsc``, so a consumer with only an Avro
library decodes every record. With it: Confluent wire format against that registry (the subject
``aggregates.<name>-value``; the id it returns goes in each record).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import aiohttp
import orjson

from streamapp.sink.avro import (
    AvroRecord,
    AvroSchema,
    encode_confluent,
    encode_single_object,
    record_for,
    record_key,
    schema_for,
)
from streamapp.topics import Header
from streamapp.windows.declare import Aggregate
from streamapp.windows.state import ClosedWindow

if TYPE_CHECKING:
    from streamapp.app import Runtime

log = logging.getLogger(__name__)


@dataclass(slots=True)
class SinkWriter:
    """Encodes and sends the closed windows of one aggregate."""

    rt: Runtime
    aggregate: Aggregate
    schema: AvroSchema = field(init=False)
    schema_id: int | None = None
    published: bool = False

    def __post_init__(self) -> None:
        self.schema = AvroSchema.of(schema_for(self.aggregate))

    @property
    def topic(self) -> str:
        """The sink topic."""
        return self.rt.settings.topics.aggregate(self.aggregate.name)

    async def publish_schema(self) -> None:
        """Make the schema findable by consumers, once per process (idempotent)."""
        if self.published:
            return
        settings = self.rt.settings
        if settings.schema_registry_url:
            self.schema_id = await register_schema(
                settings.schema_registry_url, f"{self.topic}-value", self.schema.definition
            )
        else:
            definition = orjson.dumps(self.schema.definition)
            await self.rt.app.producer.send(
                settings.topics.schemas,
                self.schema.fingerprint_hex.encode(),
                definition,
                None,
                None,
                [(Header.AGGREGATE, self.aggregate.name.encode())],
            )
            folder = settings.data_dir / "schemas"
            folder.mkdir(parents=True, exist_ok=True)
            name = f"{self.aggregate.name}-{self.aggregate.version}.avsc"
            (folder / name).write_bytes(
                orjson.dumps(self.schema.definition, option=orjson.OPT_INDENT_2)
            )
        self.published = True

    def record(self, closed: ClosedWindow) -> tuple[bytes, bytes, AvroRecord]:
        """The (key, value, record) of one closed window."""
        record = record_for(self.aggregate, closed.key, closed.window, closed.accumulator)
        if self.schema_id is not None:
            value = encode_confluent(self.schema_id, self.schema, record)
        else:
            value = encode_single_object(self.schema, record)
        return record_key(closed.key, closed.window.start_ms), value, record

    async def emit(self, closed: list[ClosedWindow]) -> list[AvroRecord]:
        """Send the records and wait for the broker's acks; return the records sent."""
        await self.publish_schema()
        producer = self.rt.app.producer
        futures: list[Any] = []
        records: list[AvroRecord] = []
        for window in closed:
            key, value, record = self.record(window)
            futures.append(await producer.send(self.topic, key, value, None, None, None))
            records.append(record)
        if futures:
            await asyncio.gather(*futures)
        return records


async def register_schema(url: str, subject: str, definition: object) -> int:
    """Register a schema with a Confluent-compatible registry; return its id."""
    body = {"schema": orjson.dumps(definition).decode()}
    headers = {"Content-Type": "application/vnd.schemaregistry.v1+json"}
    timeout = aiohttp.ClientTimeout(total=30)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.post(
            f"{url.rstrip('/')}/subjects/{subject}/versions", json=body, headers=headers
        ) as resp,
    ):
        resp.raise_for_status()
        answer = await resp.json()
        return int(answer["id"])
