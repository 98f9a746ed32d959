"""Each input partition is processed in offset order, without gaps: missing records are fetched.

Why: the replay fence and the per-key stamps (:mod:`streamapp.state.fence`) assume that a stage
sees the records of one input partition in offset order, from the committed offset on, with
nothing skipped. Faust breaks that around a rebalance: records dropped from an agent's queue at
revocation are not always delivered again, and records fetched from the old position can arrive
first (its recovery resumes a retained partition before seeking it back, and its consumer drops
records below the highest offset it has read). A later record then moved a value's stamp past a
record that was never applied, and that record was lost (seen as 14 ids one event short in a
three-SIGKILL run, traced to events.identified offsets that no stage ever applied). Asking Faust
to seek back does not help: its read-offset check drops the records the seek brings again.

So the stage loop does not rely on Faust for the order. Per partition, ``expected`` is one past
the last offset processed. A record at or below ``expected`` is processed (below it: a replay from
the committed offset, which the fence handles) and moves ``expected`` to one past itself. A record
*above* ``expected`` reveals a gap: the loop reads ``[expected, offset)`` itself with a plain
consumer (:mod:`streamapp.state.gap_fill`) and processes those records first, then this one. The
filled records are acknowledged to Faust's consumer like delivered ones, so its commits stay
contiguous. If Faust delivers them later after all, they are replays. Records that do not exist
(deleted by retention) cannot be read; that gap is counted. A partition leaves the guard when
this worker loses it.

The first record after a partition is (re)assigned is not trusted either: before it, the stage
loop sets ``expected`` to the group's committed offset, or to the partition's first offset when
nothing was ever committed (:meth:`OrderGuard.start_at`). Why: Faust drops the records it fetched
while its flow was suspended for the rebalance's recovery, and only its seek to the committed
offset brings them back; with no committed offset it does not seek, so its first record was
wherever the dropped fetch had left the position. Seen in the three-SIGKILL e2e: a worker
restarted onto ``events.identify`` partitions its killed predecessor had processed but never
committed began at offsets 23 and 25, and 16 records were never identified.

Pure: :class:`OrderGuard` only decides; the stage loop (:func:`streamapp.agents.run_batches`)
fetches.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import NamedTuple


class Gap(NamedTuple):
    """Offsets ``[start, end)`` of one partition that must be processed before ``end``."""

    start: int
    end: int


class OrderGuard:
    """The per-partition ``expected`` offsets of one stage loop; see the module docstring."""

    __slots__ = ("_expected",)

    def __init__(self) -> None:
        self._expected: dict[Hashable, int] = {}

    def admit(self, tp: Hashable, offset: int) -> Gap | None:
        """Judge the next record of ``tp`` in arrival order; the gap to fill first, if any."""
        expected = self._expected.get(tp)
        self._expected[tp] = offset + 1
        if expected is None or offset <= expected:
            return None
        return Gap(expected, offset)

    def knows(self, tp: Hashable) -> bool:
        """Whether ``tp`` has an ``expected`` offset (else call :meth:`start_at` first)."""
        return tp in self._expected

    def start_at(self, tp: Hashable, offset: int) -> None:
        """Expect ``tp``'s next record at ``offset``: the first one not known to be processed."""
        self._expected[tp] = offset

    def keep_only(self, assigned: Iterable[Hashable]) -> None:
        """Forget the partitions this worker no longer has (call on every new assignment)."""
        keep = set(assigned)
        for tp in [tp for tp in self._expected if tp not in keep]:
            del self._expected[tp]
