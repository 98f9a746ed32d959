"""Stage ① validate: ``events`` -> ``events.identify`` (re-keyed by identity key) or ``events.dlq``.

It reads ``events`` with a consumer of its own, not a Faust agent (:mod:`streamapp.ingest.reader`
says why and what that keeps of the delivery contract).

Reads any producer's Segment JSON from the user-facing topic (the HTTP endpoint writes there too),
validates it with the pure :mod:`streamapp.ingest.validate`, and forwards the normalised event keyed
by its identity key, whatever key the producer used, with the correlation id and the record's
origin (topic, partition, offset) in headers. Forwarded events are packed, one record per
destination partition per batch (:mod:`streamapp.packed`), each item with its own key and
headers. A rejected record goes to the DLQ with its original bytes. Stateless: the identify stage
fences the duplicates a replay of this stage produces, by the origin coordinates.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from typing import Any

import orjson
from aiokafka import ConsumerRecord

from streamapp.agents import header, send_packed
from streamapp.app import Runtime
from streamapp.dlq.breaker import DeadLetterBreaker
from streamapp.dlq.letters import dead_letter
from streamapp.events import Event, Origin, Rejection
from streamapp.ingest.normalised import identity_head
from streamapp.ingest.reader import EventsReader
from streamapp.ingest.validate import decode_record
from streamapp.observability.trace import sampled, trace_line
from streamapp.packed import Packer
from streamapp.topics import Header

STAGE = "validate"
NORMALISED_SLACK_BYTES = 1024


def install(rt: Runtime) -> None:
    """Declare the validate stage: its handler and the reader that feeds it ``events``."""
    app, names, settings = rt.app, rt.settings.topics, rt.settings
    breaker = DeadLetterBreaker(STAGE, window=settings.dlq_window, max_ratio=settings.dlq_max_ratio)
    metrics = rt.metrics

    async def handle(batch: Sequence[ConsumerRecord[bytes, bytes]]) -> list[Any]:
        producer = app.producer
        sent: list[Any] = []
        now_ms = int(time.time() * 1000)
        started = time.perf_counter()
        traced: list[tuple[str, int | None, Rejection | None]] = []
        forwarded = 0
        packer = Packer(settings.topic_partitions)
        for msg in batch:
            origin = Origin(msg.topic, msg.partition, msg.offset)
            raw: bytes = msg.value if msg.value is not None else b""
            cid_header = header(msg.headers, Header.CORRELATION_ID)
            # An event without messageId gets a stable one: the correlation id it came with (a
            # DLQ retry keeps the original's), else its coordinates, so a replay of this stage
            # names it the same and `streamapp trace` can follow it.
            stable_id = cid_header.decode("utf-8", "replace") if cid_header else _origin_cid(origin)
            result: Event | Rejection = decode_record(
                raw,
                received_at_ms=now_ms,
                # Slack for what the HTTP endpoint adds (messageId, receivedAt, timestamp).
                max_event_bytes=settings.max_event_bytes + NORMALISED_SLACK_BYTES,
                new_message_id=functools.partial(str, stable_id),
            )
            if isinstance(result, Rejection):
                cid = stable_id
                letter = dead_letter(
                    result,
                    original=raw,
                    key=msg.key,
                    origin=origin,
                    correlation_id=cid,
                    failed_at_ms=now_ms,
                )
                sent.append(
                    await producer.send(
                        names.events_dlq, letter.key, letter.value, None, None, letter.headers
                    )
                )
                metrics.rejected.labels(STAGE, result.reason.value).inc()
                metrics.produced.labels(names.events_dlq).inc()
                traced.append((cid, None, result))
                breaker.record(True)
                continue
            breaker.record(False)
            cid = result.message_id
            headers = [
                (Header.CORRELATION_ID, cid.encode()),
                (Header.ORIGIN_TOPIC, origin.topic.encode()),
                (Header.ORIGIN_PARTITION, str(origin.partition).encode()),
                (Header.ORIGIN_OFFSET, str(origin.offset).encode()),
                (Header.IDENTITY, identity_head(result)),
            ]
            ingest = header(msg.headers, Header.INGEST)
            if ingest is not None:
                headers.append((Header.INGEST, ingest))
            packer.add(result.identity_key.encode(), orjson.dumps(result.body), headers)
            forwarded += 1
            metrics.accepted.labels("kafka" if ingest is None else ingest.decode()).inc()
            if sampled(cid, settings.trace_sample_rate):
                traced.append((cid, result.event_time_ms, None))
        sent.extend(await send_packed(producer, names.events_identify, packer))
        metrics.stage_events.labels(STAGE).inc(len(batch))
        metrics.produced.labels(names.events_identify).inc(forwarded)
        per_event_s = (time.perf_counter() - started) / max(1, len(batch))
        for cid, occurred_at_ms, rejection in traced:
            line = _trace(rt, cid, per_event_s, occurred_at_ms, now_ms, rejection)
            sent.append(await producer.send(names.traces, cid.encode(), line, None, None, None))
        return sent

    reader = EventsReader(settings, stage=STAGE, handle=handle)
    rt.events_reader = reader
    rt.stop_hooks.append(reader.stop)

    async def start_reading() -> None:
        # A Faust task starts once the worker runs, so the producer the handler sends with is up.
        reader.start()

    app.task(start_reading)


def _origin_cid(origin: Origin) -> str:
    """A deterministic correlation id for a record that carries none we can read."""
    return f"{origin.topic}/{origin.partition}/{origin.offset}"


def _trace(
    rt: Runtime,
    cid: str,
    processing_s: float,
    occurred_at_ms: int | None,
    now_ms: int,
    rejection: Rejection | None,
) -> bytes:
    detail = None
    if rejection is not None:
        detail = {"rejected": rejection.reason.value, "why": rejection.detail}
    return trace_line(
        correlation_id=cid,
        topic=rt.settings.topics.events,
        stage=STAGE,
        processing_s=processing_s,
        occurred_at_ms=occurred_at_ms,
        processed_at_ms=now_ms,
        host=rt.worker_id,
        detail=detail,
    )
