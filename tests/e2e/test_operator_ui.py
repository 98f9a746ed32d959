"""The operator web UI and /metrics end to end: a real worker, the real broker, Debian's chromium.

1. ``/metrics`` of a worker that handled traffic, parsed with ``prometheus_client``'s own parser:
   the sampled families (stage throughput, consumer lag, table keys, recovery) and the window
   families (closes, late events) are there with the values that traffic implies.
2. One story as an operator lives it: a worker started with too small a
   ``STREAMAPP_MAX_EVENT_BYTES`` dead-letters three big events produced with Kafka; the worker is
   restarted with the default limit; one letter is retried with the CLI, one from the letter's
   page in the browser (Playwright driving headless chromium: log in through the form, see the
   lag on the overview, open the letter, click Retry, see the event applied on the profile page),
   one with "retry selected". "Retry all too_large" then sends nothing (the CLI's retry counts as
   done too: both share the durable retry markers), and ``GET /counters/{id}`` counts each event
   exactly once. A screenshot is kept in ``var/test-artifacts/ui-retry.png``.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote

import orjson
import requests
from playwright.sync_api import Page, expect, sync_playwright
from prometheus_client.parser import text_string_to_metric_families

from tests.support.kafka import Record, produce, read_all
from tests.support.settle import wait_drained
from tests.support.workers import REPO, STREAMAPP, Deployment, Worker, free_port, http_json

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = REPO / "var" / "test-artifacts"
STAGE_TOPICS = ("events", "events.identify", "events.identified")
T = TypeVar("T")


def _poll(what: str, check: Callable[[], T | None], timeout_s: float = 45.0) -> T:
    deadline = time.monotonic() + timeout_s
    last: T | None = None
    while time.monotonic() < deadline:
        last = check()
        if last is not None and last is not False:
            return last
        time.sleep(0.3)
    raise AssertionError(f"{what}: not so after {timeout_s} s (last: {last!r})")


def _families(worker: Worker) -> dict[str, Any]:
    text = requests.get(f"{worker.url}/metrics", timeout=10).text
    return {family.name: family for family in text_string_to_metric_families(text)}


def _value(families: dict[str, Any], name: str, **labels: str) -> float | None:
    family = families.get(name)
    for sample in family.samples if family is not None else ():
        if sample.name in (name, name + "_total") and all(
            sample.labels.get(k) == v for k, v in labels.items()
        ):
            return float(sample.value)
    return None


def _iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + f".{ms % 1000:03d}Z"


def test_metrics_parse_and_show_throughput_lag_windows_tables_and_recovery(
    workers, deployment: Deployment
) -> None:
    events = deployment.topic("events")
    deployment.partitions = 2  # fewer partitions, less work for a worker on a busy machine
    worker = workers()
    worker.wait_ready(topic=events)
    # Event time two hours back, in the middle of a minute: one events_per_minute window.
    start_ms = (int(time.time() * 1000) - 7_200_000) // 60_000 * 60_000 + 20_000
    batch = [
        {
            "type": "track",
            "userId": f"m-user-{n % 5}",
            "event": "Clicked",
            "messageId": f"m-{n}",
            "timestamp": _iso(start_ms + n),
        }
        for n in range(200)
    ]
    auth = (deployment.write_key, "")
    resp = requests.post(f"{worker.url}/v1/batch", json={"batch": batch}, auth=auth, timeout=30)
    assert resp.json() == {"success": True}

    def busy() -> dict[str, Any] | None:  # a sample taken right after the burst shows its rate
        fams = _families(worker)
        return (
            fams
            if (_value(fams, "streamapp_stage_throughput_events_per_second", stage="validate") or 0)
            > 0
            else None
        )

    fams = _poll("validate throughput > 0", busy, timeout_s=20)
    rate = _value(fams, "streamapp_stage_throughput_events_per_second", stage="validate")
    assert rate is not None and 0 < rate <= 200 / 2.0  # 200 events over a >= 3 s interval

    # An event 150 s later moves the partition's watermark past the window's end + grace (30 s):
    # the window closes. Then one more event in that window is late.
    later = {"type": "track", "userId": "m-user-1", "event": "Clicked", "messageId": "m-later"}
    later["timestamp"] = _iso(start_ms + 150_000)
    resp = requests.post(f"{worker.url}/v1/track", json=later, auth=auth, timeout=30)
    assert resp.json() == {"success": True}
    _poll(
        "a window closed",
        lambda: (
            (
                _value(_families(worker), "streamapp_window_closes", aggregate="events_per_minute")
                or 0
            )
            >= 1
        ),
    )
    late = {"type": "track", "userId": "m-user-0", "event": "Clicked", "messageId": "m-late"}
    late["timestamp"] = _iso(start_ms + 500)
    resp = requests.post(f"{worker.url}/v1/track", json=late, auth=auth, timeout=30)
    assert resp.json() == {"success": True}
    _poll(
        "the late event counted",
        lambda: (
            _value(_families(worker), "streamapp_late_events", aggregate="events_per_minute") == 1
        ),
    )
    wait_drained(
        deployment.bootstrap,
        f"{deployment.prefix}app",
        [deployment.topic(t) for t in STAGE_TOPICS],
        timeout_s=30,
    )
    drained_at = time.time()

    def sampled_after_drain() -> dict[str, Any] | None:
        fams = _families(worker)
        return fams if (_value(fams, "streamapp_sampled_at_seconds") or 0) > drained_at else None

    fams = _poll("a sample after the drain", sampled_after_drain, timeout_s=15)
    for name in (
        "streamapp_stage_throughput_events_per_second",
        "streamapp_consumer_lag_records",
        "streamapp_table_keys",
        "streamapp_recovery_remaining_records",
        "streamapp_recovery_in_progress",
        "streamapp_late_events",
        "streamapp_window_closes",
        "streamapp_sampled_at_seconds",
    ):
        assert name in fams and fams[name].samples, name
    assert fams["streamapp_consumer_lag_records"].type == "gauge"
    assert fams["streamapp_late_events"].type == "counter"
    assert _value(fams, "streamapp_stage_events", stage="validate") == 202
    assert _value(fams, "streamapp_stage_events", stage="profiles") == 202  # late only for windows
    lag = {
        (s.labels["topic"], s.labels["partition"]): s.value
        for s in fams["streamapp_consumer_lag_records"].samples
    }
    for topic in STAGE_TOPICS:  # this worker owns every partition; all drained
        for p in range(deployment.partitions):
            assert lag[(deployment.topic(topic), str(p))] == 0, lag
    assert (_value(fams, "streamapp_table_keys", table="profiles") or 0) >= 5
    assert (_value(fams, "streamapp_table_keys", table="identities") or 0) >= 5
    assert _value(fams, "streamapp_recovery_remaining_records", kind="active") == 0
    assert _value(fams, "streamapp_recovery_in_progress") == 0
    assert abs((_value(fams, "streamapp_sampled_at_seconds") or 0) - time.time()) < 10


BIG = [
    {
        "type": "track",
        "userId": f"big-{n}",
        "event": "Uploaded",
        "messageId": f"big-m-{n}",
        "properties": {"blob": "x" * 2500, "n": n},  # over a 600-byte limit (+1 KB Kafka slack)
    }
    for n in range(3)
]


def cli(deployment: Deployment, *args: str) -> subprocess.CompletedProcess[str]:
    """Run `streamapp <args>` with the deployment's environment, as an operator would."""
    return subprocess.run(
        [STREAMAPP, *args],
        env=deployment.env(free_port()),
        cwd=str(REPO),
        capture_output=True,
        text=True,
        timeout=60,
    )


