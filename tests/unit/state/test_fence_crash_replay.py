"""Simulated ``kill -9`` at any moment: the fence protocol loses nothing and counts nothing twice.

A model of one stage partition under Faust: records are processed in batches; outputs are sent
during the batch; at the end of a batch every touched key is put locally and sent to the
changelog, then the progress key; then the producer is flushed and the input offset committed.
A crash keeps any prefix of the unflushed outputs and changelog sends, and restarts either from
the local store as it was (possibly ahead of the changelog) or from the changelog alone. The
crashed run must end with the same state as a crash-free run, the changelog must restore it, and
a downstream fence over the surviving outputs must accept exactly the crash-free outputs.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, replace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamapp.counters.counters import EMPTY
from streamapp.events import Event, EventType, Origin
from streamapp.identify.binding import Binding
from streamapp.identify.dedupe import Seen
from streamapp.identify.handoff import Handoff
from streamapp.identify.keys import binding_key, seen_key
from streamapp.identify.resolve import SendHandoff, binding_subject
from streamapp.identify.stage import identify
from streamapp.profiles.messages import Merge
from streamapp.profiles.profile import Profile
from streamapp.profiles.stage import Forward, Limits, on_event, on_handoff, on_merge
from streamapp.profiles.user_state import UserState
from streamapp.state.fence import Position, Progress, Verdict, judge, progress_key

UP = "up"
ME = "me"
PK = progress_key(0)
T0 = 1_700_000_000_000
H = 86_400_000
L = Limits(known_ids_max=4, days_retained=5)


@dataclass(frozen=True)
class Rec:
    key: str
    value: object
    origin: Origin | None
    index: int = 0


@dataclass(frozen=True)
class Out:
    key: str
    value: object
    origin: Origin
    index: int


Getter = Callable[[str], bytes | None]
Handled = tuple[dict[str, bytes], list[tuple[str, object]]]
Handler = Callable[[Rec, Position, Getter], Handled]


@dataclass
class World:
    local: dict[str, bytes]
    changelog: list[tuple[str, bytes]]
    outputs: list[Out]
    crashes: int = 0


def run(
    log: list[Rec],
    handle: Handler,
    batch: int,
    data: st.DataObject | None = None,
    max_crashes: int = 0,
) -> World:
    w = World({}, [], [])
    committed, durable_cl, durable_out = 0, 0, 0

    def maybe_crash() -> bool:
        if data is None or w.crashes >= max_crashes:
            return False
        return data.draw(st.integers(0, 9), label="crash?") == 0

    while committed < len(log):
        raw = w.local.get(PK)
        progress = Progress.from_bytes(raw) if raw is not None else Progress()
        pos = committed
        crashed = False
        while pos < len(log) and not crashed:
            end = min(pos + batch, len(log))
            work: dict[str, bytes] = {}
            for off in range(pos, end):
                rec = log[off]
                at = Position(off)
                verdict, progress = judge(progress, at, rec.origin, rec.index)
                if verdict is not Verdict.UPSTREAM_DUPLICATE:
                    writes, outs = handle(rec, at, lambda k, work=work: work.get(k, w.local.get(k)))
                    work.update(writes)
                    for i, (key, value) in enumerate(outs):
                        w.outputs.append(Out(key, value, Origin(ME, 0, off), i))
                if maybe_crash():
                    crashed = True
                    break
            if crashed:
                break
            for key, value in [*work.items(), (PK, progress.to_bytes())]:
                if maybe_crash():
                    crashed = True
                    break
                w.local[key] = value
                w.changelog.append((key, value))
            if crashed:
                break
            pos = end
            # Faust commits on an interval: a batch may be fully written and not yet committed.
            if data is None or pos == len(log) or data.draw(st.booleans(), label="commit now"):
                committed, durable_cl, durable_out = pos, len(w.changelog), len(w.outputs)
        if crashed:
            assert data is not None
            w.crashes += 1
            keep_out = data.draw(st.integers(durable_out, len(w.outputs)), label="outputs kept")
            keep_cl = data.draw(st.integers(durable_cl, len(w.changelog)), label="changelog kept")
            del w.outputs[keep_out:]
            del w.changelog[keep_cl:]
            if data.draw(st.booleans(), label="restore from changelog"):
                w.local = dict(w.changelog)
    return w


def accepted_downstream(outputs: list[Out]) -> list[Out]:
    progress = Progress()
    accepted: list[Out] = []
    for n, out in enumerate(outputs):
        verdict, progress = judge(progress, Position(n), out.origin, out.index)
        if verdict is Verdict.FRESH:
            accepted.append(out)
    return accepted


@st.composite
def with_upstream_resends(draw: st.DrawFn, items: list[tuple[str, object]]) -> list[Rec]:
    """The upstream's records, with suffixes re-sent as after upstream crashes."""
    log: list[Rec] = []
    n = 0
    while n < len(items):
        key, value = items[n]
        log.append(Rec(key, value, Origin(UP, 0, n)))
        n += 1
        if draw(st.integers(0, 6)) == 0:
            n = draw(st.integers(max(0, n - 4), n))  # upstream restarts and re-sends
    return log


