"""The owning partition of one aggregate: partials merged into open windows, closing, late events.

Runs on a partition of ``windows.<name>`` (keyed by aggregate key) and feeds the sink. Pure:
time is an argument (``now_wall_ms``), persistence is JSON handed to the caller.

The rules, written down once (ARCHITECTURE.md, "Time and windows"):

* **Watermark.** ``watermark_ms`` is the largest event time applied on this partition, or more
  after idleness (below); it never goes back.
* **Closing.** Window ``[start, end)`` closes when ``watermark_ms >= end + grace``.
* **Late.** A contribution is late for a window that was already closed when its partial
  arrived. Lateness is judged against the watermark *before* the batch of partials applied
  together (:meth:`PartitionWindows.apply_batch`), so events of one batch never make each other
  late, whatever their order. An event late for some of its (hopping)
  windows still counts in the others, and is reported once, naming the closed windows.
* **Idle.** When no partial arrived for ``idle_timeout_ms`` of wall time, the partition acts as
  if event time had kept pace with wall time since the last partial::

      watermark = max(watermark, max_event_time + (now_wall - last_activity_wall))

  With no more traffic a window then closes at wall time
  ``last_activity + max(idle_timeout, end + grace - max_event_time)``; when event time tracks wall
  time that is at most ``end + grace + idle_timeout``. The rule is relative, not "jump to the
  wall clock", so a pause in a backfill of old data does not close every window at once; the
  price is that a stalled upstream looks idle, and its backlog may then arrive late. A restored
  partition restarts its idle clock, so a restart alone never makes the backlog late.
* **Fencing.** Each open window records, per origin partition (``events.identified``), the
  highest origin position applied to it (offset and item: :attr:`Contribution.origin_position`);
  a contribution at or below it is a replay and is skipped (a duplicate). For a closed window,
  the partition-wide record tells a duplicate from a late event. Per-window records make each
  persisted window entry self-fencing.
* **Holding (backfill).** A new aggregate version that is being backfilled
  (:mod:`streamapp.replay`) starts *holding*: it merges partials (live and backfilled) but closes
  nothing, so nothing is emitted and nothing is late (:meth:`is_closed` is false while the
  watermark moves on), until :meth:`release` (the backfill's
  done-marker reached this partition, after every backfilled partial). ``holding`` is persisted
  in the meta entry, so a restart keeps holding.
* **Outbox.** Closing moves a window to ``pending`` (persisted in the meta entry) until the edge
  confirms the sink acknowledged it. Pending windows found at restore may or may not have reached
  the sink: they are re-sent marked ``reemit``, and the record key makes that an upsert. A pending
  window keeps its distinct-user *count*, not its users: only the count reaches the sink.
* **Users in chunks.** A window's distinct users are not in its entry but in *chunk* records of
  :data:`USERS_PER_CHUNK` users each, in the order the users first came; a batch writes only the
  chunks its new users fell into. Why: the entry is rewritten on every batch that touches the
  window, and with the users inside it grew by ~20 bytes per user: O(users) work per batch and,
  past ~50,000 users, a changelog record over Kafka's 1 MB limit, which the producer refuses.
  Chunks are written before the entry, to the same changelog partition, so an entry that
  survived a crash has every chunk it counts (a restore reads the first ``users`` of them; a
  chunk written by a batch whose entry was lost is rewritten when the replay reaches it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from itertools import islice
from typing import Final, NamedTuple

from streamapp.events import JSON, JSONObject
from streamapp.packed import ITEM_BITS
from streamapp.windows import _json
from streamapp.windows.accumulator import Accumulator
from streamapp.windows.assign import WindowRange, window_at, windows_for
from streamapp.windows.combine import Contribution, Partial
from streamapp.windows.declare import Aggregate

STATE_FORMAT: Final = 4
"""Version of the persisted layout below; bump it (and migrate) when the layout changes.
Format 2 (users inside the window entries) is still read; its entries move to chunks as they are
next written. Formats 2 and 3 kept fence marks as origin offsets (``applied``), format 4 as origin
positions (``applied_at``, packed records: :mod:`streamapp.packed`); both are read."""
READABLE_FORMATS: Final = frozenset({2, 3, STATE_FORMAT})

USERS_PER_CHUNK: Final = 2_000
"""Users per chunk record: ~40-80 KB with typical ids, well under Kafka's 1 MB record limit."""


