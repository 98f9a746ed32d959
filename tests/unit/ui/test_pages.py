"""The operator UI's pages from plain values: what an operator reads, and nothing injected."""

from __future__ import annotations

from collections import Counter

from streamapp.observability.lag import PartitionLag
from streamapp.observability.observed import Observed, Recovery
from streamapp.ops.markers import Marker, MarkerLog, MarkerState
from streamapp.ops.retry_plan import Selector
from streamapp.ui import pages
from streamapp.views.auth import session_value
from tests.unit.ops.helpers import letter

EVIL = b'{"type":"track","event":"<script>alert(1)</script>","x":"\\"><img src=x onerror=y>"}'


def test_a_payload_never_reaches_the_page_as_markup() -> None:
    x = letter(3, value=EVIL, cid='"><b>cid</b>', key=b"<k>")
    for html in (
        pages.dead_letter(x, None),
        pages.dead_letters(
            [x],
            MarkerLog(),
            reason="<r>",
            since=None,
            all_reasons=Counter({"<r>": 1}),
            shown_limit=10,
        ),
    ):
        assert "<script>" not in html and "<img" not in html and "<b>cid" not in html
        assert "&lt;script&gt;" in html


def test_a_letter_page_shows_its_headers_payload_status_and_a_retry_button() -> None:
    x = letter(5, partition=1, value=b'{"userId":"u1","event":"Big"}')
    marker = Marker(MarkerState.DONE, "run", 1, "t1.events", 2, 40, offset=41)
    html = pages.dead_letter(x, marker)
    assert "Dead letter 1:5" in html and "too_large" in html and "t1.events/2/7" in html
    assert "&quot;userId&quot;: &quot;u1&quot;,\n" in html  # indented JSON, escaped
    assert "retried" in html and "t1.events/2/41" in html
    assert 'name="letter" value="1:5"' in html and 'action="/ui/dlq/retry"' in html


def test_the_browser_lists_letters_with_checkboxes_and_offers_retry_all_of_a_reason() -> None:
    xs = [letter(n) for n in range(3)]
    html = pages.dead_letters(
        xs,
        MarkerLog(),
        reason="too_large",
        since="1h",
        all_reasons=Counter(too_large=3),
        shown_limit=2,
    )
    assert html.count('type="checkbox" name="letter"') == 2
    assert "2 of 3 letters shown" in html
    assert 'name="reason" value="too_large"' in html and "Retry all too_large since 1h" in html
    assert 'type="hidden" name="since" value="1h"' in html


def test_the_overview_shows_rates_lag_with_owners_workers_and_recovery() -> None:
    observed = Observed(
        sampled_at_ms=1_750_000_000_000,
        stage_rates={"validate": 12.5},
        stage_totals={"validate": 1000.0},
        lag=[PartitionLag("t.events", 0, 5, 9, 4), PartitionLag("t.events", 1, None, 3, 3)],
        table_keys={"profiles": 42},
        recovery=Recovery(True, 17, 2, (("t-profiles-changelog", 0, 17),)),
    )
    workers = [
        pages.WorkerInfo(
            "http://h:1",
            "w1",
            {"t.events": [0]},
            False,
            recovery={"in_progress": True, "active_remaining": 321, "standby_remaining": 0},
        ),
        pages.WorkerInfo("http://h:2", "w2", {"t.events": [1]}, True),
        pages.WorkerInfo("http://h:3", None, {}, False, "no answer"),
    ]
    html = pages.overview(observed, workers, ["t.events"])
    assert "12.5" in html and "1,000" in html
    assert 'id="total-lag">7<' in html
    assert "<td>w1</td>" in html.split('class="lag"')[1].split("</table>")[0]
    assert "rebalancing" in html and "no answer" in html
    assert "recovering" in html and "17" in html and "t-profiles-changelog" in html
    assert "recovering; 321 active, 0 standby records left" in html


def test_a_selector_of_letters_chooses_exactly_those() -> None:
    chosen = Selector.of_letters(["0:1", "0:3"])
    assert [chosen.chooses(letter(n)) for n in range(4)] == [False, True, False, True]


def test_the_session_cookie_is_derived_from_the_token_not_the_token() -> None:
    assert session_value("tok") != "tok" and len(session_value("tok")) == 64
    assert session_value("tok") == session_value("tok") != session_value("tok2")
