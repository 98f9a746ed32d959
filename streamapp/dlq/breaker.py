"""The dead-letter breaker: stop a stage when too large a share of recent records is rejected.

After a bad deploy (a producer that suddenly sends garbage, or a validator that suddenly refuses
good events) dead-lettering every record would quietly move a whole topic into the DLQ. The
breaker looks at the last ``window`` records of one stage and raises
:class:`~streamapp.errors.DeadLetterLimitExceeded` when more than ``max_ratio`` were rejected, so
the worker stops consuming with a loud error and nothing further is committed.

Pure: no clock, no I/O.
"""

from __future__ import annotations

from collections import deque

from streamapp.errors import DeadLetterLimitExceeded


class DeadLetterBreaker:
    """Counts the outcome of the last ``window`` records of one stage."""

    __slots__ = ("_outcomes", "_rejected", "max_ratio", "stage", "window")

    def __init__(self, stage: str, *, window: int, max_ratio: float) -> None:
        self.stage = stage
        self.window = window
        self.max_ratio = max_ratio
        self._outcomes: deque[bool] = deque(maxlen=window)
        self._rejected = 0

    def record(self, rejected: bool) -> None:
        """Note one record's outcome; raise when the window is full and over the limit.

        Raises:
            DeadLetterLimitExceeded: more than ``max_ratio`` of a full window was rejected.

        """
        if len(self._outcomes) == self.window and self._outcomes[0]:
            self._rejected -= 1
        self._outcomes.append(rejected)
        if rejected:
            self._rejected += 1
        full = len(self._outcomes) == self.window
        if full and self._rejected > self.max_ratio * self.window:
            raise DeadLetterLimitExceeded(self.stage, self._rejected, self.window, self.max_ratio)

    @property
    def rejected(self) -> int:
        """Rejections among the records in the window."""
        return self._rejected
