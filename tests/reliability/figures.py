"""Scenario sizes and measured figures: how big each scenario runs, and where its numbers go.

``RELIABILITY_SCALE`` picks the size: ``ci`` (the default, what ``make test`` runs so CI guards
every scenario in a couple of minutes) or ``full`` (what ``make reliability`` runs and the README
quotes). When ``RELIABILITY_RESULTS_DIR`` is set, each scenario writes its figures there as
``<test name>.json``; :mod:`tests.reliability.run` gathers them into the table.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def scale() -> str:
    """``ci`` or ``full``."""
    value = os.environ.get("RELIABILITY_SCALE", "ci")
    if value not in ("ci", "full"):
        raise ValueError(f"RELIABILITY_SCALE must be ci or full, not {value!r}")
    return value


def sized(ci: T, full: T) -> T:
    """The value for the current scale."""
    return full if scale() == "full" else ci


def write_figures(test_name: str, figures: dict[str, Any]) -> None:
    """Write one scenario's figures for the runner (nothing when no results folder is set)."""
    folder = os.environ.get("RELIABILITY_RESULTS_DIR")
    if not folder:
        return
    path = Path(folder) / f"{test_name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"scale": scale(), **figures}, indent=2, default=str) + "\n")