def check(
    items: list[tuple[str, object]], handle: Handler, batch: int, data: st.DataObject
) -> tuple[World, World]:
    """Run without re-sends, with re-sends, and with re-sends and crashes; compare."""
    ideal = run([Rec(k, v, Origin(UP, 0, n)) for n, (k, v) in enumerate(items)], handle, batch)
    records = data.draw(with_upstream_resends(items), label="upstream log")
    clean = run(records, handle, batch)
    crashed = run(records, handle, batch, data, 3)
    assert crashed.local == clean.local
    assert dict(crashed.changelog) == crashed.local  # a restore from the changelog is complete
    assert accepted_downstream(crashed.outputs) == clean.outputs
    assert [(o.key, o.value) for o in clean.outputs] == [(o.key, o.value) for o in ideal.outputs]
    return ideal, clean


# --- the identify stage --------------------------------------------------------------------


def identify_handler(rec: Rec, at: Position, get: Getter) -> Handled:
    event = rec.value
    assert isinstance(event, Event)
    subject = binding_subject(event)
    seen_raw = get(seen_key(event.message_id))
    bound_raw = get(binding_key(subject)) if subject is not None else None
    step = identify(
        event,
        seen=Seen.from_bytes(seen_raw) if seen_raw is not None else None,
        binding=Binding.from_bytes(bound_raw) if bound_raw is not None else None,
        partition=0,
        at=at,
        horizon_ms=H,
    )
    writes: dict[str, bytes] = {}
    if step.seen is not None:
        writes[seen_key(event.message_id)] = step.seen.to_bytes()
    if step.binding is not None and subject is not None:
        writes[binding_key(subject)] = step.binding.to_bytes()
    outs: list[tuple[str, object]] = [
        (o.key, o.handoff if isinstance(o, SendHandoff) else event.message_id) for o in step.outputs
    ]
    return writes, outs


@st.composite
def identify_events(draw: st.DrawFn) -> list[tuple[str, object]]:
    items: list[tuple[str, object]] = []
    for n in range(draw(st.integers(0, 14))):
        anon = draw(st.sampled_from(["a", "b", None]))
        user = draw(st.sampled_from(["u", "v", None])) if anon else draw(st.sampled_from("uv"))
        mid = draw(st.sampled_from([f"m{n}", "retry-1", "retry-2"]))
        event = Event(
            EventType.IDENTIFY,
            mid,
            T0 + n,
            T0 + n,
            anonymous_id=anon,
            user_id=user,
        )
        items.append((anon or user or "", event))
    return items


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(identify_events(), st.integers(1, 4), st.data())
def test_identify_stage_survives_crashes(
    items: list[tuple[str, object]], batch: int, data: st.DataObject
) -> None:
    ideal, clean = check(items, identify_handler, batch, data)

    def bindings(world: World) -> dict[str, str]:
        return {
            k: Binding.from_bytes(v).user_id
            for k, v in world.local.items()
            if k.startswith(binding_key(""))
        }

    assert bindings(clean) == bindings(ideal)
    message_ids = {e.message_id for _, e in items if isinstance(e, Event)}
    sent_events = [o.value for o in clean.outputs if not isinstance(o.value, Handoff)]
    assert sorted(sent_events) == sorted(message_ids)  # each event once, retries dropped
    assert {k for k in clean.local if k.startswith(seen_key(""))} == {
        k for k in ideal.local if k.startswith(seen_key(""))
    }


