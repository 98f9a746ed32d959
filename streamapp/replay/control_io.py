"""Reading and writing the control log ``streamapp.backfills``: the edge of its fold.

The formats and the fold are in :mod:`streamapp.replay.control`.
A read goes to the log's end at the time of the call. :func:`write_first` writes a record and
reads the log back, so the caller learns which record of the key came first (and won).
"""

from __future__ import annotations

from streamapp.ops.kafka import Kafka
from streamapp.replay.control import ControlState

CONTROL_PARTITION = 0


async def read_control(kafka: Kafka, topic: str) -> ControlState:
    """The control log folded, up to its end now."""
    read = await kafka.read(topic, partitions=[CONTROL_PARTITION])
    return ControlState.fold((r.key, r.value) for r in read.records)


async def write_first(kafka: Kafka, topic: str, key: bytes, value: bytes) -> ControlState:
    """Append ``key = value`` (acks=all), then return the log folded: the first record wins."""
    future = await kafka.send(topic, key=key, value=value, partition=CONTROL_PARTITION)
    await future
    return await read_control(kafka, topic)
