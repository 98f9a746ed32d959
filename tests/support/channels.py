"""Send planned Segment calls the ways users do: the Segment Python SDK, and kcat onto a topic."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from segment.analytics import Client

from streamapp.ingest.timestamps import parse_iso8601_ms
from tests.support.groundtruth import Planned

KCAT = "kcat"


def _sdk_call(client: Client, body: dict[str, Any]) -> bool:
    """Make the SDK call that sends ``body``; return whether it was queued."""
    timestamp = datetime.fromtimestamp(parse_iso8601_ms(body["timestamp"]) / 1000, tz=UTC)
    common = {
        "anonymous_id": body.get("anonymousId"),
        "timestamp": timestamp,
        "message_id": body["messageId"],
    }
    user = body.get("userId")
    kind = body["type"]
    if kind == "track":
        ok, _ = client.track(user, body["event"], body.get("properties"), **common)
    elif kind == "identify":
        ok, _ = client.identify(user, body.get("traits"), **common)
    elif kind == "page":
        ok, _ = client.page(user, name=body.get("name"), **common)
    elif kind == "screen":
        ok, _ = client.screen(user, name=body.get("name"), **common)
    elif kind == "group":
        ok, _ = client.group(user, body["groupId"], body.get("traits"), **common)
    else:
        raise ValueError(f"no SDK call for {kind!r}")
    return bool(ok)


def send_sdk(url: str, write_key: str, bodies: Sequence[dict[str, Any]]) -> None:
    """Send every call through one SDK client (batched, gzip); fail if the SDK gave any up."""
    errors: list[object] = []
    client = Client(
        write_key,
        host=url,
        gzip=True,
        upload_size=100,
        max_queue_size=len(bodies) + 100,
        max_retries=10,
        on_error=lambda error, batch: errors.append(error),
    )
    queued = [_sdk_call(client, body) for body in bodies]
    client.flush()
    client.join()
    assert all(queued), "the SDK queue refused calls"
    assert errors == [], f"the SDK gave up on batches sent to {url}: {errors[:3]}"


def send_kcat(bootstrap: str, topic: str, records: Sequence[tuple[str, dict[str, Any]]]) -> None:
    """Produce ``key<TAB>json`` lines with kcat (acks=all); fail unless every one was delivered."""
    lines = b"".join(key.encode() + b"\t" + orjson.dumps(body) + b"\n" for key, body in records)
    result = subprocess.run(
        [KCAT, "-P", "-b", bootstrap, "-t", topic, "-K", "\t", "-X", "acks=all"],
        input=lines,
        capture_output=True,
        timeout=180,
    )
    stderr = result.stderr.decode(errors="replace")
    assert result.returncode == 0 and "failed" not in stderr.lower(), stderr


def send(
    planned: Sequence[Planned],
    *,
    sdk_urls: Sequence[str],
    write_key: str,
    bootstrap: str,
    topic: str,
) -> None:
    """Send the calls: kcat ones in one kcat run, SDK ones spread over ``sdk_urls`` in parallel.

    Returns when kcat has delivered and every SDK client has been answered ``success``.
    """
    by_url: dict[str, list[dict[str, Any]]] = {url: [] for url in sdk_urls}
    records: list[tuple[str, dict[str, Any]]] = []
    for n, item in enumerate(p for p in planned if p.channel == "sdk"):
        by_url[sdk_urls[n % len(sdk_urls)]].append(item.body)
    records = [(p.kafka_key, p.body) for p in planned if p.channel == "kcat"]
    failures: list[BaseException] = []

    def run(url: str, bodies: list[dict[str, Any]]) -> None:
        try:
            send_sdk(url, write_key, bodies)
        except BaseException as exc:  # re-raised in the test's thread below
            failures.append(exc)

    threads = [threading.Thread(target=run, args=item) for item in by_url.items() if item[1]]
    for thread in threads:
        thread.start()
    if records:
        send_kcat(bootstrap, topic, records)
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]
