"""The worker's side of a backfill: which versions hold, and the cut of each input partition.

Used by the combine and owner agents of :mod:`streamapp.windows.agent`; the protocol is in
:mod:`streamapp.replay`. What this must not do: send a partial of partition ``p`` to a version
that is being backfilled before ``cut[p]`` is durable on the control log, or take a second cut.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence

from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from streamapp.config import Settings
from streamapp.events import JSONObject
from streamapp.ops.kafka import Kafka
from streamapp.replay.control import (
    ControlState,
    Decision,
    Mode,
    cut_key,
    cut_value,
    decision_key,
    decision_value,
    start_key,
    start_value,
)
from streamapp.replay.control_io import CONTROL_PARTITION, read_control, write_first
from streamapp.replay.plan import idle_cut

log = logging.getLogger(__name__)

Version = tuple[str, str]
"""(aggregate name, version hash)."""


class BackfillGate:
    """What the control log says about the aggregate versions this worker runs.

    :meth:`ensure_loaded` once (at worker start, before table recovery, to choose the previous
    versions to keep; every agent awaits it again before its first batch): it reads the log,
    decides ``live`` for each version with no decision yet (recording its definition), and
    appends this worker's *start* record per version. :meth:`refresh` reads the log again (a
    backfill done; a worker started later with another version: :meth:`superseded`).
    :meth:`backfilling` tells the owner whether a new partition starts holding, and :meth:`cut`
    gives the combine agent the first offset of each input partition that a backfilled version
    takes live.
    """

    def __init__(
        self,
        settings: Settings,
        worker_id: str,
        versions: Sequence[Version],
        definitions: Mapping[Version, JSONObject] | None = None,
    ) -> None:
        self._settings = settings
        self._worker_id = worker_id
        self._versions = list(versions)
        self._definitions = dict(definitions or {})
        self._topic = settings.topics.backfills
        self._kafka: Kafka | None = None
        self._state = ControlState()
        self._loaded = False
        self._load_lock = asyncio.Lock()
        self._cut_lock = asyncio.Lock()
        self._cuts: dict[Version, dict[int, int]] = {}
        self._nonce = uuid.uuid4().hex

    @property
    def loaded(self) -> bool:
        """Whether :meth:`ensure_loaded` has finished."""
        return self._loaded

    async def _client(self) -> Kafka:
        if self._kafka is None:
            kafka = Kafka(self._settings.kafka_bootstrap_servers)
            await kafka.__aenter__()
            self._kafka = kafka
        return self._kafka

    async def close(self) -> None:
        """Release the Kafka clients."""
        if self._kafka is not None:
            await self._kafka.__aexit__(None, None, None)
            self._kafka = None

    async def ensure_loaded(self) -> None:
        """Read the control log once; record ``live`` for versions nobody decided on."""
        if self._loaded:
            return
        async with self._load_lock:
            if self._loaded:
                return
            kafka = await self._client()
            state = await read_control(kafka, self._topic)
            for name, version in self._versions:
                if state.decision(name, version) is None:
                    value = decision_value(
                        Decision(Mode.LIVE),
                        by=self._worker_id,
                        at_ms=_now_ms(),
                        definition=self._definitions.get((name, version)),
                    )
                    state = await write_first(
                        kafka, self._topic, decision_key(name, version), value
                    )
            state = await self._record_start(kafka)
            self._state = state
            for name, version in self._versions:
                self._cuts[(name, version)] = state.cuts_of(name, version)  # final: first wins
                decision = state.decision(name, version)
                mode = decision.mode if decision is not None else Mode.LIVE
                log.info("aggregate %s version %s: %s", name, version, mode.value)
            self._loaded = True

    async def _record_start(self, kafka: Kafka) -> ControlState:
        """Append this worker's start record for each version it runs; the log read back."""
        futures = [
            await kafka.send(
                self._topic,
                key=start_key(name, version),
                value=start_value(self._nonce, by=self._worker_id, at_ms=_now_ms()),
                partition=CONTROL_PARTITION,
            )
            for name, version in self._versions
        ]
        for future in futures:
            await future
        return await read_control(kafka, self._topic)

    def superseded(self) -> list[tuple[str, str, str]]:
        """The aggregates this worker runs in a version older than a later-started worker's.

        (name, version run here, newer version) each, as of the last read: this worker's
        ``topologies/`` is out of date (a rolling restart across a topology change).
        """
        out = []
        for name, version in self._versions:
            newer = self._state.superseded_by(name, version, self._nonce)
            if newer is not None:
                out.append((name, version, newer))
        return out

    def backfilling(self, name: str, version: str) -> bool:
        """Whether the version's history comes from a backfill (its live input starts at cuts)."""
        decision = self._state.decision(name, version)
        return decision is not None and decision.mode is Mode.BACKFILL

    @property
    def state(self) -> ControlState:
        """The control log as last read (complete once :attr:`loaded`)."""
        return self._state

    def is_done(self, name: str, version: str) -> bool:
        """Whether the version's backfill command had finished, as of the last read."""
        return self._state.is_done(name, version)

    async def refresh(self) -> None:
        """Read the control log again (to learn that a backfill is done)."""
        if not self._loaded:
            return
        kafka = await self._client()
        async with self._cut_lock:  # one read at a time on the shared consumer (see cut)
            ends = await kafka.end_offsets(self._topic, [CONTROL_PARTITION])
            if ends.get(CONTROL_PARTITION) == self._state.records:
                return  # nothing appended since the last read (the log is never compacted)
            self._state = await read_control(kafka, self._topic)

    def backfilling_versions(self) -> list[Version]:
        """The versions run here whose history comes from a backfill."""
        return [v for v in self._versions if self.backfilling(*v)]

    async def cut(self, name: str, version: str, partition: int, first_offset: int) -> int:
        """The cut of ``partition``: taken now at ``first_offset`` unless one exists.

        Call it before sending the version any partial of a batch of ``partition`` whose first
        record is at ``first_offset``. Returns the cut (the first record wins), durable.
        """
        key = (name, version)
        known = self._cuts.get(key, {}).get(partition)
        if known is not None:
            return known
        async with self._cut_lock:
            known = self._cuts.get(key, {}).get(partition)
            if known is not None:
                return known
            kafka = await self._client()
            state = await read_control(kafka, self._topic)
            taken = state.cuts_of(name, version).get(partition)
            if taken is None:
                value = cut_value(first_offset, by=self._worker_id, at_ms=_now_ms())
                record = cut_key(name, version, partition)
                state = await write_first(kafka, self._topic, record, value)
                taken = state.cuts_of(name, version)[partition]
                log.info(
                    "cut of %s %s on partition %d at offset %d", name, version, partition, taken
                )
            self._state = state
            self._cuts.setdefault(key, {})[partition] = taken
            return taken

    async def idle_cuts(self, source_topic: str, assigned: Iterable[int]) -> None:
        """Take the cut of owned input partitions that no batch reached (see :func:`idle_cut`)."""
        todo = [
            (version, p)
            for version in self.backfilling_versions()
            for p in assigned
            if p not in self._cuts.get(version, {})
        ]
        if not todo:
            return
        partitions = sorted({p for _, p in todo})
        kafka = await self._client()
        committed = await _committed(self._settings, source_topic, partitions)
        ends = await kafka.end_offsets(source_topic, partitions)
        starts = await kafka.log_starts(source_topic, partitions)
        for (name, version), p in todo:
            offset = idle_cut(committed=committed.get(p), log_start=starts[p], end=ends[p])
            if offset is not None:
                await self.cut(name, version, p, offset)


async def _committed(settings: Settings, topic: str, partitions: list[int]) -> dict[int, int]:
    """The worker group's committed offsets (absent: none committed yet)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        tps = [TopicPartition(topic, p) for p in partitions]
        found = await admin.list_consumer_group_offsets(settings.app_id, partitions=tps)
    finally:
        await admin.close()
    return {tp.partition: int(meta.offset) for tp, meta in found.items() if meta.offset >= 0}


def _now_ms() -> int:
    return int(time.time() * 1000)
