"""The replay fence: no loss and no double count across a ``kill -9`` at any moment.

Cross-cutting state primitive used by every stateful stage (identify, profiles, windows). Pure: no
Faust, aiokafka or rocksdict imports; the stage's agent reads and writes the values this module
defines. It must not decide what a stage does with a record; it only says whether the record is
new, our own replay, or an upstream stage's re-sent copy.

Positions
    A :class:`Position` is ``(offset, item)``. For a stage's *own* input it is the record's offset
    and the item's index inside the record (0 unless records carry micro-batches). For a record's
    *origin* it is the offset of the record the upstream stage was processing when it sent this
    one, and the index of this output among all the outputs sent for that upstream record
    (0, 1, ..., counted across its items). The second number is needed because one input may send
    several records to the same partition (the identify stage sends a hand-off keyed A and the
    event keyed U; A and U may hash alike): with offsets alone the second would look like a
    re-send of the first and be lost.

The progress value
    One :class:`Progress` per input partition, stored in the stage's table under
    :func:`progress_key`. ``own`` is the highest own position judged. Per origin partition
    (``"<topic>:<partition>"``) a :class:`Mark` keeps ``top``, the highest origin position seen,
    ``top_at``, the own position of the record that carried it, and ``resent``, the own-position
    ranges in which re-sent copies from that partition were read (each range holds only copies
    from it; at most :data:`MAX_RESENT_RANGES` are kept). Bytes (orjson)::

        {"own": [1041, 0],
         "origins": {"events.identify:3": {"top": [88210, 1], "top_at": [1040, 0],
                                           "resent": [[[990, 0], [1002, 0]]]}}}

    ``own`` is ``null`` before the first record. Why ``resent`` exists: a record read again after
    our own crash (own position at or below ``own``) must get the verdict it got the first time.
    A copy skipped then must be skipped again (the watermark alone cannot tell: it has moved past
    both the original and the copy), and an original processed then must be processed again.

The per-key stamps
    Each state value also records where it was last written (the profiles stage's
    ``UserState.applied``), or is naturally stamped (an identity binding's ``since``, a dedupe
    entry's own position). A stage function given a value stamped at or after the record's own
    position does not apply the record again; it re-derives the outputs "as of" that position and
    returns the value to be written again.

The protocol of one batch (the integrator follows it exactly)
    1. Make a :class:`Fence` from the stored progress. For each record, in offset order:
       ``verdict = fence.judge(own, origin, origin_index)``. ``UPSTREAM_DUPLICATE``: skip the
       record (count it). ``FRESH`` and ``OWN_REPLAY``: call the stage function on the working
       copies of the keys it touches (read from the table or from this batch's earlier results);
       it never applies a record twice (stamps) and returns the same outputs as the first time.
    2. Send every output with origin headers: own topic, own partition, own offset, and the index
       of the output among all outputs sent for this record.
    3. At the end of the batch write every value the stage function returned for writing (one
       write per key per batch), then write the progress value, last, in the same table and from
       the event context of the same input partition, so that every write of the batch goes to one
       changelog partition, in this order (``fence.progress().to_bytes()``).
    4. Acknowledge the batch's records only after step 3 (``noack_take``; see
       :mod:`streamapp.agents`). Faust flushes the producer before it commits acknowledged offsets.

Why this loses nothing and counts nothing twice, whenever the process dies
    Facts relied on:

    F1. Flush before commit: when input offset ``c`` is committed, every output and changelog
        write made while processing records below ``c`` is on the broker (acks=all). Outputs:
        Faust flushes aiokafka before it commits. Changelog writes: the stage loop awaits each
        one's broker acknowledgement before it acknowledges the batch
        (:mod:`streamapp.state.durable`; Faust's own flush does not cover them).
    F2. Per-partition order: the producer is idempotent and keeps per-partition order, so the
        durable writes to one partition are a prefix of the sent ones: if a later write to
        changelog partition ``p`` survived, every earlier write to ``p`` survived too.
    F3. Determinism: a stage function's outputs for a record depend only on the record and on
        "as of" facts the values keep (stamps), so processing a record again yields the same
        outputs with the same origins.
    F4. Upstream order: the records that one upstream partition sends to one of our partitions
        arrive in increasing origin position, except for copies the upstream re-sends after its
        own crash: a run of positions it had already sent, read before any new position from it.

    After a crash the worker restores the table partition (from the changelog, or from its local
    RocksDB, which may be *ahead* of the changelog: local puts that never reached the broker) and
    resumes consuming at the committed offset ``c``; a progress value restored with it is the one
    of some batch end ``e >= c - 1`` (F1, F2), or ahead of the changelog's with a local store.

    Verdicts are the same as the first time. Records after the restored ``own`` are judged in
    order from a progress that is exact as of ``own`` (it was written at a batch end, after that
    batch's records), so they get the first time's verdicts. Records at or before ``own`` get
    ``UPSTREAM_DUPLICATE`` if they lie in a ``resent`` range of their origin partition (they were
    copies, skipped), else ``OWN_REPLAY``: by F4 the copies from one origin partition come in runs
    with no new position inside, so a ``resent`` range, from the first copy of a run to the last,
    holds exactly the copies from that partition in it.

    No loss. Records below ``c`` are durable in their outputs and state (F1). Every record at or
    above ``c`` is judged again with its first verdict: a processed one has its state effect
    either present (and kept) or applied now, and its outputs are sent again (F3), which replaces
    any output the crash lost; a copy that had survived reaches the downstream stage as an
    upstream duplicate. The downstream skips a record only if its origin position is at or below
    one it has processed, and by F4 that position was processed from the original.

    No double count. (a) Records at or before the restored ``own`` were applied to the restored
    state: if ``own`` came from the changelog, the state writes of its batch precede it on the
    same changelog partition and survived with it (F2); if from a local RocksDB that is ahead,
    the local values hold the same effects. The stamps keep ``OWN_REPLAY`` from re-applying.
    (b) A batch cut short may have left some of its state writes durable without its progress
    write: those records are judged ``FRESH`` again, but the values they wrote carry stamps at or
    after their positions, so the stage function does not apply them again. (c) Copies are
    skipped: at first by the watermark ``top``, on our own replay by ``resent``.

    Why a replayed record re-writes the values it touched: a local RocksDB ahead of the changelog
    holds effects the changelog never received. Writing the touched values again sends them to the
    changelog, so a standby or a new worker that restores from the changelog alone sees them.
    Without that re-write a later fail-over would lose them.

    Assumptions: each input partition is processed in offset order with nothing skipped (Faust
    does not guarantee it around a rebalance; :mod:`streamapp.state.in_order` enforces it), one
    producer session per partition at a time (no zombie writer after a rebalance: a worker that
    learns it was evicted writes nothing more, :class:`streamapp.state.durable.Evicted`, but one
    that has not learnt it yet can), acks=all with ``min.insync.replicas`` and no unclean leader
    election, a stage function that reads only the record and the values of keys in its own
    partition, and fewer than :data:`MAX_RESENT_RANGES` upstream restarts of one origin
    partition between two of our offset commits (seconds apart).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final, NamedTuple

import orjson

from streamapp.errors import StreamappError
from streamapp.events import Origin

RESERVED_PREFIX: Final = "\x00"
"""Keys starting with NUL are the stages' own bookkeeping; ids starting with it are refused."""

