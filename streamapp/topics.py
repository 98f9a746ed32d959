"""Topic names and Kafka header keys: the one place they are spelled.

The dataflow, in the order data meets the topics::

    events -> (validate) -> events.identify -> (identify) -> events.identified
           -> (profiles, counters, windows) -> aggregates.<name>
    rejected records -> events.dlq          trace lines -> streamapp.traces
    Avro schemas -> streamapp.schemas (compacted)
    ``streamapp dlq retry`` markers -> streamapp.dlq-retries (compacted)
    backfill decisions and cuts -> streamapp.backfills (kept forever)
"""

from __future__ import annotations

from typing import Final

EVENTS: Final = "events"
"""User-facing input: Segment JSON, one event per record, keyed by the identity key."""

EVENTS_IDENTIFY: Final = "events.identify"
"""Internal: validated events, each on the partition of its identity key (anonymousId, else
userId); packed, many per record (:mod:`streamapp.packed`), each item keeps its key and headers."""

EVENTS_IDENTIFIED: Final = "events.identified"
"""Internal: events on the partition of their canonical user id, plus stitching hand-offs;
packed as ``events.identify`` is (merges and forwards the profiles stage sends are single)."""

EVENTS_DLQ: Final = "events.dlq"
"""Dead letters: original bytes, reason and origin in headers."""

TRACES: Final = "streamapp.traces"
"""Trace lines, one JSON record per event per stage; retention from settings."""

SCHEMAS: Final = "streamapp.schemas"
"""Compacted: Avro schemas keyed by their CRC-64-AVRO fingerprint (hex)."""

DLQ_RETRIES: Final = "streamapp.dlq-retries"
"""Compacted: one marker per retried dead letter, keyed ``<dlq partition>:<dlq offset>``.

Written by ``streamapp dlq retry`` (:mod:`streamapp.ops.retry`) so a letter is re-driven once.
"""

BACKFILLS: Final = "streamapp.backfills"
"""One partition, never compacted: the control log of backfills (:mod:`streamapp.replay.control`).

Written by ``streamapp replay`` (decisions, done) and by workers (decisions, cuts); the first
record of each key wins, so it must keep every record (retention forever, delete policy).
"""

AGGREGATE_PREFIX: Final = "aggregates."


def aggregate_topic(name: str) -> str:
    """The sink topic of one aggregate."""
    return AGGREGATE_PREFIX + name


def windows_topic(name: str) -> str:
    """The internal repartition topic of one aggregate (partials keyed by aggregate key)."""
    return f"windows.{name}"


def validate_group(app_id: str) -> str:
    """The consumer group that reads ``events``: the validate stage's own reader's.

    Every later topic is read by the workers' Faust group, whose id is the app id
    (:mod:`streamapp.ingest.reader` says why ``events`` is read apart).
    """
    return f"{app_id}-validate"


class Header:
    """Kafka header keys (bytes values, UTF-8)."""

    CORRELATION_ID: Final = "streamapp-cid"
    ORIGIN_TOPIC: Final = "streamapp-origin-topic"
    ORIGIN_PARTITION: Final = "streamapp-origin-partition"
    ORIGIN_OFFSET: Final = "streamapp-origin-offset"
    REASON: Final = "streamapp-reason"
    DETAIL: Final = "streamapp-detail"
    STAGE: Final = "streamapp-stage"
    FAILED_AT: Final = "streamapp-failed-at"
    INGEST: Final = "streamapp-ingest"
    ORIGIN_INDEX: Final = "streamapp-origin-index"
    KIND: Final = "streamapp-kind"
    HOPS: Final = "streamapp-hops"
    AGGREGATE: Final = "streamapp-aggregate"
    AGGREGATE_VERSION: Final = "streamapp-aggregate-version"
    """On a partial (``windows.<name>``): the version of the definition that computed it. An
    owner applies only its own version's partials: after a change, partials the old version
    left unread must not count in the new one (they were computed by another definition)."""
    ITEMS: Final = "streamapp-items"
    """On a packed record (:mod:`streamapp.packed`): how many events it holds."""
    IDENTITY: Final = "streamapp-identity"
    """On an ``events.identify`` item: the type, ids and times the identify stage needs, so it
    does not parse the body (:func:`streamapp.ingest.normalised.identity_head`)."""
    RETRY_OF: Final = "streamapp-retry-of"
    """On a copy ``dlq retry`` sent: the letter it copies, ``<dlq partition>:<dlq offset>``."""


class TopicNames:
    """The topic names of one deployment: the constants above behind ``STREAMAPP_TOPIC_PREFIX``.

    A prefix lets several deployments (or test runs) share one cluster without sharing topics.
    """

    __slots__ = ("prefix",)

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix

    @property
    def events(self) -> str:
        """User-facing input topic."""
        return self.prefix + EVENTS

    @property
    def events_identify(self) -> str:
        """Validated events keyed by identity key."""
        return self.prefix + EVENTS_IDENTIFY

    @property
    def events_identified(self) -> str:
        """Events keyed by canonical user id."""
        return self.prefix + EVENTS_IDENTIFIED

    @property
    def events_dlq(self) -> str:
        """Dead letters."""
        return self.prefix + EVENTS_DLQ

    @property
    def traces(self) -> str:
        """Trace lines."""
        return self.prefix + TRACES

    @property
    def schemas(self) -> str:
        """Avro schemas by fingerprint (compacted)."""
        return self.prefix + SCHEMAS

    @property
    def dlq_retries(self) -> str:
        """Retry markers of dead letters (compacted)."""
        return self.prefix + DLQ_RETRIES

    @property
    def backfills(self) -> str:
        """The control log of backfills (one partition, kept forever)."""
        return self.prefix + BACKFILLS

    def aggregate(self, name: str) -> str:
        """Sink topic of one aggregate."""
        return self.prefix + aggregate_topic(name)

    def windows(self, name: str) -> str:
        """Repartition topic of one aggregate."""
        return self.prefix + windows_topic(name)
