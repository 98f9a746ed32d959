"""Option rules of the operator commands: refused before any broker is contacted."""

from __future__ import annotations

from pathlib import Path

from streamapp.config import load_settings
from streamapp.ops.cli import EXIT_USAGE, DlqOptions, Output, dlq_command, trace_command

SETTINGS = load_settings({"STREAMAPP_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"})


class Captured:
    def __init__(self) -> None:
        self.out: list[str] = []
        self.err: list[str] = []

    @property
    def output(self) -> Output:
        return Output(self.out.append, self.err.append)


async def run(options: DlqOptions) -> tuple[int, Captured]:
    captured = Captured()
    return await dlq_command(SETTINGS, options, captured.output, 0), captured


async def test_retry_needs_exactly_one_choice() -> None:
    status, captured = await run(DlqOptions("retry"))
    assert status == EXIT_USAGE and "exactly one of --reason, --cid or --all" in captured.err[0]
    status, _ = await run(DlqOptions("retry", reason="x", everything=True))
    assert status == EXIT_USAGE


async def test_list_and_retry_options_do_not_mix() -> None:
    status, captured = await run(DlqOptions("list", everything=True))
    assert status == EXIT_USAGE and "--all" in captured.err[0]
    status, captured = await run(DlqOptions("retry", reason="x", as_json=True))
    assert status == EXIT_USAGE and "--json" in captured.err[0]


async def test_a_bad_since_is_a_usage_error() -> None:
    status, captured = await run(DlqOptions("list", since="last tuesday"))
    assert status == EXIT_USAGE and "ISO-8601" in captured.err[0]
    captured = Captured()
    status = await trace_command(SETTINGS, "cid", "soon", captured.output, 0)
    assert status == EXIT_USAGE and captured.out == []


def test_settings_come_from_the_given_environment() -> None:
    assert SETTINGS.topics.dlq_retries == "streamapp.dlq-retries"
    assert isinstance(SETTINGS.data_dir, Path)