MAX_RESENT_RANGES: Final = 32
"""Re-sent ranges kept per origin partition: each is one upstream restart; older ones drop."""

_PROGRESS_PREFIX: Final = RESERVED_PREFIX + "progress:"


class Position(NamedTuple):
    """An ``(offset, item)`` pair; tuples compare lexicographically, which is the order needed."""

    offset: int
    item: int = 0

    def to_json(self) -> list[int]:
        """Return the JSON form ``[offset, item]``."""
        return [self.offset, self.item]

    @classmethod
    def from_json(cls, raw: object) -> Position:
        """Read ``[offset, item]``; raise :class:`StateCorrupt` on anything else."""
        if (
            isinstance(raw, list)
            and len(raw) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) for v in raw)
        ):
            return cls(raw[0], raw[1])
        raise StateCorrupt("position", f"expected [offset, item], got {raw!r}")


@dataclass(eq=False)
class StateCorrupt(StreamappError):
    """A stored state value could not be decoded: a bug or a foreign writer, never bad input."""

    kind: str
    reason: str

    def __str__(self) -> str:
        return f"corrupt {self.kind} state: {self.reason}"


class Verdict(StrEnum):
    """What a record is, judged by the partition's progress. Metrics are labelled by it."""

    FRESH = "fresh"
    OWN_REPLAY = "own_replay"
    UPSTREAM_DUPLICATE = "upstream_duplicate"