class OriginPartition(NamedTuple):
    """The partition an event was read from: the unit of replay fencing."""

    topic: str
    partition: int


class WindowId(NamedTuple):
    """One window of one aggregate key: the identity of state entries and sink records."""

    key: tuple[str, ...]
    start_ms: int


@dataclass(slots=True, eq=False)
class OpenWindow:
    """A window still accepting events: its accumulator and its replay fence."""

    accumulator: Accumulator = field(default_factory=Accumulator)
    applied: dict[OriginPartition, int] = field(default_factory=dict)
    persisted: int = 0
    """How many of the accumulator's users (in the order they came: the content of the chunks)
    the chunks handed out so far hold."""

    def users_from(self, start: int) -> list[str]:
        """The users from position ``start`` on, in the order they came.

        Read from the end of the (insertion-ordered) users: the chunks a batch writes are the
        last ones, so this costs the users after ``start``, not all of them.
        """
        users = self.accumulator.users
        after = list(islice(reversed(users), max(0, len(users) - start)))
        after.reverse()
        return after

    def fenced(self, origin_partition: OriginPartition | None, position: int) -> bool:
        """Whether a contribution at this origin position was already applied to this window."""
        return origin_partition is not None and position <= self.applied.get(origin_partition, -1)

    def record(self, origin_partition: OriginPartition | None, position: int) -> None:
        """Remember that the origin up to ``position`` is applied."""
        if origin_partition is not None:
            self.applied[origin_partition] = max(self.applied.get(origin_partition, -1), position)


@dataclass(frozen=True, slots=True)
class ClosedWindow:
    """A window the sink must emit. ``reemit``: it may have been emitted before a crash."""

    key: tuple[str, ...]
    window: WindowRange
    accumulator: Accumulator
    reemit: bool = False

    @property
    def id(self) -> WindowId:
        """The window's identity (also its record key in the sink)."""
        return WindowId(self.key, self.window.start_ms)


@dataclass(frozen=True, slots=True)
class LateEvent:
    """An event that arrived after some of its windows closed: goes to the DLQ, reason ``late``."""

    key: tuple[str, ...]
    contribution: Contribution
    windows: tuple[WindowRange, ...]

    @property
    def detail(self) -> str:
        """A human line for the dead letter's detail header."""
        spans = ", ".join(f"[{w.start_ms}, {w.end_ms})" for w in self.windows)
        return f"event time {self.contribution.event_time_ms} is after the close of {spans}"


@dataclass(frozen=True, slots=True)
class Applied:
    """What :meth:`PartitionWindows.apply` did besides merging: late events and replays."""

    late: tuple[LateEvent, ...] = ()
    duplicates: int = 0
    undecodable: int = 0
    """Partials skipped whole: their contributions did not decode (logged by the owner)."""


@dataclass(frozen=True, slots=True)
class Changes:
    """State writes since the last :meth:`PartitionWindows.take_changes`, as JSON values.

    Write them in this order: ``user_chunks``, ``upserts``, ``meta``, ``deletes`` (each window's
    entry, then its ``deleted_chunks[window]`` chunks). Any prefix that survives a crash then
    restores a consistent partition: an entry's chunks precede it, window entries fence
    themselves, and a window deleted as closed is already pending in the meta written before the
    delete.
    """

    upserts: Mapping[WindowId, JSONObject]
    meta: JSONObject
    user_chunks: Mapping[tuple[WindowId, int], JSONObject] = field(default_factory=dict)
    deleted_chunks: Mapping[WindowId, int] = field(default_factory=dict)
    """Per deleted window, how many chunk records it had."""

    @property
    def deletes(self) -> frozenset[WindowId]:
        """The windows whose entries to delete."""
        return frozenset(self.deleted_chunks)


