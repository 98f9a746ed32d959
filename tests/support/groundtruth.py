"""A deterministic identity workload and the profiles it must produce, computed by the test.

:func:`generate` plans Segment calls for a population of users, some of them anonymous first
(events with only ``anonymousId`` A, then an ``identify`` binding A -> U, then events with
``userId`` U and a few more with only A), the others identified from their first event. Every
call is planned with the phase it is sent in, the channel it is sent by (the Segment Python SDK
over HTTP, or kcat straight onto the ``events`` topic) and, for kcat, an arbitrary record key.
Some calls are planned twice with the same ``messageId`` (a retry, possibly in a later phase and
by the other channel).

The ground truth follows the documented semantics, not the implementation: every distinct
messageId counts once, for the user it resolves to (U for everything A sent, before or after the
identify); its counter name is the track ``event``, else the call type; traits are those of the
identify calls, per key the one with the latest event time; known ids are U and, for a stitched
user, A. Identify timestamps of one user are at least minutes apart, so the clock-skew correction
the SDK's ``sentAt`` triggers (milliseconds on one machine) cannot reorder them.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

Channel = Literal["sdk", "kcat"]

PHASE_BEFORE = 0
"""Anonymous events of A, and half of the identified users' events."""
PHASE_IDENTIFY = 1
"""The identify calls that bind A -> U, and the first identify of every other user."""
PHASE_AFTER = 2
"""Everything else: userId events, A's anonymous events after the identify, second identifies."""

TRACK_NAMES = ("Product Viewed", "Product Added", "Checkout Started", "Order Completed", "Searched")
PAGE_NAMES = ("Home", "Pricing", "Docs")
SCREEN_NAMES = ("Feed", "Settings", "Cart")
PLANS = ("free", "pro", "team")
BASE_MS = int(datetime(2025, 3, 1, tzinfo=UTC).timestamp() * 1000)
MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS


