"""Create every topic streamapp needs, before any worker consumes.

The broker's auto-create is off (and must be: an auto-created topic gets the broker's default
partitions and replication). Each topic is created with the partitions, replication factor and
``min.insync.replicas`` from the settings; existing topics are left as they are.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from streamapp.config import Settings
from streamapp.errors import TopicCreationError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """One topic to create: name, partitions and extra topic configs."""

    name: str
    partitions: int
    config: dict[str, str] = field(default_factory=dict)


def changelog_topic(settings: Settings, table: str) -> str:
    """The name Faust gives a table's changelog topic."""
    return f"{settings.app_id}-{table}-changelog"


def required_topics(
    settings: Settings, *, tables: Iterable[str] = (), aggregates: Iterable[str] = ()
) -> list[TopicSpec]:
    """Every topic of the dataflow for these tables and aggregate names."""
    n = settings.topic_partitions
    names = settings.topics
    compacted = {"cleanup.policy": "compact"}
    specs = [
        TopicSpec(names.events, n),
        TopicSpec(names.events_identify, n),
        TopicSpec(names.events_identified, n),
        TopicSpec(names.events_dlq, n),
        TopicSpec(names.traces, n, {"retention.ms": str(settings.trace_retention_ms)}),
        TopicSpec(names.schemas, 1, compacted),
        # One partition, so retry claims are ordered; compaction never removes a marker younger
        # than an hour, so a run reading back its claim sees every marker written since it began.
        TopicSpec(names.dlq_retries, 1, {**compacted, "min.compaction.lag.ms": "3600000"}),
        # One partition (the first record of a key wins), never deleted or compacted.
        TopicSpec(names.backfills, 1, {"retention.ms": "-1", "retention.bytes": "-1"}),
    ]
    specs += [TopicSpec(changelog_topic(settings, t), n, compacted) for t in tables]
    for name in aggregates:
        specs.append(TopicSpec(names.windows(name), n))
        specs.append(TopicSpec(names.aggregate(name), n))
    return specs


async def create_topics(settings: Settings, specs: Iterable[TopicSpec]) -> list[str]:
    """Create the topics that do not exist yet; return the names created."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap_servers, request_timeout_ms=30000
    )
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [s for s in specs if s.name not in existing]
        if not wanted:
            return []
        new = [
            NewTopic(
                name=s.name,
                num_partitions=s.partitions,
                replication_factor=settings.replication_factor,
                topic_configs={
                    "min.insync.replicas": str(settings.min_insync_replicas),
                    **s.config,
                },
            )
            for s in wanted
        ]
        response = await admin.create_topics(new)
        for error in response.topic_errors:
            name, code = error[0], error[1]
            # 36 = TOPIC_ALREADY_EXISTS: another worker won the race, which is fine.
            if code and code != TopicAlreadyExistsError.errno:
                raise TopicCreationError(name, code, str(error[-1]))
        log.info("created topics %s", ", ".join(s.name for s in wanted))
        return [s.name for s in wanted]
    finally:
        await admin.close()