Range = tuple[Position, Position]


class Mark(NamedTuple):
    """What the fence knows of one origin partition; see the module docstring.

    A NamedTuple rather than a frozen dataclass: one is built per record judged, and a tuple is
    several times cheaper to build.
    """

    top: Position
    top_at: Position
    resent: tuple[Range, ...] = ()

    def to_json(self) -> dict[str, object]:
        """Return the JSON-ready object."""
        return {
            "top": self.top.to_json(),
            "top_at": self.top_at.to_json(),
            "resent": [[a.to_json(), b.to_json()] for a, b in self.resent],
        }

    @classmethod
    def from_json(cls, raw: object) -> Mark:
        """Read the object written by :meth:`to_json`."""
        if not isinstance(raw, dict):
            raise StateCorrupt("progress", f"expected an origin mark, got {raw!r}")
        try:
            resent = tuple((Position.from_json(a), Position.from_json(b)) for a, b in raw["resent"])
            return cls(Position.from_json(raw["top"]), Position.from_json(raw["top_at"]), resent)
        except (KeyError, TypeError, ValueError) as exc:
            raise StateCorrupt("progress", str(exc)) from None


@dataclass(frozen=True, slots=True)
class Progress:
    """The fence of one input partition; see the module docstring for the byte format."""

    own: Position | None = None
    origins: dict[str, Mark] = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        """Encode as orjson bytes."""
        return orjson.dumps(
            {
                "own": None if self.own is None else self.own.to_json(),
                "origins": {k: v.to_json() for k, v in self.origins.items()},
            }
        )

    @classmethod
    def from_bytes(cls, raw: bytes) -> Progress:
        """Decode bytes written by :meth:`to_bytes`."""
        try:
            obj = orjson.loads(raw)
            own_raw = obj["own"]
            origins = obj["origins"]
            if not isinstance(origins, dict):
                raise TypeError("origins is not an object")
            return cls(
                own=None if own_raw is None else Position.from_json(own_raw),
                origins={str(k): Mark.from_json(v) for k, v in origins.items()},
            )
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            raise StateCorrupt("progress", str(exc)) from None


def origin_key(origin: Origin) -> str:
    """Return the key of ``origin``'s partition in :attr:`Progress.origins`."""
    return f"{origin.topic}:{origin.partition}"


class _OriginMark:
    """A :class:`Mark` being updated inside one batch (mutable; never stored or shared)."""

    __slots__ = ("resent", "top", "top_at")

    def __init__(
        self, top: tuple[int, int], top_at: tuple[int, int], resent: tuple[Range, ...]
    ) -> None:
        self.top = top
        self.top_at = top_at
        self.resent = resent