def iso(ms: int) -> str:
    """ISO-8601 with milliseconds, as the SDKs write ``timestamp``."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True, slots=True)
class Planned:
    """One Segment call to send: in which phase, by which channel, the JSON body."""

    phase: int
    channel: Channel
    body: dict[str, Any]
    kafka_key: str
    owner: str
    """The user id the call counts for (the ground truth's answer to "whose is it")."""


@dataclass(slots=True)
class Expected:
    """What ``GET /profiles/{U}`` and ``GET /counters/{U}`` must say about one user."""

    user_id: str
    anonymous_id: str | None = None
    event_count: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    traits: dict[str, Any] = field(default_factory=dict)
    trait_times: dict[str, int] = field(default_factory=dict)
    known_ids: set[str] = field(default_factory=set)
    anonymous_before: int = 0
    """Distinct events of the anonymous id sent in :data:`PHASE_BEFORE` (counted under A then)."""

    def count(self, body: dict[str, Any], time_ms: int) -> None:
        self.event_count += 1
        self.counts[event_name(body)] += 1
        for key in ("anonymousId", "userId"):
            if body.get(key):
                self.known_ids.add(body[key])
        if body["type"] == "identify":
            for key, value in (body.get("traits") or {}).items():
                if key not in self.trait_times or time_ms > self.trait_times[key]:
                    self.traits[key] = value
                    self.trait_times[key] = time_ms


def event_name(body: dict[str, Any]) -> str:
    """The counter name of a call: the track event, else the call type."""
    return str(body["event"]) if body["type"] == "track" else str(body["type"])


@dataclass(slots=True)
class Workload:
    """The calls to send and the profiles they must produce."""

    planned: list[Planned]
    expected: dict[str, Expected]
    """By user id."""
    stitched: dict[str, str]
    """Anonymous id -> the user id it is bound to."""

    def phase(self, phase: int) -> list[Planned]:
        return [p for p in self.planned if p.phase == phase]

    @property
    def distinct_events(self) -> int:
        return sum(e.event_count for e in self.expected.values())

    @property
    def duplicates(self) -> int:
        return len(self.planned) - self.distinct_events


class _Planner:
    def __init__(self, rng: random.Random, tag: str, sdk_share: float, base_ms: int) -> None:
        self.rng = rng
        self.base_ms = base_ms
        self.tag = tag
        self.sdk_share = sdk_share
        self.seq = 0
        self.planned: list[Planned] = []

    def channel(self) -> Channel:
        return "sdk" if self.rng.random() < self.sdk_share else "kcat"

    def add(self, phase: int, owner: Expected, body: dict[str, Any], time_ms: int) -> None:
        self.seq += 1
        body = {"messageId": f"{self.tag}m{self.seq:06d}", "timestamp": iso(time_ms), **body}
        key = f"k{self.rng.randrange(10**6)}"
        self.planned.append(Planned(phase, self.channel(), body, key, owner.user_id))
        owner.count(body, time_ms)

    def activity(self, ids: dict[str, str]) -> dict[str, Any]:
        """A non-identify call by ``ids`` (userId and/or anonymousId)."""
        roll = self.rng.random()
        if roll < 0.70:
            name = self.rng.choice(TRACK_NAMES)
            props = {"sku": f"s{self.rng.randrange(500)}", "price": self.rng.randrange(1, 300)}
            return {"type": "track", "event": name, "properties": props, **ids}
        if roll < 0.84:
            return {"type": "page", "name": self.rng.choice(PAGE_NAMES), **ids}
        if roll < 0.96:
            return {"type": "screen", "name": self.rng.choice(SCREEN_NAMES), **ids}
        group = {"groupId": f"g{self.rng.randrange(20)}", "traits": {"plan": "team"}}
        return {"type": "group", **group, **ids}


def generate(
    *,
    seed: int,
    users: int,
    events: int,
    anonymous_share: float = 0.3,
    duplicate_share: float = 0.02,
    sdk_share: float = 0.5,
    tag: str = "",
    base_ms: int = BASE_MS,
) -> Workload:
    """Plan ``events`` distinct calls (plus duplicates) for ``users`` users; see the module doc."""
    rng = random.Random(seed)
    planner = _Planner(rng, tag, sdk_share, base_ms)
    anonymous = set(rng.sample(range(users), round(users * anonymous_share)))
    minimum = {i: 3 if i in anonymous else 2 for i in range(users)}
    budget = dict(minimum)
    spare = events - sum(minimum.values())
    if spare < 0:
        raise ValueError("too few events for that many users")
    for _ in range(spare):
        budget[rng.randrange(users)] += 1

    expected: dict[str, Expected] = {}
    stitched: dict[str, str] = {}
    for i in range(users):
        user = Expected(f"{tag}u{i:05d}")
        expected[user.user_id] = user
        if i in anonymous:
            user.anonymous_id = f"{tag}a{i:05d}"
            stitched[user.anonymous_id] = user.user_id
        _plan_user(planner, user, i, budget[i])

    planned = planner.planned
    for original in rng.sample(planned, round(len(planned) * duplicate_share)):
        phase = rng.randint(original.phase, PHASE_AFTER)
        key = f"k{rng.randrange(10**6)}"
        copy = Planned(phase, planner.channel(), original.body, key, original.owner)
        planned.append(copy)
    rng.shuffle(planned)
    return Workload(planned, expected, stitched)


def _plan_user(planner: _Planner, user: Expected, index: int, budget: int) -> None:
    """Plan ``budget`` distinct calls of one user, in time order per phase."""
    rng = planner.rng
    u = user.user_id
    a = user.anonymous_id
    time_ms = planner.base_ms + rng.randrange(3 * 24 * HOUR_MS)

    def tick() -> int:
        nonlocal time_ms
        time_ms += rng.randrange(MINUTE_MS, 20 * MINUTE_MS)
        return time_ms

    second_identify = budget >= 5 and rng.random() < 0.25
    rest = budget - 1 - (1 if second_identify else 0)
    before_user = after_anon = before_anon = 0
    if a is not None:
        before_anon = 1 + rng.randrange(max(1, rest // 2))
        after_anon = rng.randrange(0, (rest - before_anon) // 3 + 1) if rng.random() < 0.6 else 0
    else:
        before_user = rng.randrange(rest)
    after_user = rest - before_anon - after_anon - before_user

    for n in range(before_anon):
        assert a is not None
        if n == 0 and rng.random() < 0.2:  # an anonymous identify: traits before sign-up
            traits = {"utm_source": rng.choice(("ads", "mail", "blog")), "plan": "trial"}
            body = {"type": "identify", "anonymousId": a, "traits": traits}
            planner.add(PHASE_BEFORE, user, body, tick())
        else:
            planner.add(PHASE_BEFORE, user, planner.activity({"anonymousId": a}), tick())
        user.anonymous_before += 1
    for _ in range(before_user):
        planner.add(PHASE_BEFORE, user, planner.activity({"userId": u}), tick())

    traits = {
        "name": f"User {index}",
        "email": f"user{index}@example.com",
        "plan": rng.choice(PLANS),
    }
    identify: dict[str, Any] = {"type": "identify", "userId": u, "traits": traits}
    if a is not None:
        identify["anonymousId"] = a
    identified_at = tick()
    planner.add(PHASE_IDENTIFY, user, identify, identified_at)

    after: list[dict[str, Any]] = [planner.activity({"userId": u}) for _ in range(after_user)]
    after += [planner.activity({"anonymousId": a}) for _ in range(after_anon) if a is not None]
    rng.shuffle(after)
    for body in after:
        planner.add(PHASE_AFTER, user, body, tick())
    if second_identify:
        if rng.random() < 0.5:  # newer: its plan wins
            late = {"plan": "enterprise", "seats": rng.randrange(2, 50)}
            planner.add(
                PHASE_AFTER, user, {"type": "identify", "userId": u, "traits": late}, tick()
            )
        else:  # arrives last, but is older than the first identify: its plan loses
            stale = {"plan": "stale", "legacy": True}
            body = {"type": "identify", "userId": u, "traits": stale}
            planner.add(PHASE_AFTER, user, body, identified_at - HOUR_MS)


def follow_up(workload: Workload, *, seed: int, tag: str, resend: int) -> list[Planned]:
    """Plan more calls after ``workload``: one anonymous-only call per stitched id (it counts for
    its user), and ``resend`` earlier calls again with their messageIds (each must be dropped).

    The calls are added to ``workload`` (and its ground truth) and returned.
    """
    rng = random.Random(seed)
    planner = _Planner(rng, tag, 0.5, BASE_MS + 10 * 24 * HOUR_MS)
    for anonymous, user in sorted(workload.stitched.items()):
        body = planner.activity({"anonymousId": anonymous})
        planner.add(PHASE_AFTER, workload.expected[user], body, planner.base_ms)
    for original in rng.sample(workload.planned, resend):
        key = f"k{rng.randrange(10**6)}"
        planner.planned.append(
            Planned(PHASE_AFTER, planner.channel(), original.body, key, original.owner)
        )
    workload.planned += planner.planned
    return planner.planned
