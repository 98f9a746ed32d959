"""One partition of ``events.identified`` turned into partials for a backfilled version.

The pure core of ``streamapp replay`` (:mod:`streamapp.replay`): the same selection as the
combine agent (:func:`~streamapp.windows.source.counted_event`), the same skipping of identify's
re-sent copies (a :class:`~streamapp.state.fence.Fence` started fresh at the range's start), the
same :class:`~streamapp.windows.combine.Combiner`; only the contributions' origin topic differs
(``#backfill``), which gives them their own fence domain in the owner.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from streamapp.agents import header, origin_of
from streamapp.events import Origin
from streamapp.replay.control import BACKFILL_ORIGIN_SUFFIX
from streamapp.state.fence import Fence, Position, Verdict
from streamapp.topics import Header
from streamapp.windows.combine import Combiner, Partial
from streamapp.windows.declare import Aggregate
from streamapp.windows.source import counted_event


def backfill_origin_topic(source_topic: str) -> str:
    """The origin topic backfilled contributions carry."""
    return source_topic + BACKFILL_ORIGIN_SUFFIX


@dataclass(slots=True)
class Tally:
    """What a partition's backfill did with its records."""

    read: int = 0
    counted: int = 0
    copies: int = 0
    """Identify re-sent copies, skipped as the combine agent skips them."""


class PartitionBackfill:
    """Feed the records of one partition in offset order; drain partials after each chunk."""

    def __init__(self, aggregate: Aggregate, source_topic: str, partition: int) -> None:
        self._origin_topic = backfill_origin_topic(source_topic)
        self._partition = partition
        self._fence = Fence()
        self._combiner = Combiner(aggregate)
        self.tally = Tally()

    def add(
        self,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        headers: Sequence[tuple[str, bytes]] | None,
        item: int = 0,
    ) -> None:
        """One event of the partition (``(offset, item)`` increasing; see :mod:`..packed`)."""
        self.tally.read += 1
        origin, index = origin_of(headers)
        own = Position(offset, item)
        if self._fence.judge(own, origin, index) is Verdict.UPSTREAM_DUPLICATE:
            self.tally.copies += 1
            return
        event = counted_event(headers, value)
        if event is None:
            return
        cid = (header(headers, Header.CORRELATION_ID) or b"").decode("utf-8", "replace")
        added = self._combiner.add(
            event,
            correlation_id=cid,
            size_bytes=len(value or b""),
            origin=Origin(self._origin_topic, self._partition, offset),
            user_id=(key or b"").decode("utf-8", "replace"),
            origin_item=item,
        )
        self.tally.counted += added == "added"

    def drain(self) -> list[Partial]:
        """The partials of the records added since the last drain."""
        return self._combiner.drain()
