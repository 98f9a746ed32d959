"""The benchmark workload: a deterministic, seeded stream of Segment events.

Why a generator of our own: every system in the benchmark must read byte-identical input, and a
sceptical reader must be able to regenerate it. ``generate(n, seed=..., base_ms=...)`` yields the
same ``(key, value)`` records for the same arguments.

Shape (issue 8): 100,000 users, 30 % of them anonymous first (their first events carry only an
``anonymousId``, then an ``identify`` binds it to the ``userId``), 40 event names with a Zipf
skew, realistic ``properties`` and ``context`` (~400 bytes per event), 1 % malformed records,
event timestamps with jitter and 0.5 % late (minutes behind the stream).
"""

from __future__ import annotations

import bisect
import itertools
import random
from collections.abc import Iterator
from dataclasses import dataclass

import orjson

USERS = 100_000
ANONYMOUS_FIRST = 0.30
EVENT_NAMES = 40
ZIPF_S = 1.1
MALFORMED = 0.01
LATE = 0.005
LATE_BY_MS = 10 * 60 * 1000
JITTER_MS = 2_000
EVENTS_PER_S_OF_EVENT_TIME = 500
"""Event-time density: 1,000,000 events span ~33 minutes of event time."""

NAMES = [
    "Product Viewed",
    "Page Viewed",
    "Product Clicked",
    "Product Added",
    "Cart Viewed",
    "Checkout Started",
    "Order Completed",
    "Product Removed",
    "Products Searched",
    "Product List Viewed",
    "Signed In",
    "Signed Up",
    "Signed Out",
    "Coupon Entered",
    "Coupon Applied",
    "Payment Info Entered",
    "Checkout Step Viewed",
    "Checkout Step Completed",
    "Promotion Viewed",
    "Promotion Clicked",
    "Product Shared",
    "Cart Shared",
    "Product Reviewed",
    "Wishlist Product Added",
    "Wishlist Product Removed",
    "Video Playback Started",
    "Video Playback Paused",
    "Video Content Playing",
    "Video Playback Completed",
    "Email Opened",
    "Email Link Clicked",
    "Push Notification Received",
    "Push Notification Tapped",
    "Application Opened",
    "Application Backgrounded",
    "Application Installed",
    "Application Updated",
    "Feature Used",
    "Settings Changed",
    "Support Ticket Opened",
]
assert len(NAMES) == EVENT_NAMES

LIBRARIES = [
    ("analytics.js", "4.1.0"),
    ("analytics-ios", "4.1.8"),
    ("analytics-android", "4.11.3"),
    ("analytics-python", "2.4.0"),
]
CATEGORIES = ["shoes", "shirts", "outdoor", "kitchen", "books", "toys", "audio", "garden"]
CURRENCIES = ["EUR", "USD", "GBP", "JPY"]
LOCALES = ["en-US", "de-DE", "fr-FR", "en-GB", "ja-JP"]


@dataclass(slots=True)
class _User:
    user_id: str
    anonymous_id: str
    anonymous_first: bool
    identify_after: int
    seen: int = 0


def _zipf_cdf(n: int, s: float) -> list[float]:
    weights = [1.0 / (rank**s) for rank in range(1, n + 1)]
    total = sum(weights)
    return list(itertools.accumulate(w / total for w in weights))


def _iso(ms: int) -> str:
    secs, millis = divmod(ms, 1000)
    import datetime as dt

    moment = dt.datetime.fromtimestamp(secs, tz=dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{millis:03d}Z"


def _malformed(rng: random.Random, good: bytes) -> bytes:
    kind = rng.randrange(5)
    if kind == 0:
        return good[: len(good) // 2]  # truncated JSON
    if kind == 1:
        return b"not json at all"
    if kind == 2:
        obj = orjson.loads(good)
        obj.pop("type", None)  # no call type
        return orjson.dumps(obj)
    if kind == 3:
        obj = orjson.loads(good)
        obj["timestamp"] = "yesterday-ish"  # unreadable timestamp
        return orjson.dumps(obj)
    obj = orjson.loads(good)
    obj.pop("userId", None)
    obj.pop("anonymousId", None)  # nobody
    return orjson.dumps(obj)


def generate(n: int, *, seed: int = 8, base_ms: int) -> Iterator[tuple[bytes, bytes]]:
    """Yield ``n`` records ``(key, value)``: keys are the identity key, values Segment JSON."""
    rng = random.Random(seed)
    users = [
        _User(
            user_id=f"user-{i:06d}",
            anonymous_id=f"anon-{i:06d}-{rng.getrandbits(32):08x}",
            anonymous_first=rng.random() < ANONYMOUS_FIRST,
            identify_after=rng.randint(1, 4),
        )
        for i in range(USERS)
    ]
    cdf = _zipf_cdf(EVENT_NAMES, ZIPF_S)
    produced = 0
    seq = 0
    while produced < n:
        seq += 1
        user = users[rng.randrange(USERS)]
        at_ms = base_ms + produced * 1000 // EVENTS_PER_S_OF_EVENT_TIME
        at_ms += int(rng.gauss(0, JITTER_MS / 2))
        if rng.random() < LATE:
            at_ms -= LATE_BY_MS
        library, version = LIBRARIES[int(user.user_id[5:]) % len(LIBRARIES)]
        context = {
            "library": {"name": library, "version": version},
            "ip": f"10.{seq % 250}.{user.seen % 250}.{rng.randrange(250)}",
            "locale": LOCALES[rng.randrange(len(LOCALES))],
            "userAgent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131.0",
        }
        identify_now = user.anonymous_first and user.seen == user.identify_after
        event: dict[str, object]
        if identify_now:
            event = {
                "type": "identify",
                "userId": user.user_id,
                "anonymousId": user.anonymous_id,
                "traits": {
                    "email": f"{user.user_id}@example.com",
                    "plan": ("free", "pro", "team")[rng.randrange(3)],
                    "createdAt": _iso(base_ms - 86_400_000),
                },
            }
        else:
            name = NAMES[bisect.bisect_left(cdf, rng.random())]
            price = round(rng.uniform(1, 300), 2)
            properties: dict[str, object] = {
                "product_id": f"p-{rng.randrange(5000):05d}",
                "category": CATEGORIES[rng.randrange(len(CATEGORIES))],
                "price": price,
                "currency": CURRENCIES[rng.randrange(len(CURRENCIES))],
                "path": f"/catalog/{rng.randrange(100)}/item?ref=home",
            }
            if name == "Order Completed":
                properties["revenue"] = round(price * rng.randint(1, 3), 2)
            event = {"type": "track", "event": name, "properties": properties}
            if user.anonymous_first and user.seen < user.identify_after:
                event["anonymousId"] = user.anonymous_id
            else:
                event["userId"] = user.user_id
        event["context"] = context
        event["messageId"] = f"bench-{seed}-{seq:09d}"
        event["timestamp"] = _iso(at_ms)
        user.seen += 1
        key = str(event.get("anonymousId") or event["userId"]).encode()
        value = orjson.dumps(event)
        if rng.random() < MALFORMED:
            value = _malformed(rng, value)
        produced += 1
        yield key, value


def expected_counts(records: list[tuple[bytes, bytes]]) -> dict[str, int]:
    """Summary of a generated workload: total, malformed-by-JSON and identify records."""
    bad_json = 0
    identify = 0
    for _key, value in records:
        try:
            obj = orjson.loads(value)
        except orjson.JSONDecodeError:
            bad_json += 1
            continue
        if obj.get("type") == "identify":
            identify += 1
    return {"total": len(records), "bad_json": bad_json, "identify": identify}