class PartitionWindows:
    """Open windows, watermark and outbox of one aggregate on one owning partition.

    Commit order per batch, for the edge that wires this into an agent:

    1. :meth:`apply_batch` with the partials read from ``windows.<name>`` (offset order); write each
       late event to ``events.dlq`` (reason ``late``, original body, origin headers) and count
       the duplicates.
    2. :meth:`close_due` (also on a timer, so an idle partition closes its windows).
    3. :meth:`take_changes`; write upserts, then meta, then deletes to the windows table.
    4. Flush the producer, so the changelog holding the pending windows is durable.
    5. Produce each closed window to ``aggregates.<name>`` and wait for the acks.
    6. :meth:`confirm_emitted`; its meta goes out with the next :meth:`take_changes`.

    On assignment: :meth:`from_parts` (or :meth:`from_json`), then re-send :meth:`pending`
    (each marked ``reemit``; count them) and confirm them.
    """

    def __init__(self, aggregate: Aggregate) -> None:
        self._window = aggregate.window
        self._grace_ms = aggregate.grace_ms
        self._version = aggregate.version
        self._open: dict[WindowId, OpenWindow] = {}
        self._keys_by_start: dict[int, set[tuple[str, ...]]] = {}
        self._pending: dict[WindowId, ClosedWindow] = {}
        self._applied: dict[tuple[tuple[str, ...], OriginPartition], int] = {}
        """Per (aggregate key, origin partition): the highest origin position applied. Per key,
        because one combine batch sends each key's partial with offsets from all of its range:
        a partition-wide mark judged a later key's genuine late events as replays, and dropped
        them (found by the reliability suite)."""
        self._watermark_ms: int | None = None
        self._max_event_time_ms: int | None = None
        self._last_activity_wall_ms: int | None = None
        self._dirty: set[WindowId] = set()
        self._deleted: dict[WindowId, int] = {}  # window -> its number of chunk records
        self._holding = False

    @property
    def holding(self) -> bool:
        """Whether the partition waits for a backfill: it merges, but closes nothing."""
        return self._holding

    def hold(self) -> None:
        """Start holding (a new partition of a version being backfilled)."""
        self._holding = True

    def release(self, now_wall_ms: int) -> bool:
        """Stop holding (the backfill passed this partition); return whether it was holding.

        The next :meth:`close_due` closes every window the watermark has passed; the idle clock
        restarts now, so the wait for the backfill does not count as idleness.
        """
        was = self._holding
        self._holding = False
        if was and self._max_event_time_ms is not None:
            last = self._last_activity_wall_ms
            self._last_activity_wall_ms = now_wall_ms if last is None else max(last, now_wall_ms)
        return was

    @property
    def watermark_ms(self) -> int | None:
        """The event-time watermark, or ``None`` before the first event."""
        return self._watermark_ms

    @property
    def open_windows(self) -> Mapping[WindowId, OpenWindow]:
        """The open windows (read-only view; for views and tests)."""
        return self._open

    def closes_at_ms(self, start_ms: int) -> int:
        """The watermark at which the window starting at ``start_ms`` closes."""
        return start_ms + self._window.size_ms + self._grace_ms

    def is_closed(self, start_ms: int) -> bool:
        """Whether the window starting at ``start_ms`` is closed under the current watermark.

        Never while holding: then nothing has closed, so nothing can be late.
        """
        wm = self._watermark_ms
        return not self._holding and wm is not None and self.closes_at_ms(start_ms) <= wm

    def advance(self, watermark_ms: int) -> None:
        """Move the watermark forward to ``watermark_ms`` (never back)."""
        if self._watermark_ms is None or watermark_ms > self._watermark_ms:
            self._watermark_ms = watermark_ms

    def apply(self, partial: Partial, now_wall_ms: int) -> Applied:
        """Merge one partial: :meth:`apply_batch` of one."""
        return self.apply_batch((partial,), now_wall_ms)

    def apply_batch(self, partials: Iterable[Partial], now_wall_ms: int) -> Applied:
        """Merge partials read together; report the contributions that were late or replays.

        Lateness is judged against the watermark before the batch; the watermark moves once,
        after it. Fast path per window of a partial: the window is open and none of the
        partial's origin positions is fenced there, so its pre-merged accumulator is merged as
        it is. The partial's other windows (closed, or fenced after a crash) take each
        contribution on its own (slow path); only then are the contributions decoded.
        A partial whose contributions do not decode is not applied at all (``undecodable``).
        """
        late: list[LateEvent] = []
        duplicates = 0
        undecodable = 0
        latest: int | None = None
        for partial in partials:
            if not partial.count:
                continue
            spans = {
                (None if k is None else OriginPartition(*k)): span
                for k, span in partial.spans.items()
            }
            whole, each = self._split(partial, spans)
            if each:
                try:
                    _ = partial.contributions  # decoded now, before anything of it is applied
                except _json.WindowStateDecodeError:
                    undecodable += 1
                    continue
            self._merge_whole(partial, whole, spans)
            if each:
                result = self._apply_each(partial, each)
                late.extend(result.late)
                duplicates += result.duplicates
            self._record_applied(partial, spans)
            if partial.max_event_time_ms is not None and (
                latest is None or partial.max_event_time_ms > latest
            ):
                latest = partial.max_event_time_ms
        if latest is not None:
            self._progress(latest, now_wall_ms)
        return Applied(tuple(late), duplicates, undecodable)

    def _split(
        self, partial: Partial, spans: Mapping[OriginPartition | None, tuple[int, int]]
    ) -> tuple[list[int], frozenset[int]]:
        """The partial's windows merged whole, and those whose contributions go one by one."""
        whole: list[int] = []
        each: list[int] = []
        for start in partial.windows:
            if self.is_closed(start):
                each.append(start)
                continue
            window = self._open.get(WindowId(partial.key, start))
            if window is not None and any(window.fenced(op, lo) for op, (lo, _) in spans.items()):
                each.append(start)
            else:
                whole.append(start)
        return whole, frozenset(each)

    def _merge_whole(
        self,
        partial: Partial,
        starts: Iterable[int],
        spans: Mapping[OriginPartition | None, tuple[int, int]],
    ) -> None:
        # A partial holds every event of its key in its offset range, so each of these windows
        # has now seen its origins up to the partial's highest positions.
        for start in starts:
            window = self._open_window(WindowId(partial.key, start))
            window.accumulator.merge(partial.windows[start])
            for op, (_, highest) in spans.items():
                window.record(op, highest)

    def _record_applied(
        self, partial: Partial, spans: Mapping[OriginPartition | None, tuple[int, int]]
    ) -> None:
        for op, (_, highest) in spans.items():
            if op is not None:
                mark = (partial.key, op)
                self._applied[mark] = max(self._applied.get(mark, -1), highest)

    def _apply_each(self, partial: Partial, only: frozenset[int]) -> Applied:
        """Apply each contribution to those of its windows in ``only`` (the others are merged)."""
        late: list[LateEvent] = []
        duplicates = 0
        for c in partial.contributions:
            op = _origin_partition(c)
            closed_windows: list[WindowRange] = []
            duplicate = False
            for window_range in windows_for(c.event_time_ms, self._window):
                if window_range.start_ms not in only:
                    continue
                if self.is_closed(window_range.start_ms):
                    mark = self._applied.get((partial.key, op), -1) if op is not None else -1
                    if op is not None and c.origin_position <= mark:
                        duplicate = True
                    else:
                        closed_windows.append(window_range)
                    continue
                window = self._open_window(WindowId(partial.key, window_range.start_ms))
                if window.fenced(op, c.origin_position):
                    duplicate = True
                    continue
                window.accumulator.add(c.values)
                window.record(op, c.origin_position)
            duplicates += duplicate
            if closed_windows:
                late.append(LateEvent(partial.key, c, tuple(closed_windows)))
        return Applied(tuple(late), duplicates)

    def _open_window(self, wid: WindowId) -> OpenWindow:
        window = self._open.get(wid)
        if window is None:
            window = self._open[wid] = OpenWindow()
            self._keys_by_start.setdefault(wid.start_ms, set()).add(wid.key)
        self._dirty.add(wid)
        return window

    def _progress(self, max_event_time_ms: int, now_wall_ms: int) -> None:
        if self._max_event_time_ms is None or max_event_time_ms > self._max_event_time_ms:
            self._max_event_time_ms = max_event_time_ms
        self.advance(self._max_event_time_ms)
        # Never back: a backlog read after a restart carries older times than the restore's.
        last = self._last_activity_wall_ms
        self._last_activity_wall_ms = now_wall_ms if last is None else max(last, now_wall_ms)

    def close_due(self, now_wall_ms: int, idle_timeout_ms: int) -> list[ClosedWindow]:
        """Close every window the watermark has passed (after the idle rule); oldest first.

        Closed windows move to :meth:`pending` until :meth:`confirm_emitted`. Nothing closes
        while :attr:`holding`.
        """
        if self._holding:
            return []
        self._advance_if_idle(now_wall_ms, idle_timeout_ms)
        closed: list[ClosedWindow] = []
        for start in sorted(s for s in self._keys_by_start if self.is_closed(s)):
            for key in sorted(self._keys_by_start.pop(start)):
                wid = WindowId(key, start)
                window = self._open.pop(wid)
                done = ClosedWindow(key, window_at(start, self._window), window.accumulator)
                self._pending[wid] = done
                self._dirty.discard(wid)
                self._deleted[wid] = _chunks(len(window.accumulator.users))
                closed.append(done)
        return closed

    def _advance_if_idle(self, now_wall_ms: int, idle_timeout_ms: int) -> None:
        last, top = self._last_activity_wall_ms, self._max_event_time_ms
        if last is None or top is None:
            return
        idle_ms = now_wall_ms - last
        if idle_ms >= idle_timeout_ms:
            self.advance(top + idle_ms)

    def pending(self) -> list[ClosedWindow]:
        """Closed windows not yet confirmed as emitted, oldest first."""
        return [self._pending[wid] for wid in sorted(self._pending, key=_by_start)]

    def confirm_emitted(self, ids: Iterable[WindowId]) -> None:
        """Forget closed windows the sink acknowledged."""
        for wid in ids:
            self._pending.pop(wid, None)

    def take_changes(self) -> Changes:
        """The writes to persist since the last call (see :class:`Changes` for their order)."""
        chunks: dict[tuple[WindowId, int], JSONObject] = {}
        upserts: dict[WindowId, JSONObject] = {}
        for wid in self._dirty:
            window = self._open[wid]
            total = len(window.accumulator.users)
            if total > window.persisted:  # only the chunks new users fell into
                first = window.persisted // USERS_PER_CHUNK
                users = window.users_from(first * USERS_PER_CHUNK)
                for k in range(first, _chunks(total)):
                    at = (k - first) * USERS_PER_CHUNK
                    chunks[(wid, k)] = _chunk_json(wid, k, users[at : at + USERS_PER_CHUNK])
                window.persisted = total
            upserts[wid] = _window_json(wid, window, inline_users=False)
        changes = Changes(upserts, self.meta_json(), chunks, dict(self._deleted))
        self._dirty, self._deleted = set(), {}
        return changes

    def meta_json(self) -> JSONObject:
        """The partition-wide entry: watermark, activity, fence and the pending outbox."""
        applied: list[JSON] = [
            [list(key), op.topic, op.partition, o] for (key, op), o in self._applied.items()
        ]
        pending: list[JSON] = [
            {
                "key": list(c.key),
                "start_ms": c.id.start_ms,
                "accumulator": c.accumulator.to_json(users=False),
            }
            for c in self.pending()
        ]
        return {
            "format": STATE_FORMAT,
            "aggregate_version": self._version,
            "watermark_ms": self._watermark_ms,
            "max_event_time_ms": self._max_event_time_ms,
            "last_activity_wall_ms": self._last_activity_wall_ms,
            "applied_at": applied,
            "pending": pending,
            "holding": self._holding,
        }

    def to_json(self) -> JSONObject:
        """The whole partition as one object, users inline (tests, small aggregates, debugging)."""
        windows: list[JSON] = [
            _window_json(wid, self._open[wid], inline_users=True)
            for wid in sorted(self._open, key=_by_start)
        ]
        return {"meta": self.meta_json(), "open": windows}

    @classmethod
    def from_json(cls, aggregate: Aggregate, data: object, now_wall_ms: int) -> PartitionWindows:
        """Restore what :meth:`to_json` wrote."""
        obj = _json.as_dict(data, "partition windows")
        windows = _json.as_list(_json.field(obj, "open", "partition windows"), "open windows")
        return cls.from_parts(aggregate, obj.get("meta"), windows, now_wall_ms)

    @classmethod
    def from_parts(
        cls,
        aggregate: Aggregate,
        meta: object,
        windows: Iterable[object],
        now_wall_ms: int,
        user_chunks: Iterable[object] = (),
    ) -> PartitionWindows:
        """Restore from a meta entry (``None`` if never written), window entries and user chunks.

        Window entries that are also pending are stale (their delete did not survive) and are
        dropped and scheduled for deletion. Pending windows come back marked ``reemit``. The idle
        clock restarts at ``now_wall_ms``.
        """
        state = cls(aggregate)
        if meta is not None:
            state._restore_meta(meta)
        chunks = _chunks_by_window(user_chunks)
        for entry in windows:
            wid, stored_users = _entry_id(entry)
            if wid in state._pending:
                state._deleted[wid] = _chunks(stored_users)
                continue
            window = _window_from_json(entry, wid, stored_users, chunks)
            state._open[wid] = window
            state._keys_by_start.setdefault(wid.start_ms, set()).add(wid.key)
        state._last_activity_wall_ms = now_wall_ms if state._max_event_time_ms is not None else None
        return state

    def _restore_meta(self, data: object) -> None:
        what = "window state meta"
        obj = _json.as_dict(data, what)
        if obj.get("format") not in READABLE_FORMATS:
            raise _json.WindowStateDecodeError(what, f"unknown format {obj.get('format')!r}")
        if obj.get("aggregate_version") != self._version:
            found = obj.get("aggregate_version")
            reason = f"written by aggregate version {found!r}, this is {self._version!r}"
            raise _json.WindowStateDecodeError(what, reason)
        self._watermark_ms = _json.as_optional_int(obj.get("watermark_ms"), "watermark_ms")
        self._max_event_time_ms = _json.as_optional_int(obj.get("max_event_time_ms"), what)
        self._holding = obj.get("holding") is True
        field_name, shift = _applied_field(obj)
        for item in _json.as_list(obj.get(field_name, []), f"{what}.applied"):
            raw_key, topic, partition, position = _json.as_list(item, f"{what}.applied")
            key = _json.as_str_tuple(raw_key, what)
            op = OriginPartition(_json.as_str(topic, what), _json.as_int(partition, what))
            self._applied[(key, op)] = _json.as_int(position, what) << shift
        for item in _json.as_list(obj.get("pending", []), f"{what}.pending"):
            entry = _json.as_dict(item, f"{what}.pending")
            key = _json.as_str_tuple(_json.field(entry, "key", what), what)
            start = _json.as_int(_json.field(entry, "start_ms", what), what)
            accumulator = Accumulator.from_json(_json.field(entry, "accumulator", what))
            closed = ClosedWindow(key, window_at(start, self._window), accumulator, reemit=True)
            self._pending[closed.id] = closed


