"""``make reliability``: run every reliability scenario at full size and print the table of figures.

Runs the scenarios of this folder and the route-walking access test (tests/e2e/test_access.py)
with pytest, at ``RELIABILITY_SCALE=full`` unless ``--scale ci`` is given, collects the figures
each scenario wrote, and writes ``latest.json`` and ``latest.md`` into ``--out`` (default
tests/reliability/results). Exit status 1 when any scenario failed: the table is written anyway,
a failure is a figure too.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]

SCENARIOS: tuple[tuple[str, str, str], ...] = (
    (
        "worker crashes",
        "tests/reliability/test_worker_crashes.py",
        "test_worker_crashes_lose_nothing_and_count_nothing_twice",
    ),
    (
        "broker failure",
        "tests/reliability/test_broker_failure.py",
        "test_broker_killed_mid_stream_loses_no_acknowledged_event",
    ),
    (
        "failover",
        "tests/reliability/test_failover.py",
        "test_survivor_answers_every_key_within_bound",
    ),
    (
        "hostile input",
        "tests/reliability/test_hostile_input.py",
        "test_hostile_input_is_refused_or_dead_lettered",
    ),
    ("access", "tests/e2e/test_access.py", "test_every_route_needs_its_credentials"),
)


def summary(name: str, f: dict[str, Any]) -> str:
    """The few figures of one scenario that go in the table (all of them are in latest.json)."""
    if not f:
        return "-"
    if name == "worker crashes":
        g = {k: f.get(k, "?") for k in f} | {
            k: f.get(k, "?")
            for k in ("events_lost", "events_counted_twice", "wrong_answers_at_end")
        }
        return (
            f"{g['events']} events (+{g['retries_same_message_id']} retries) over HTTP and "
            f"Kafka, {g['kills']} SIGKILLs every {g['kill_interval_s']} s; "
            f"lost {g['events_lost']}, counted twice {g['events_counted_twice']}, "
            f"wrong answers {g['wrong_answers_at_end']} (records still in flight at the check: "
            f"{f.get('backlog_records_at_check', '?')}); events_per_minute windows differing "
            f"from the ground truth: {f.get('aggregate_windows_wrong', '?')} of "
            f"{f.get('aggregate_windows', '?')} {f.get('aggregate_wrong_windows_as_served', '')}; "
            "longest unreadable "
            f"{f.get('longest_unreadable_s', '?')} s; settled "
            f"{f.get('settled_after_stream_s', '?')} s after the stream"
        )
    if name == "broker failure":
        return (
            f"{f.get('events_acknowledged')} events acknowledged, broker {f.get('killed_broker')} "
            f"killed at {f.get('killed_at_s')} s, restarted at {f.get('restarted_at_s')} s; "
            f"answers {f.get('http_answers')}, refusals without Retry-After "
            f"{f.get('refusals_without_retry_after')}; longest without a 200: "
            f"{f.get('longest_without_200_s')} s; acknowledged but missing on topic "
            f"{f.get('acknowledged_missing_on_topic')}, in counters "
            f"{f.get('acknowledged_lost_in_counters')}; counted twice {f.get('counted_twice')}"
        )
    if name == "failover":
        return (
            f"{f.get('ids')} ids, {f.get('partitions_taken_over')} partitions taken over; every "
            f"key answered exactly after {f.get('every_key_answered_after_s')} s (bound "
            f"{f.get('bound_s')} s, session timeout {f.get('session_timeout_s')} s)"
        )
    if name == "hostile input":
        return (
            f"{f.get('http_hostile_sent')} HTTP payloads: {f.get('http_statuses')}, not 4xx "
            f"{f.get('http_not_4xx')}; {f.get('kafka_hostile_sent')} Kafka records: "
            f"{f.get('dlq_validate_letters', f.get('dlq_records'))} dead letters from validate "
            f"({f.get('dlq_records')} in all), {f.get('dlq_without_reason')} without reason; "
            f"{f.get('valid_events')} valid events mixed in, users wrong "
            f"{f.get('valid_users_wrong')}; worker alive {f.get('worker_alive_at_end')}"
        )
    return json.dumps(f)


def outcomes(junit: Path) -> dict[str, str]:
    """Test name -> passed / failed / error / skipped, from pytest's JUnit XML."""
    out: dict[str, str] = {}
    if not junit.exists():
        return out
    for case in ET.parse(junit).getroot().iter("testcase"):
        result = "passed"
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                result = {"failure": "failed"}.get(child.tag, child.tag)
        out[case.get("name", "")] = result
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=("ci", "full"), default="full")
    parser.add_argument("--out", type=Path, default=REPO / "tests" / "reliability" / "results")
    parser.add_argument("--only", nargs="*", help="scenario names to run (default: all)")
    args = parser.parse_args()
    chosen = [s for s in SCENARIOS if not args.only or s[0] in args.only]
    figures_dir = Path(tempfile.mkdtemp(prefix="reliability-"))
    junit = figures_dir / "junit.xml"
    env = {
        **os.environ,
        "RELIABILITY_SCALE": args.scale,
        "RELIABILITY_RESULTS_DIR": str(figures_dir),
    }
    started = time.monotonic()
    # The project's per-test timeout (600 s) is sized for `make test`; full scenarios run longer.
    cmd = [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", "--timeout=3000"]
    cmd += [f"--junitxml={junit}", *[f"{path}::{test}" for _, path, test in chosen]]
    subprocess.run(cmd, env=env, cwd=REPO, check=False)
    took = time.monotonic() - started
    results = outcomes(junit)
    rows = []
    for name, _, test in chosen:
        path = figures_dir / f"{test}.json"
        found = json.loads(path.read_text()) if path.exists() else {}
        rows.append(
            {
                "scenario": name,
                "test": test,
                "result": results.get(test, "not run"),
                "scale": args.scale,
                "run_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "summary": summary(name, found),
                "figures": found,
            }
        )
    args.out.mkdir(parents=True, exist_ok=True)
    previous = args.out / "latest.json"
    if args.only and previous.exists():  # a partial run keeps the other scenarios' last figures
        kept = json.loads(previous.read_text())["scenarios"]
        ran = {r["scenario"]: r for r in rows}
        rows = [ran.pop(r["scenario"], r) for r in kept] + list(ran.values())
    report = {
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "scale": args.scale,
        "command": f"make reliability{'' if args.scale == 'full' else ' SCALE=ci'}",
        "took_s": round(took, 1),
        "machine": f"{os.cpu_count()} cores",
        "scenarios": rows,
    }
    (args.out / "latest.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [
        f"# Reliability figures ({args.scale} scale, {report['finished_at']})",
        "",
        f"Reproduce: `{report['command']}` (took {took / 60:.1f} min on {report['machine']}).",
        "",
        "| scenario | result | scale, run at | figures |",
        "| --- | --- | --- | --- |",
        *[
            f"| {r['scenario']} | {r['result']} | {r['scale']}, {r['run_at']} | {r['summary']} |"
            for r in rows
        ],
        "",
    ]
    (args.out / "latest.md").write_text("\n".join(lines))
    print("\n" + "\n".join(lines))
    return 0 if all(r["result"] == "passed" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
