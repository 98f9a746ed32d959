"""A seeded live event stream for windowed aggregates, how to send it, and its ground truth.

:func:`plan_stream` plans Segment calls whose event times follow the wall clock: event ``i`` has
time ``base + time_offset_ms`` and is sent at ``base + send_offset_ms`` (``send = time + lag``,
``0 <= lag <= max_lag_ms``), so events reach the broker shuffled by at most ``max_lag_ms`` of event
time, and never before their own timestamp (no ``sentAt`` is sent: event time = ``timestamp``).
:func:`play` sends a plan in real time through :class:`Feeder` (HTTP ``/v1/batch`` and Kafka).

:func:`expected_windows` is the ground truth, computed from what was sent and the documented
semantics only (nothing imported from ``streamapp``): every window ``[start, start + size)`` with
``start`` a multiple of the step that contains the event time; an event counts for an aggregate
when its name is selected and its key field is present; ``Sum``/``Max`` use numbers only (a price
sent as a string counts in ``count`` but not in the sums); ``DistinctUsers`` counts canonical user
ids (the ``userId``, else the never-identified ``anonymousId``).
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
import requests
from aiokafka import AIOKafkaProducer

Channel = Literal["http", "kafka"]
TRACK_NAMES = ("Product Viewed", "Product Added", "Order Completed", "Searched")
PLANS = ("free", "pro", "team")


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class Planned:
    """One call to send: when (relative to the stream's base), how, and its body sans timestamp."""

    time_offset_ms: int
    send_offset_ms: int
    channel: Channel
    body: dict[str, Any]


@dataclass(frozen=True)
class Sent:
    """One call as sent, with what the ground truth needs to know about it."""

    message_id: str
    user: str
    """The canonical user id: ``userId``, else the (never identified) ``anonymousId``."""
    name: str
    """The event name: the track ``event``, else the call type."""
    time_ms: int
    plan: str | None
    price: float | None
    """The price when it is a number (what Sum/Max read), else ``None``."""
    channel: Channel
    body: dict[str, Any]


def make_body(rng: random.Random, seq: int, tag: str, users: int) -> dict[str, Any]:
    """A seeded Segment call: a track of one of :data:`TRACK_NAMES` (90 %) or a page."""
    n = rng.randrange(users)
    ids = {"anonymousId": f"{tag}-anon{n}"} if n % 5 == 4 else {"userId": f"{tag}-user{n}"}
    message_id = f"{tag}-m{seq:06d}"
    if rng.random() < 0.1:
        return {"type": "page", "name": "Home", "messageId": message_id, **ids}
    props: dict[str, Any] = {}
    if rng.random() < 0.85:
        props["plan"] = rng.choice(PLANS)
    roll = rng.random()
    if roll < 0.75:
        props["price"] = round(rng.uniform(1, 500), 2)
    elif roll < 0.85:
        props["price"] = rng.randrange(1, 500)
    elif roll < 0.95:
        props["price"] = f"{rng.randrange(1, 500)}.50"  # a string: counted, never summed
    name = rng.choice(TRACK_NAMES)
    return {"type": "track", "event": name, "properties": props, "messageId": message_id, **ids}


def plan_stream(
    *,
    seed: int,
    tag: str,
    duration_s: float,
    per_s: float,
    max_lag_ms: int,
    users: int = 40,
    kafka_share: float = 0.4,
) -> list[Planned]:
    """Plan ``duration_s * per_s`` calls; sorted by send time (event times shuffled by the lag)."""
    rng = random.Random(seed)
    total = round(duration_s * per_s)
    out: list[Planned] = []
    for seq in range(total):
        t = rng.randrange(round(duration_s * 1000))
        lag = rng.randrange(max_lag_ms + 1)
        channel: Channel = "kafka" if rng.random() < kafka_share else "http"
        out.append(Planned(t, t + lag, channel, make_body(rng, seq, tag, users)))
    out.sort(key=lambda p: (p.send_offset_ms, p.body["messageId"]))
    return out


def sent_of(body: dict[str, Any], time_ms: int, channel: Channel) -> Sent:
    props = body.get("properties") or {}
    price = props.get("price")
    number = (
        float(price) if isinstance(price, int | float) and not isinstance(price, bool) else None
    )
    return Sent(
        message_id=body["messageId"],
        user=body.get("userId") or body["anonymousId"],
        name=body["event"] if body["type"] == "track" else body["type"],
        time_ms=time_ms,
        plan=props.get("plan"),
        price=number,
        channel=channel,
        body={**body, "timestamp": iso(time_ms)},
    )


class Feeder:
    """Sends calls to one worker: HTTP ``/v1/batch`` (write key) and straight onto ``events``.

    A call is sent once; both channels must acknowledge (HTTP 200 ``success``, Kafka acks=all), so
    every call this returns from is one the delivery contract covers.
    """

    def __init__(self, url: str, write_key: str, bootstrap: str, events_topic: str) -> None:
        self.url = url
        self.write_key = write_key
        self.events_topic = events_topic
        self.session = requests.Session()
        self.loop = asyncio.new_event_loop()
        self.producer = self.loop.run_until_complete(self._start(bootstrap))

    @staticmethod
    async def _start(bootstrap: str) -> AIOKafkaProducer:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
        await producer.start()
        return producer

    def close(self) -> None:
        self.loop.run_until_complete(self.producer.stop())
        self.loop.close()
        self.session.close()

    def __enter__(self) -> Feeder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, sent: Iterable[Sent]) -> None:
        http = [s.body for s in sent if s.channel == "http"]
        kafka = [s.body for s in sent if s.channel == "kafka"]
        if kafka:
            self.loop.run_until_complete(self._produce(kafka))
        for start in range(0, len(http), 200):
            self._post({"batch": http[start : start + 200]})

    def _post(self, body: dict[str, Any]) -> None:
        for _ in range(20):
            resp = self.session.post(
                f"{self.url}/v1/batch", json=body, auth=(self.write_key, ""), timeout=30
            )
            if resp.status_code != 429:
                break
            time.sleep(float(resp.headers.get("Retry-After", "1")))
        assert resp.status_code == 200 and resp.json() == {"success": True}, (
            f"POST /v1/batch answered {resp.status_code}: {resp.text[:300]}"
        )

    async def _produce(self, bodies: list[dict[str, Any]]) -> None:
        futures = []
        for body in bodies:
            key = (body.get("anonymousId") or body["userId"]).encode()
            futures.append(await self.producer.send(self.events_topic, orjson.dumps(body), key=key))
        await asyncio.gather(*futures)


