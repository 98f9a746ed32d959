"""Each input partition is processed in offset order, without gaps: stale records wait.

Why: the replay fence and the per-key stamps (:mod:`streamapp.state.fence`) assume that a stage
sees the records of one input partition in offset order, from the committed offset on, with
nothing skipped. Faust breaks that after a rebalance. Its recovery resumes a retained partition
*before* it seeks it back to the committed offset, so records fetched from the old position
(beyond the ones dropped from the agents' queues at revocation) can reach the agent first. They
were applied, stamps moved past the dropped records, and when the seek delivered those, they were
judged already applied: the events were lost (2 of 8 three-SIGKILL runs, and once with 14 ids
one short after the other fixes). Windows owners would likewise have fenced the late partials
as duplicates.

The rule, per partition, for the records of one worker's current assignment: ``expected`` is one
past the last offset processed. A record at or below ``expected`` is processed (below it: a replay
after a seek to the committed offset, which the fence handles) and moves ``expected`` to one past
itself. A record *above* ``expected`` is stale: it is not processed and not acknowledged, and the
partition is sought back to ``expected`` so that the missing records come, followed by it again.
A gap that is still there :data:`GAP_GRACE_S` after the seek is a real one (records that retention
deleted, or transaction markers of a client's transactional producer on ``events``): it is
accepted and counted, never waited on forever. A partition leaves the guard when this worker loses
it; the first record after it is (re)assigned is trusted, as Faust positions it at the committed
offset.

Pure: the stage loop (:func:`streamapp.agents.run_batches`) asks :meth:`OrderGuard.admit` per
record and does the seeking and the untracking itself.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Final

GAP_GRACE_S: Final = 20.0
"""How long after a seek a gap may last before it is taken as real."""


class Admit(Enum):
    """What to do with one record."""

    PROCESS = "process"
    STALE = "stale"
    """Not processed, not acknowledged: it comes again after the seek."""
    GAP_ACCEPTED = "gap_accepted"
    """Processed although records before it never came (see the module docstring)."""


@dataclass(slots=True)
class _Partition:
    expected: int
    sought_at: float | None = None  # when we sought back to ``expected``, if we did


@dataclass(frozen=True, slots=True)
class Decision:
    """The verdict on one record, and where to seek the partition first (when not ``None``)."""

    admit: Admit
    seek_to: int | None = None


class OrderGuard:
    """The per-partition ``expected`` offsets of one stage loop; see the module docstring."""

    __slots__ = ("_partitions",)

    def __init__(self) -> None:
        self._partitions: dict[Hashable, _Partition] = {}

    def admit(self, tp: Hashable, offset: int, now: float) -> Decision:
        """Judge the next record of ``tp`` in arrival order."""
        state = self._partitions.get(tp)
        if state is None or offset <= state.expected:
            self._partitions[tp] = _Partition(offset + 1)
            return Decision(Admit.PROCESS)
        if state.sought_at is None:
            state.sought_at = now
            return Decision(Admit.STALE, seek_to=state.expected)
        if now - state.sought_at < GAP_GRACE_S:
            return Decision(Admit.STALE)
        self._partitions[tp] = _Partition(offset + 1)
        return Decision(Admit.GAP_ACCEPTED)

    def keep_only(self, assigned: Iterable[Hashable]) -> None:
        """Forget the partitions this worker no longer has (call on every new assignment)."""
        keep = set(assigned)
        for tp in [tp for tp in self._partitions if tp not in keep]:
            del self._partitions[tp]
