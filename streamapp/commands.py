"""Project commands on the Faust CLI: ``streamapp broker start|stop|status``, ``streamapp topics``.

Thin: each command parses its arguments and calls the module that does the work.
"""

from __future__ import annotations

from typing import Any

import click
import faust
from faust.cli import AppCommand

from streamapp.app import StreamApp
from streamapp.broker import embedded
from streamapp.errors import StreamappError


def install(app: StreamApp) -> None:
    """Register the project commands on the app's CLI."""

    @app.command(
        faust.cli.argument("action", type=click.Choice(["start", "stop", "status"])),
    )
    async def broker(self: AppCommand, action: str) -> None:
        """Manage the embedded Apache Kafka broker (KRaft, one node)."""
        settings = app.runtime.settings
        try:
            if action == "start":
                layout = await embedded.start(settings)
                self.say(f"broker answering on {layout.host}:{layout.port} (data: {layout.data})")
            elif action == "stop":
                stopped = embedded.stop(settings)
                self.say("broker stopped" if stopped else "broker was not running")
            else:
                for key, value in (await embedded.status(settings)).items():
                    self.say(f"{key:>10}: {value}")
        except StreamappError as exc:
            raise click.ClickException(str(exc)) from None

    @app.command()
    async def topics(self: AppCommand) -> None:
        """Create every topic streamapp needs (idempotent) and list them."""
        from streamapp import provision

        rt = app.runtime
        specs = provision.required_topics(
            rt.settings, tables=rt.tables.keys(), aggregates=rt.aggregate_names
        )
        created = await provision.create_topics(rt.settings, specs)
        for spec in specs:
            mark = "created" if spec.name in created else "exists"
            self.say(f"{spec.name:<48} {spec.partitions:>3} partitions  {mark}")

    _unused: Any = (broker, topics)
