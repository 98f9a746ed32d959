"""One aggregate version on one worker: its table, its sink writer, its loaded partitions.

Shared by the windows stage's agents (:mod:`streamapp.windows.agent`,
:mod:`streamapp.windows.owner`) and by ``GET /aggregates`` (:mod:`streamapp.views.aggregates`),
which reads the same table. Key layouts of table ``windows-<name>-<version>``: ``w|<record key>``
open window entries, ``m|<partition>`` the partition's meta (watermark, fence, outbox),
``c|<record key>`` closed windows as emitted (what ``GET /aggregates`` answers for closed
windows).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from streamapp.replay.gate import BackfillGate
from streamapp.sink.avro import record_key
from streamapp.sink.publish import SinkWriter
from streamapp.state.tables import create_table
from streamapp.topics import Header
from streamapp.windows.declare import Aggregate
from streamapp.windows.state import PartitionWindows, WindowId

if TYPE_CHECKING:
    from streamapp.app import Runtime

WINDOW_PREFIX = b"w|"
CLOSED_PREFIX = b"c|"
USERS_PREFIX = b"u|"
FAUST_KEYS = b"__faust"


def meta_key(partition: int) -> bytes:
    """The key of a partition's meta entry."""
    return f"m|{partition}".encode()


def window_key(wid: WindowId) -> bytes:
    """The key of an open window's entry."""
    return WINDOW_PREFIX + record_key(wid.key, wid.start_ms)


def users_key(wid: WindowId, chunk: int) -> bytes:
    """The key of chunk record ``chunk`` of an open window's users."""
    return USERS_PREFIX + record_key(wid.key, wid.start_ms) + f"|{chunk}".encode()


def partial_key(key: Sequence[str]) -> bytes:
    """The record key of a partial on ``windows.<name>`` (decides the owning partition)."""
    return orjson.dumps(list(key))


def version_headers(version: str) -> list[tuple[str, bytes]]:
    """The headers of a partial computed by ``version`` of its aggregate."""
    return [(Header.AGGREGATE_VERSION, version.encode())]


def partition_items(
    table: Any, partition: int, prefix: bytes = b""
) -> Iterator[tuple[bytes, bytes]]:
    """The (key, value) pairs of one table partition's RocksDB, from ``prefix`` on, in key order."""
    db = table.data._db_for_partition(partition)
    for key, value in db.items(from_key=prefix) if prefix else db.items():
        if not isinstance(key, bytes) or not isinstance(value, bytes):
            continue
        if prefix and not key.startswith(prefix):
            break
        if key.startswith(FAUST_KEYS):
            continue
        yield key, value


@dataclass(slots=True)
class AggregateRuntime:
    """One aggregate on this worker: its table, topic, sink and the loaded partitions."""

    aggregate: Aggregate
    table: Any
    topic: Any
    sink: SinkWriter
    gate: BackfillGate
    states: dict[int, PartitionWindows] = field(default_factory=dict)
    previous: AggregateRuntime | None = None
    """The version this one replaces, kept running and answering while this one is backfilled."""
    is_previous: bool = False

    @property
    def name(self) -> str:
        """The aggregate's name."""
        return self.aggregate.name

    @property
    def table_name(self) -> str:
        """The name of this version's table."""
        return table_name(self.aggregate)

    @property
    def backfilling(self) -> bool:
        """Whether this version's history comes from a backfill (control log loaded first).

        A previous version is never: it runs live, past whatever cut it once had.
        """
        if self.is_previous:
            return False
        return self.gate.backfilling(self.aggregate.name, self.aggregate.version)

    @property
    def feeds_previous(self) -> bool:
        """Whether combine still computes the previous version's partials (backfill not done)."""
        prev = self.previous
        return prev is not None and not self.gate.is_done(self.name, self.aggregate.version)

    def answering(self, partition: int, now_ms: int) -> AggregateRuntime:
        """The version that answers for ``partition``: the previous one while this one holds."""
        if self.previous is not None and self.peek(partition, now_ms).holding:
            return self.previous
        return self

    def load(self, partition: int, now_ms: int) -> PartitionWindows:
        """The windows of ``partition`` for the owner agent: cached, else restored and cached.

        Only the owner agent calls this (its batches run after the partition's recovery).
        """
        state = self.states.get(partition)
        if state is None:
            state = self._restore(partition, now_ms)
            self.states[partition] = state
        return state

    def peek(self, partition: int, now_ms: int) -> PartitionWindows:
        """The windows of ``partition`` for a read: cached by the agent, else restored, uncached.

        A read may come while the partition's table is still being recovered: a state restored
        then would lack entries, and cached, the agent would go on from it (and persist it).
        """
        state = self.states.get(partition)
        return state if state is not None else self._restore(partition, now_ms)

    def _restore(self, partition: int, now_ms: int) -> PartitionWindows:
        meta_raw = self.table.data._db_for_partition(partition).get(meta_key(partition))
        meta = orjson.loads(meta_raw) if isinstance(meta_raw, bytes) else None
        entries = [
            orjson.loads(v) for _, v in partition_items(self.table, partition, WINDOW_PREFIX)
        ]
        chunks = [orjson.loads(v) for _, v in partition_items(self.table, partition, USERS_PREFIX)]
        state = PartitionWindows.from_parts(self.aggregate, meta, entries, now_ms, chunks)
        if meta is None and self.backfilling:
            state.hold()  # a new partition of a backfilled version: hold until its marker
        return state


def table_name(aggregate: Aggregate) -> str:
    """The table of one version of an aggregate."""
    return f"windows-{aggregate.name}-{aggregate.version}"


def new_runtime(
    rt: Runtime, aggregate: Aggregate, gate: BackfillGate, topic: Any, *, is_previous: bool
) -> AggregateRuntime:
    """One version's runtime: its table (registered for provisioning) and its sink writer."""
    what = "previous version of " if is_previous else ""
    table = create_table(rt, table_name(aggregate), help_=f"open windows {what}{aggregate.name}")
    sink = SinkWriter(rt, aggregate)
    return AggregateRuntime(aggregate, table, topic, sink, gate, is_previous=is_previous)