def play(
    feeder: Feeder,
    plan: list[Planned],
    base_ms: int,
    *,
    tick_s: float = 0.2,
    extra: Callable[[], list[Sent]] | None = None,
    stop_at_offset_ms: int | None = None,
    time_shift_ms: int = 0,
) -> list[Sent]:
    """Send ``plan`` in real time from ``base_ms``; return what was sent, in send order.

    ``extra`` is called before each send and may add calls to it (the late events of a test).
    With ``stop_at_offset_ms``, calls planned to be sent from then on are not sent.
    ``time_shift_ms`` is added to every event time (a backfill of old data at real-time pace).
    """
    sent: list[Sent] = []
    if stop_at_offset_ms is not None:
        plan = [p for p in plan if p.send_offset_ms < stop_at_offset_ms]
    i = 0
    while i < len(plan):
        elapsed = now_ms() - base_ms
        batch: list[Sent] = []
        while i < len(plan) and plan[i].send_offset_ms <= elapsed:
            p = plan[i]
            batch.append(sent_of(p.body, base_ms + time_shift_ms + p.time_offset_ms, p.channel))
            i += 1
        if extra is not None:
            batch += extra()
        if batch:
            feeder.send(batch)
            sent += batch
        if i < len(plan):
            wait_ms = plan[i].send_offset_ms - (now_ms() - base_ms)
            time.sleep(max(0.0, min(tick_s, wait_ms / 1000)))
    return sent