def _counted(worker: Worker, token: str, user: str) -> tuple[int | None, int | None]:
    """(profile event_count, lifetime count of Uploaded) over HTTP; (None, None) when unknown."""
    status, profile = http_json(f"{worker.url}/profiles/{quote(user)}", token=token)
    status2, counters = http_json(f"{worker.url}/counters/{quote(user)}", token=token)
    if status != 200 or status2 != 200:
        return None, None
    return profile["event_count"], counters["events"].get("Uploaded", {}).get("lifetime")


def _letters(deployment: Deployment, want: int) -> list[Record]:
    def enough() -> list[Record] | None:
        got = asyncio.run(read_all(deployment.bootstrap, deployment.topic("events.dlq")))
        return got if len(got) >= want else None

    return _poll(f"{want} dead letters", enough)


def _log_in(page: Page, worker: Worker, token: str) -> None:
    page.goto(f"{worker.url}/ui")
    assert page.url == f"{worker.url}/ui/login"  # redirected: no session yet
    page.fill('input[name="token"]', "not-the-token")
    page.click('button[type="submit"]')
    expect(page.locator(".msg")).to_have_text("That is not the API token.")
    page.fill('input[name="token"]', token)
    page.click('button[type="submit"]')
    page.wait_for_url(f"{worker.url}/ui")


def _see_lag(page: Page, events_topic: str, partitions: int) -> None:
    """Reload the overview until the sampler has filled it; every events partition has a row."""
    deadline = time.monotonic() + 15
    rows = page.locator(f'table.lag tbody tr:has(td:first-child:text-is("{events_topic}"))')
    while rows.count() < partitions and time.monotonic() < deadline:
        page.wait_for_timeout(500)
        page.reload()
    expect(rows).to_have_count(partitions)
    expect(page.locator("#total-lag")).to_have_text(re.compile(r"^[0-9,]+$"))
    for n in range(partitions):  # committed, end and lag of each partition, and its owner
        cells = rows.nth(n).locator("td")
        expect(cells).to_have_count(6)
        expect(cells.nth(4)).to_have_text(re.compile(r"^[0-9,]+$"))
        expect(cells.nth(5)).not_to_have_text("?")
    expect(page.locator("h2", has_text="Workers")).to_be_visible()


