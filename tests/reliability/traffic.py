"""What a Segment client does against a flaky backend: ``POST /v1/batch``, retry the same batch
(same messageIds) on a refused connection, 429 or 503, honouring ``Retry-After``.

Every answer is recorded, so a scenario can show which statuses the ingest endpoint gave and
whether each 429/503 carried a ``Retry-After`` header.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import requests


@dataclass
class Answers:
    """Statuses seen, and the ones that broke the contract (kept for the report)."""

    statuses: Counter[str] = field(default_factory=Counter)
    without_retry_after: int = 0
    unexpected: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, status: str, *, retry_after: bool = True, unexpected: str = "") -> None:
        with self.lock:
            self.statuses[status] += 1
            if not retry_after:
                self.without_retry_after += 1
            if unexpected:
                self.unexpected.append(unexpected)


class Client:
    """One keep-alive session posting batches to whichever of ``urls()`` is up."""

    def __init__(self, urls: Callable[[], Sequence[str]], write_key: str, answers: Answers):
        self.urls = urls
        self.answers = answers
        self.session = requests.Session()
        self.session.auth = (write_key, "")
        self.turn = 0

    def send_batch(self, bodies: Sequence[dict[str, Any]], *, give_up_s: float = 300.0) -> float:
        """Post until answered 200; return when that happened (``time.monotonic()``)."""
        payload = orjson.dumps({"batch": list(bodies)})
        headers = {"Content-Type": "application/json"}
        deadline = time.monotonic() + give_up_s
        while True:
            urls = self.urls()
            url = urls[self.turn % len(urls)]
            self.turn += 1
            try:
                resp = self.session.post(
                    f"{url}/v1/batch", data=payload, headers=headers, timeout=30
                )
            except requests.RequestException:
                self.answers.note("no connection")
                wait = 0.2
            else:
                if resp.status_code == 200:
                    self.answers.note("200")
                    return time.monotonic()
                retry_after = resp.headers.get("Retry-After")
                if resp.status_code in (429, 503):
                    self.answers.note(str(resp.status_code), retry_after=retry_after is not None)
                    wait = float(retry_after or 1)
                else:
                    self.answers.note(
                        str(resp.status_code), unexpected=f"{resp.status_code} {resp.text[:200]}"
                    )
                    raise AssertionError(f"{url}: {resp.status_code} {resp.text[:300]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"batch not accepted in {give_up_s:.0f} s: {self.answers}")
            time.sleep(wait)