class Fence:
    """A batch's mutable working copy of one partition's :class:`Progress`.

    Why mutable: the fence judges every record, and a frozen progress would copy its origins map
    per record. The agent makes one per batch from the stored progress, calls :meth:`judge` for
    each record in order, and stores :meth:`progress` at the end of the batch. Not shared, not
    stored itself.

    Positions are kept as plain ``(offset, item)`` tuples and each origin's mark as a mutable
    record, turned into :class:`Position` and :class:`Mark` values only by :meth:`progress`: the
    three stages judge every event, and building two named tuples and a mark per judgement was
    about a third of the fence's cost.
    """

    __slots__ = ("_marks", "_own")

    def __init__(self, progress: Progress | None = None) -> None:
        start = progress if progress is not None else Progress()
        self._own: tuple[int, int] | None = start.own
        self._marks = {
            key: _OriginMark(mark.top, mark.top_at, mark.resent)
            for key, mark in start.origins.items()
        }

    def judge(self, own: tuple[int, int], origin: Origin | None, origin_index: int = 0) -> Verdict:
        """Judge one record and move the progress past it. Call it for every record, in order.

        Args:
            own: The record's own position (offset, item): a :class:`Position` or a plain tuple.
            origin: The upstream coordinates from the record's headers; ``None`` for a record with
                no upstream stage (the user-facing topic): only ever fresh or our own replay.
            origin_index: The index of this record among its upstream record's outputs.

        Returns:
            At or before the highest own position judged (our own replay): the verdict of the
            first time, and nothing moves. Else ``UPSTREAM_DUPLICATE`` if the origin position is
            at or below the highest seen from its partition, otherwise ``FRESH``.

        """
        if self._own is not None and own <= self._own:
            if origin is None:
                return Verdict.OWN_REPLAY
            known = self._marks.get(origin_key(origin))
            if known is not None and any(start <= own <= end for start, end in known.resent):
                return Verdict.UPSTREAM_DUPLICATE
            return Verdict.OWN_REPLAY
        self._own = own
        if origin is None:
            return Verdict.FRESH
        key = origin_key(origin)
        mark = self._marks.get(key)
        pos = (origin.offset, origin_index)
        if mark is None:
            self._marks[key] = _OriginMark(pos, own, ())
            return Verdict.FRESH
        if pos > mark.top:
            mark.top, mark.top_at = pos, own
            return Verdict.FRESH
        resent = mark.resent
        if resent and resent[-1][0] > mark.top_at:  # this run of copies is still going on
            mark.resent = (*resent[:-1], (resent[-1][0], Position(*own)))
        else:
            mark.resent = (*resent, (Position(*own), Position(*own)))[-MAX_RESENT_RANGES:]
        return Verdict.UPSTREAM_DUPLICATE

    def progress(self) -> Progress:
        """Return the progress after the records judged so far (the value to store)."""
        return Progress(
            None if self._own is None else Position(*self._own),
            {
                key: Mark(Position(*m.top), Position(*m.top_at), m.resent)
                for key, m in self._marks.items()
            },
        )


def judge(
    progress: Progress, own: Position, origin: Origin | None, origin_index: int = 0
) -> tuple[Verdict, Progress]:
    """Judge one record against a stored progress: :meth:`Fence.judge` as a pure function."""
    fence = Fence(progress)
    verdict = fence.judge(own, origin, origin_index)
    return verdict, fence.progress()


def classify(
    progress: Progress, own: Position, origin: Origin | None, origin_index: int = 0
) -> Verdict:
    """Return only the verdict of :func:`judge`."""
    return judge(progress, own, origin, origin_index)[0]


def advance(
    progress: Progress, own: Position, origin: Origin | None, origin_index: int = 0
) -> Progress:
    """Return only the progress of :func:`judge` (monotonic: positions never move back)."""
    return judge(progress, own, origin, origin_index)[1]


def progress_key(partition: int) -> str:
    """Return the table key of the progress of input ``partition`` (reserved: starts with NUL)."""
    return f"{_PROGRESS_PREFIX}{partition}"


def is_reserved(key: str) -> bool:
    """Tell whether ``key`` is in the reserved bookkeeping namespace (no id may be)."""
    return key.startswith(RESERVED_PREFIX)
