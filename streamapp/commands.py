"""Project commands on the Faust CLI.

``streamapp broker start|stop|status``, ``streamapp topics``, and the operator commands
``streamapp dlq list|retry`` and ``streamapp trace <correlation id>`` (:mod:`streamapp.ops`), and
``streamapp replay <aggregate> --from <ISO time | earliest>`` (:mod:`streamapp.replay`).
Thin: each command parses its arguments and calls the module that does the work.
"""

from __future__ import annotations

import time
from typing import Any

import click
import faust
from faust.cli import AppCommand

from streamapp.app import StreamApp
from streamapp.broker import embedded
from streamapp.errors import StreamappError
from streamapp.ops import cli as ops


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

    @app.command(
        faust.cli.argument("action", type=click.Choice(["list", "retry"])),
        faust.cli.option("--reason", help="Only letters refused for this reason (too_large, ...)."),
        faust.cli.option("--cid", help="Only the letters of this correlation id."),
        faust.cli.option(
            "--all", "everything", is_flag=True, help="retry: every letter (late: see --reason)."
        ),
        faust.cli.option(
            "--since", help="Only letters written since: ISO-8601, or a span back (90s, 1h, 2d)."
        ),
        faust.cli.option("--limit", type=click.IntRange(min=1), help="list: show at most N."),
        faust.cli.option("--json", "as_json", is_flag=True, help="list: JSON lines."),
    )
    async def dlq(
        self: AppCommand,
        action: str,
        reason: str | None,
        cid: str | None,
        everything: bool,
        since: str | None,
        limit: int | None,
        as_json: bool,
    ) -> None:
        """List dead letters, or re-send chosen ones to their origin topic, each exactly once.

        Late letters (reason late) are re-sent only with --reason late.
        """
        options = ops.DlqOptions(action, reason, cid, everything, since, limit, as_json)
        status = await ops.dlq_command(app.runtime.settings, options, _output(self), _now_ms())
        _exit(status)

    @app.command(
        faust.cli.argument("correlation_id"),
        faust.cli.option("--since", help="Only lines written since: ISO-8601, or a span back."),
    )
    async def trace(self: AppCommand, correlation_id: str, since: str | None) -> None:
        """Print the path of one event through the stages, and its dead letters."""
        settings = app.runtime.settings
        _exit(await ops.trace_command(settings, correlation_id, since, _output(self), _now_ms()))

    @app.command(
        faust.cli.argument("aggregate"),
        faust.cli.option(
            "--from",
            "from_text",
            required=True,
            help="Backfill from: earliest, an ISO-8601 date-time or date, or a span back (2d).",
        ),
        faust.cli.option(
            "--wait",
            "wait_s",
            type=click.FloatRange(min=0),
            default=300.0,
            show_default=True,
            help="Seconds to wait for the workers' cuts, and for the new version to take over.",
        ),
    )
    async def replay(self: AppCommand, aggregate: str, from_text: str, wait_s: float) -> None:
        """Backfill the version of an aggregate in topologies/ while live processing goes on.

        Run it after changing topologies/ and before restarting the workers; it waits for them.
        """
        from streamapp.replay.run import ReplayOptions, replay_command

        rt = app.runtime
        agg = rt.aggregates.get(aggregate)
        if agg is None:
            known = ", ".join(sorted(rt.aggregates)) or "none"
            click.echo(
                f"streamapp replay: no aggregate {aggregate!r} in {rt.settings.topologies_dir} "
                f"(declared: {known})",
                file=self.stderr,
            )
            _exit(2)
            return
        stderr: Any = self.stderr

        def bar(text: str) -> None:
            stderr.write(text)
            stderr.flush()

        status = await replay_command(
            rt.settings,
            agg.aggregate,
            ReplayOptions(from_text, wait_s),
            _output(self),
            bar=bar,
            tty=bool(getattr(stderr, "isatty", lambda: False)()),
        )
        _exit(status)

    _unused: Any = (broker, topics, dlq, trace, replay)


def _output(command: AppCommand) -> ops.Output:
    """Results to the command's stdout, counts and errors to its stderr.

    Not ``say``: ``--quiet`` silences it, and a listing asked for must not come out empty.
    """

    def out(line: str) -> None:
        click.echo(line, file=command.stdout)

    def err(line: str) -> None:
        click.echo(line, file=command.stderr)

    return ops.Output(out, err)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _exit(status: int) -> None:
    """End the command with ``status``: SystemExit passes through Faust's worker cleanly.

    (A ``click.ClickException`` raised in a command is logged with a traceback by the worker.)
    """
    if status:
        raise SystemExit(status)