@dataclass(frozen=True)
class AggregateSpec:
    """What the test's topology declares, as the ground truth reads it."""

    name: str
    size_s: int
    step_s: int
    grace_s: int
    key_field: str
    key: Callable[[Sent], str | None]
    events: frozenset[str] = frozenset()
    """Selected event names; empty: every call."""
    price_measures: bool = False
    """Whether it has ``Sum``/``Max`` of ``properties.price`` (``sum_price``, ``max_price``)."""

    @property
    def grace_ms(self) -> int:
        return self.grace_s * 1000

    def selects(self, s: Sent) -> bool:
        return (not self.events or s.name in self.events) and self.key(s) is not None

    def windows(self, time_ms: int) -> list[tuple[int, int]]:
        """Every ``[start, end)`` containing ``time_ms``, oldest first."""
        size, step = self.size_s * 1000, self.step_s * 1000
        last = time_ms - time_ms % step
        starts = range(last - size + step, last + 1, step)
        return [(s, s + size) for s in starts if s <= time_ms < s + size]


WindowKey = tuple[str, int]
"""(aggregate key value, window start ms): one window of one key, a sink record's identity."""


@dataclass
class _Acc:
    count: int = 0
    prices: list[float] = field(default_factory=list)
    users: set[str] = field(default_factory=set)


def expected_windows(
    spec: AggregateSpec,
    sent: Iterable[Sent],
    counted: Callable[[Sent, int], bool] | None = None,
) -> dict[WindowKey, dict[str, Any]]:
    """The sink record every window of ``spec`` must have (without ``aggregate_version``).

    ``counted(sent, window_start)`` may exclude an event from some of its windows (those that
    had closed before it arrived: it is late there).
    """
    accs: dict[WindowKey, _Acc] = defaultdict(_Acc)
    for s in sent:
        key = spec.key(s)
        if key is None or not spec.selects(s):
            continue
        for start, _ in spec.windows(s.time_ms):
            if counted is not None and not counted(s, start):
                continue
            acc = accs[(key, start)]
            acc.count += 1
            acc.users.add(s.user)
            if s.price is not None:
                acc.prices.append(s.price)
    out: dict[WindowKey, dict[str, Any]] = {}
    for (key, start), acc in accs.items():
        record: dict[str, Any] = {
            spec.key_field: key,
            "window_start": start,
            "window_end": start + spec.size_s * 1000,
            "count": acc.count,
            "distinct_users": len(acc.users),
        }
        if spec.price_measures:
            record["sum_price"] = math.fsum(acc.prices) if acc.prices else None
            record["max_price"] = max(acc.prices) if acc.prices else None
        out[(key, start)] = record
    return out


def diff_windows(
    expected: dict[WindowKey, dict[str, Any]], got: dict[WindowKey, dict[str, Any]], limit: int = 8
) -> str:
    """A readable account of how two window sets differ ('' when equal)."""
    lines: list[str] = []
    missing = sorted(set(expected) - set(got))
    extra = sorted(set(got) - set(expected))
    wrong = sorted(k for k in set(expected) & set(got) if expected[k] != got[k])
    if missing:
        lines.append(f"{len(missing)} windows missing on the sink, e.g. {missing[:limit]}")
    if extra:
        lines.append(f"{len(extra)} windows on the sink that nothing sent, e.g.:")
        lines += [f"  {k}: {got[k]}" for k in extra[:limit]]
    if wrong:
        lines.append(f"{len(wrong)} windows with wrong values, e.g.:")
        for k in wrong[:limit]:
            lines.append(f"  {k}: expected {expected[k]}")
            lines.append(f"  {' ' * len(str(k))}       got {got[k]}")
    return "\n".join(lines)