def _retry_summary(page: Page, text: str) -> None:
    expect(page.locator("#retry-summary")).to_have_text(text)


def test_dead_letters_retried_from_cli_and_browser_each_count_once(
    workers, deployment: Deployment
) -> None:
    events = deployment.topic("events")
    deployment.partitions = 2  # fewer partitions, less work for a worker on a busy machine
    deployment.extra_env.update({"STREAMAPP_MAX_EVENT_BYTES": "600"})
    worker = workers()
    worker.wait_ready(topic=events)
    items = [(body["userId"].encode(), orjson.dumps(body)) for body in BIG]
    asyncio.run(produce(deployment.bootstrap, events, items))
    letters = {r.key: r for r in _letters(deployment, 3)}
    assert {r.headers["streamapp-reason"] for r in letters.values()} == {b"too_large"}
    assert _counted(worker, deployment.token, "big-0") == (None, None)  # refused, not applied

    # The setting changes: restart with the default limit (32 KB).
    worker.stop()
    del deployment.extra_env["STREAMAPP_MAX_EVENT_BYTES"]
    worker = workers(port=worker.port)
    worker.wait_ready(topic=events)

    # CLI: retry big-0 by its correlation id.
    cid0 = letters[b"big-0"].headers["streamapp-cid"].decode()
    ran = cli(deployment, "dlq", "retry", "--cid", cid0)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.splitlines()[-1] == "retry: 1 sent, 0 already retried, 0 skipped"

    key1 = f"{letters[b'big-1'].partition}:{letters[b'big-1'].offset}"
    key2 = f"{letters[b'big-2'].partition}:{letters[b'big-2'].offset}"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            page = context.new_page()
            _log_in(page, worker, deployment.token)
            (cookie,) = context.cookies()
            assert (cookie["httpOnly"], cookie["sameSite"], cookie["path"]) == (
                True,
                "Strict",
                "/ui",
            )
            assert deployment.token not in cookie["value"]
            session = {cookie["name"]: cookie["value"]}
            api = requests.get(f"{worker.url}/profiles/big-0", cookies=session, timeout=10)
            assert api.status_code == 401  # the cookie opens the UI, not the API
            _see_lag(page, events, deployment.partitions)

            # Open big-1's letter from the browser and retry it.
            page.click("header >> text=Dead letters")
            page.click(f'table.letters a:text-is("{key1}")')
            expect(page.locator("h1")).to_have_text(f"Dead letter {key1}")
            expect(page.locator("#payload")).to_contain_text('"userId": "big-1"')
            page.click("#retry-one")
            _retry_summary(page, "retry: 1 sent, 0 already retried, 0 skipped")

            # Retry selected: tick big-2; then retry all too_large: nothing left to send.
            page.goto(f"{worker.url}/ui/dlq?reason=too_large")
            page.check(f'input[name="letter"][value="{key2}"]')
            page.click("#retry-selected")
            _retry_summary(page, "retry: 1 sent, 0 already retried, 0 skipped")
            page.goto(f"{worker.url}/ui/dlq?reason=too_large")
            expect(page.locator("table.letters tbody tr", has_text="retried")).to_have_count(3)
            page.click("#retry-reason")
            # A second retry does nothing: the CLI's and the UI's retries share their markers.
            _retry_summary(page, "retry: 0 sent, 3 already retried, 0 skipped")

            # The event big-1 applied, seen through the profile lookup page.
            page.click("header >> text=Profiles")
            page.fill('input[name="id"]', "big-1")
            page.click('button[type="submit"]')
            deadline = time.monotonic() + 30
            while page.locator("#event-count").count() == 0 and time.monotonic() < deadline:
                page.wait_for_timeout(500)
                page.reload()
            expect(page.locator("#event-count")).to_have_text("1")
            expect(page.locator("table.counters")).to_contain_text("Uploaded")
            page.screenshot(path=str(ARTIFACTS / "ui-retry.png"), full_page=True)
        finally:
            browser.close()

    wait_drained(
        deployment.bootstrap,
        f"{deployment.prefix}app",
        [deployment.topic(t) for t in STAGE_TOPICS],
        timeout_s=30,
    )
    users = [f"big-{n}" for n in range(3)]
    assert [_counted(worker, deployment.token, u) for u in users] == [(1, 1)] * 3
    copies = [
        r
        for r in asyncio.run(read_all(deployment.bootstrap, events))
        if "streamapp-retry-of" in r.headers
    ]
    assert sorted(r.key for r in copies) == [b"big-0", b"big-1", b"big-2"]
    assert (ARTIFACTS / "ui-retry.png").stat().st_size > 10_000
