"""A worker that runs an older ``topologies/`` than one started after it: said loudly.

The backfill protocol (:mod:`streamapp.replay`) forbids mixed restarts. Every worker appends a
*start* record per aggregate version it runs to the control log, and re-reads the log every few
seconds; when the latest start of an aggregate is of another version than the one it runs
(:meth:`~streamapp.replay.control.ControlState.superseded_by`), this module reports it. Pure
apart from the logger and the metrics registry handed in.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Final

from streamapp.observability.metrics import Metrics

log = logging.getLogger(__name__)

SUPERSEDED_LOG_EVERY_S: Final = 60.0
"""While superseded, the error is logged again this often."""


class SupersededWatch:
    """Says loudly, and in ``streamapp_topology_superseded``, that this worker is out of date.

    A worker running an older ``topologies/`` than one started after it breaks the backfill
    protocol's first rule (no mixed restarts): what it processes above a new version's cut
    reaches neither the new version nor its backfill. It goes on processing (refusing would not
    bring those events to the new version either); the operator must stop it.
    """

    def __init__(self, metrics: Metrics, names: Sequence[str]) -> None:
        self._metrics = metrics
        self._names = list(names)
        self._logged_at: dict[str, float] = {}

    def check(self, superseded: Sequence[tuple[str, str, str]], now_s: float) -> None:
        """Update the gauge from ``gate.superseded()``; log an error at most once a minute."""
        found = {name: (mine, newer) for name, mine, newer in superseded}
        for name in self._names:
            self._metrics.topology_superseded.labels(name).set(1 if name in found else 0)
        for name, (mine, newer) in found.items():
            last = self._logged_at.get(name)
            if last is not None and now_s - last < SUPERSEDED_LOG_EVERY_S:
                continue
            self._logged_at[name] = now_s
            log.error(
                "OUT OF DATE: this worker runs %s version %s, but a worker started later runs "
                "version %s. Stop this worker: a rolling restart across a topology change loses "
                "events for the new version (see streamapp.replay).",
                name,
                mine,
                newer,
            )