def _origin_partition(c: Contribution) -> OriginPartition | None:
    return None if c.origin is None else OriginPartition(c.origin.topic, c.origin.partition)


def _by_start(wid: WindowId) -> tuple[int, tuple[str, ...]]:
    return wid.start_ms, wid.key


def _chunks(users: int) -> int:
    """How many chunk records ``users`` users fill."""
    return -(-users // USERS_PER_CHUNK)


def _chunk_json(wid: WindowId, k: int, users: list[str]) -> JSONObject:
    """Chunk record ``k`` of a window (its users ``k * USERS_PER_CHUNK`` on), with its identity."""
    listed: list[JSON] = list(users)
    return {"key": list(wid.key), "start_ms": wid.start_ms, "chunk": k, "users": listed}


def _chunks_by_window(records: Iterable[object]) -> dict[WindowId, dict[int, list[str]]]:
    what = "users chunk"
    out: dict[WindowId, dict[int, list[str]]] = {}
    for record in records:
        obj = _json.as_dict(record, what)
        key = _json.as_str_tuple(_json.field(obj, "key", what), f"{what}.key")
        start = _json.as_int(_json.field(obj, "start_ms", what), f"{what}.start_ms")
        k = _json.as_int(_json.field(obj, "chunk", what), f"{what}.chunk")
        users = _json.as_str_tuple(_json.field(obj, "users", what), f"{what}.users")
        out.setdefault(WindowId(key, start), {})[k] = list(users)
    return out


def _window_json(wid: WindowId, window: OpenWindow, *, inline_users: bool) -> JSONObject:
    applied: list[JSON] = [[op.topic, op.partition, o] for op, o in window.applied.items()]
    entry: JSONObject = {
        "key": list(wid.key),
        "start_ms": wid.start_ms,
        "accumulator": window.accumulator.to_json(users=inline_users),
        "applied_at": applied,
    }
    if not inline_users:
        entry["users"] = len(window.accumulator.users)  # the first this many users of the chunks
    return entry


def _entry_id(data: object) -> tuple[WindowId, int]:
    """A window entry's window and how many users it stored (inline or in chunks)."""
    what = "window entry"
    obj = _json.as_dict(data, what)
    key = _json.as_str_tuple(_json.field(obj, "key", what), f"{what}.key")
    start = _json.as_int(_json.field(obj, "start_ms", what), f"{what}.start_ms")
    if "users" in obj:
        return WindowId(key, start), _json.as_int(obj["users"], f"{what}.users")
    accumulator = _json.as_dict(_json.field(obj, "accumulator", what), f"{what}.accumulator")
    return WindowId(key, start), len(_json.as_list(accumulator.get("users", []), what))


def _window_from_json(
    data: object, wid: WindowId, stored: int, chunks: Mapping[WindowId, Mapping[int, list[str]]]
) -> OpenWindow:
    """The entry of ``wid`` with its users: from ``chunks`` (format 3), or inline (format 2).

    ``wid`` and ``stored`` (how many users it names) come from :func:`_entry_id`.
    """
    what = "window entry"
    obj = _json.as_dict(data, what)
    accumulator = Accumulator.from_json(_json.field(obj, "accumulator", what))
    window = OpenWindow(accumulator)
    if "users" in obj:  # format 3: the users are in chunk records
        mine = chunks.get(wid, {})
        order: list[str] = []
        for k in range(_chunks(stored)):
            if k not in mine:
                raise _json.WindowStateDecodeError(what, f"users chunk {k} of {wid} is missing")
            order.extend(mine[k])
        window.persisted = stored
        accumulator.users = dict.fromkeys(order[:stored])
        accumulator.known_distinct = None
    # else format 2 (or to_json): users inline; the next write moves them all to chunks
    field_name, shift = _applied_field(obj)
    for item in _json.as_list(obj.get(field_name, []), f"{what}.applied"):
        topic, partition, position = _json.as_list(item, f"{what}.applied")
        op = OriginPartition(_json.as_str(topic, what), _json.as_int(partition, what))
        window.applied[op] = _json.as_int(position, what) << shift
    return window


def _applied_field(obj: Mapping[str, object]) -> tuple[str, int]:
    """Where an entry keeps its fence marks, and the shift that makes them origin positions.

    Format 4 writes ``applied_at``: origin positions (:attr:`Contribution.origin_position`).
    Formats 2 and 3 wrote ``applied``: origin offsets, from the time when every record held one
    event; such an offset is the position of item 0 of its record.
    """
    if "applied_at" in obj:
        return "applied_at", 0
    return "applied", ITEM_BITS
