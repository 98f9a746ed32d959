"""Errors of the operator commands, in the project's one tree under ``StreamappError``."""

from __future__ import annotations

from dataclasses import dataclass

from streamapp.errors import StreamappError


@dataclass(eq=False)
class TopicNotFound(StreamappError):
    """A topic the command must read does not exist (wrong prefix, or no worker ever started)."""

    topic: str

    def __str__(self) -> str:
        return f"topic {self.topic!r} does not exist (check STREAMAPP_TOPIC_PREFIX)"


@dataclass(eq=False)
class ReadStalled(StreamappError):
    """Reading a partition to its end made no progress for too long."""

    topic: str
    partition: int
    position: int
    end: int

    def __str__(self) -> str:
        return (
            f"reading {self.topic}/{self.partition} stalled at offset {self.position} "
            f"(end {self.end}); is the broker answering?"
        )


@dataclass(eq=False)
class BrokerUnavailable(StreamappError):
    """The broker did not answer, or answered a request with an error."""

    bootstrap_servers: str
    reason: str

    def __str__(self) -> str:
        return f"Kafka at {self.bootstrap_servers} failed: {self.reason}"
