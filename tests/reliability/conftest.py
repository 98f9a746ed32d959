"""Fixtures of the reliability scenarios: the end-to-end ones (broker, deployment, workers), and
``figures``, where a scenario writes what it measured for ``make reliability``'s table."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import bootstrap, deployment, workers
from tests.reliability.figures import write_figures

__all__ = ["bootstrap", "deployment", "figures", "workers"]


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    """A dict the scenario fills with its figures; written out even when the scenario fails."""
    found: dict[str, Any] = {}
    yield found
    write_figures(request.node.name, found)
