"""Wire the dataflow into one worker: topics, tables, agents and web routes, in dataflow order.

Each stage package exposes ``install(runtime)``; this module calls them in the order data meets
them, so reading it is reading ARCHITECTURE.md's diagram.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from streamapp.app import Runtime


def install(rt: Runtime) -> None:
    """Install every stage and route on the runtime's app."""
    from streamapp.views import health

    health.install(rt)
