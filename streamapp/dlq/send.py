"""Send a dead letter for a record a stage read from Kafka (the Faust edge of :mod:`letters`)."""

from __future__ import annotations

import time
from typing import Any

from streamapp.app import Runtime
from streamapp.dlq.letters import dead_letter
from streamapp.events import Origin, Rejection


async def send_dead_letter(
    rt: Runtime, msg: Any, cid: bytes, rejection: Rejection, *, counted: bool
) -> None:
    """Dead-letter ``msg`` (its original bytes) with ``rejection``; count it when ``counted``.

    A stage replaying a record after a crash sends the letter again but does not count it again.
    """
    letter = dead_letter(
        rejection,
        original=msg.value or b"",
        key=msg.key,
        origin=Origin(msg.topic, msg.partition, msg.offset),
        correlation_id=cid.decode("utf-8", "replace"),
        failed_at_ms=int(time.time() * 1000),
    )
    topic = rt.settings.topics.events_dlq
    await rt.app.producer.send(topic, letter.key, letter.value, None, None, letter.headers)
    if counted:
        rt.metrics.rejected.labels(rejection.stage, rejection.reason.value).inc()
