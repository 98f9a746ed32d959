"""The one shallow error tree of streamapp.

Every error the project raises on purpose derives from :class:`StreamappError`. Exceptions carry
fields, not prose: the message is built from the fields in ``__str__``.
"""

from __future__ import annotations

from dataclasses import dataclass


class StreamappError(Exception):
    """Base of every error streamapp raises on purpose."""


@dataclass(eq=False)
class ConfigurationError(StreamappError):
    """A setting has a value the process cannot run with."""

    variable: str
    value: str
    reason: str

    def __str__(self) -> str:
        return f"{self.variable}={self.value!r} is invalid: {self.reason}"


@dataclass(eq=False)
class TopologyError(StreamappError):
    """An aggregate declaration in ``topologies/`` is wrong; names the file and the field."""

    file: str
    aggregate: str
    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}: aggregate {self.aggregate!r}, field {self.field!r}: {self.reason}"


@dataclass(eq=False)
class DeadLetterLimitExceeded(StreamappError):
    """Too large a share of recent records was rejected: stop consuming instead of dead-lettering.

    This is the breaker that keeps a bad deploy from dead-lettering a whole topic.
    """

    stage: str
    rejected: int
    window: int
    max_ratio: float

    def __str__(self) -> str:
        return (
            f"stage {self.stage}: {self.rejected} of the last {self.window} records were "
            f"rejected (limit {self.max_ratio:.0%}); consumption stopped"
        )


@dataclass(eq=False)
class BrokerError(StreamappError):
    """The embedded broker could not be fetched, formatted, started or stopped."""

    action: str
    reason: str

    def __str__(self) -> str:
        return f"broker {self.action} failed: {self.reason}"


@dataclass(eq=False)
class TopicCreationError(StreamappError):
    """The broker refused to create a topic (for a reason other than that it exists)."""

    topic: str
    error_code: int
    message: str

    def __str__(self) -> str:
        return f"could not create topic {self.topic!r}: error {self.error_code} {self.message}"