# --- the profiles stage --------------------------------------------------------------------


def profiles_handler(rec: Rec, at: Position, get: Getter) -> Handled:
    raw = get(rec.key)
    state = UserState.from_bytes(raw) if raw is not None else None
    value = rec.value
    if isinstance(value, Event):
        step = on_event(state, rec.key, value, at, 0, L)
    elif isinstance(value, Handoff):
        step = on_handoff(state, rec.key, value, at, L)
    else:
        assert isinstance(value, Merge)
        step = on_merge(state, rec.key, value, at, 0, L)
    writes = {rec.key: step.state.to_bytes()} if step.state is not None else {}
    outs: list[tuple[str, object]] = [
        (o.key, ("forward", o.hops) if isinstance(o, Forward) else o.merge.to_bytes())
        for o in step.outputs
    ]
    return writes, outs


SNAP = {"x": 10, "y": 100}


def snapshot(user: str) -> Merge:
    count = SNAP[user]
    return Merge(user, Profile(user, event_count=count, first_seen_ms=T0, last_seen_ms=T0), EMPTY)


@st.composite
def profile_items(draw: st.DrawFn) -> list[tuple[str, object]]:
    items: list[tuple[str, object]] = []
    for n in range(draw(st.integers(0, 14))):
        kind = draw(st.sampled_from(["anon", "user", "handoff", "merge"]))
        if kind == "anon":
            key = draw(st.sampled_from("ab"))
            items.append((key, Event(EventType.TRACK, f"m{n}", T0 + n, T0, anonymous_id=key)))
        elif kind == "user":
            key = draw(st.sampled_from("uva"))
            items.append((key, Event(EventType.TRACK, f"m{n}", T0 + n, T0, user_id=key)))
        elif kind == "handoff":
            src, dst = draw(st.sampled_from([("a", "u"), ("b", "u"), ("a", "v")]))
            items.append((src, Handoff(src, dst)))
        else:
            key = draw(st.sampled_from("uva"))
            items.append((key, snapshot(draw(st.sampled_from("xy")))))
    return items


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(profile_items(), st.integers(1, 4), st.data())
def test_profiles_stage_survives_crashes(
    items: list[tuple[str, object]], batch: int, data: st.DataObject
) -> None:
    ideal, clean = check(items, profiles_handler, batch, data)

    def states(world: World) -> dict[str, object]:
        out: dict[str, object] = {}
        for key, raw in world.local.items():
            if key != PK:
                state = UserState.from_bytes(raw)
                out[key] = (replace(state.profile, merged_at=None), state.counters)
        return out

    assert states(clean) == states(ideal)
    applied, merged, tombstones = oracle(items)
    for key, raw in clean.local.items():
        if key == PK:
            continue
        state = UserState.from_bytes(raw)
        assert sum(c.total for c in state.counters.names.values()) == applied[key]
        extra = sum(SNAP[m] for m in merged[key])
        assert state.profile.event_count == applied[key] + extra
        assert (state.profile.merged_into is not None) == (key in tombstones)


def oracle(
    items: list[tuple[str, object]],
) -> tuple[Counter[str], dict[str, set[str]], set[str]]:
    """Count, independently of the stage code, what each key must hold."""
    applied: Counter[str] = Counter()
    merged: dict[str, set[str]] = defaultdict(set)
    identified: set[str] = set()
    tombstones: set[str] = set()
    for key, value in items:
        if key in tombstones:
            continue
        if isinstance(value, Event):
            applied[key] += 1
            if value.user_id == key:
                identified.add(key)
        elif isinstance(value, Handoff):
            if key not in identified:
                tombstones.add(key)
        elif isinstance(value, Merge):
            merged[key].add(value.from_id)
    return applied, merged, tombstones
