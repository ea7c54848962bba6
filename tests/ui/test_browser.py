"""The UI in Chromium against ``llmtrace serve`` holding the demo's week of data.

Every test runs under the ``watched`` fixture: a console error or a request to anything but
127.0.0.1 fails it.
"""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.ui.conftest import Watched, screenshot

pytestmark = pytest.mark.timeout(600)

PAGES = {
    "/": "Overview",
    "/traces": "Traces",
    "/sessions": "Sessions",
    "/users": "Users",
    "/prompts": "Prompts",
    "/prompts/compare?prompt=summarize&dimension=prompt_version&a=1&b=2": "Regression report",
    "/drift": "Drift",
    "/alerts": "Alerts",
}


def api(base: str, path: str) -> dict:  # type: ignore[type-arg]
    with urllib.request.urlopen(base + path, timeout=30) as response:
        return json.load(response)  # type: ignore[no-any-return]


def nested_trace_id(base: str) -> str:
    """A trace of the summarize workload: a service span with the LLM call nested inside."""
    spans = api(base, "/api/v1/spans?kind=llm&prompt=summarize&limit=1")["data"]
    return str(spans[0]["trace_id"])


def test_every_page_renders_without_console_errors(watched: Watched, demo_server: str) -> None:
    page = watched.page
    pages = {**PAGES, f"/traces/{nested_trace_id(demo_server)}": "summarize_ticket"}
    for path, heading in pages.items():
        response = page.goto(path)
        assert response is not None and response.status == 200, path
        page.wait_for_load_state("networkidle")
        expect(page.locator("h1").first).to_contain_text(heading)
        expect(page.locator("nav.nav a")).to_have_count(7)
    assert watched.errors == []


def test_navigation_bar_reaches_every_page(watched: Watched) -> None:
    page = watched.page
    page.goto("/")
    for label in ("Traces", "Sessions", "Users", "Prompts", "Drift", "Alerts", "Overview"):
        page.locator("nav.nav a", has_text=label).click()
        page.wait_for_load_state("networkidle")
        expect(page.locator("nav.nav a.active")).to_have_text(label)
        expect(page.locator("h1").first).to_contain_text(label)
    assert watched.errors == []


def test_filters_narrow_the_trace_list_and_stay_in_the_url(watched: Watched) -> None:
    page = watched.page
    page.goto("/traces")
    rows = page.locator("#trace-list tbody tr")
    expect(rows).to_have_count(50)
    models = rows.locator("td:nth-child(4)").all_inner_texts()
    assert len(set(models)) > 1  # the unfiltered newest traces mix workloads
    page.fill("#filters input[name=prompt]", "research")
    page.locator("#filters button[type=submit]").click()
    page.wait_for_url(re.compile(r"prompt=research"))
    expect(page.locator("#filters input[name=prompt]")).to_have_value("research")
    models = rows.locator("td:nth-child(4)").all_inner_texts()
    assert models and set(models) == {"claude-opus-4-1"}
    # The next page keeps the filter and shows older traces.
    first_page = rows.locator("td:first-child").all_inner_texts()
    page.locator("a[rel=next]").click()
    page.wait_for_url(re.compile(r"cursor="))
    assert "prompt=research" in page.url
    assert set(rows.locator("td:nth-child(4)").all_inner_texts()) == {"claude-opus-4-1"}
    assert rows.locator("td:first-child").all_inner_texts()[0] <= first_page[-1]
    # Errors only, then text search: each narrows further.
    page.goto("/traces?status=error")
    badges = rows.locator(".badge").all_inner_texts()
    assert badges and set(badges) == {"error"}
    page.goto("/traces?q=churn&prompt=research")
    expect(rows.first).to_be_visible()
    page.goto("/traces?q=no-such-text-anywhere-42")
    expect(page.locator(".empty-title")).to_have_text("No trace matches these filters")
    assert watched.errors == []


def test_a_session_reads_as_a_conversation(watched: Watched) -> None:
    page = watched.page
    page.goto("/sessions?prompt=chat")
    page.locator("#session-list tbody tr a").first.click()
    expect(page.locator("h1")).to_have_text("Session")
    turn = page.locator(".conversation .turn").first
    expect(turn.locator(".msg-user .msg-text")).not_to_be_empty()
    expect(turn.locator(".msg-assistant .msg-text")).not_to_be_empty()
    turn.locator("h2 a").click()
    expect(page.locator(".span-row[data-span]").first).to_be_visible()
    page.goto("/users")
    expect(page.locator("#user-list tbody tr").first).to_be_visible()
    assert watched.errors == []


def test_overview_draws_charts_and_links_banners(watched: Watched, tmp_path: Path) -> None:
    page = watched.page
    page.goto("/?range=24h")
    # The headline numbers are in the page itself; charts and banners arrive afterwards.
    expect(page.locator(".kpi").first).to_contain_text("Calls")
    expect(page.locator("#charts canvas").first).to_be_visible(timeout=20_000)
    assert page.locator("#charts canvas").count() >= 6
    # The banners need the drift report: slower than the page, never in its way.
    expect(page.locator("a.banner-alert").first).to_contain_text("LLM spend spike", timeout=60_000)
    expect(page.locator("a.banner-drift").first).to_contain_text("prompt=")
    quality = page.locator("figure.chart", has=page.locator("figcaption", has_text="Quality"))
    expect(quality.locator("canvas")).to_be_visible(timeout=60_000)
    page.wait_for_load_state("networkidle")
    screenshot(page, tmp_path, "overview.png")
    page.select_option("select[name=group_by]", "model")
    page.wait_for_url(re.compile(r"group_by=model"))
    expect(page.locator("#charts table.grid")).to_contain_text("claude-opus-4-1", timeout=20_000)
    # Each group's row: its own p50 and p95 over the range (the API's totals), then the worst point.
    expect(page.locator("#charts table.grid thead")).to_contain_text("p50p95worst p95")
    cells = page.locator("#charts table.grid tbody tr", has_text="claude-opus-4-1").locator("td")
    p50, p95 = (cells.nth(i).inner_text() for i in (6, 7))
    assert re.fullmatch(r"[\d,]+ ms", p50) and re.fullmatch(r"[\d,]+ ms", p95), (p50, p95)
    assert int(p50[:-3].replace(",", "")) <= int(p95[:-3].replace(",", ""))
    assert watched.errors == []


def test_trace_detail_shows_nested_spans_and_the_conversation(
    watched: Watched, demo_server: str, tmp_path: Path
) -> None:
    page = watched.page
    page.goto(f"/traces/{nested_trace_id(demo_server)}")
    rows = page.locator(".span-row[data-span]")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_have_attribute("data-depth", "0")
    expect(rows.nth(1)).to_have_attribute("data-depth", "1")
    expect(rows.nth(1).locator(".kind")).to_have_text("llm")
    # The service span's panel shows the function's arguments, which carry the chat messages.
    expect(page.locator(".span-panel:not([hidden]) .msg-input .msg-text")).to_contain_text('"messages"')
    rows.nth(1).click()
    panel = page.locator(".span-panel:not([hidden])")
    expect(panel.locator("h2")).to_contain_text("chat gpt-4o-mini")
    expect(panel.locator(".msg-user .msg-text").first).not_to_be_empty()
    expect(panel.locator(".msg-assistant .msg-text")).not_to_be_empty()
    expect(panel.locator(".facts")).to_contain_text("input tokens")
    expect(panel.locator(".facts")).to_contain_text("$")
    expect(panel.locator("details pre.raw")).to_be_hidden()  # raw attributes folded away
    screenshot(page, tmp_path, "trace.png")
    assert watched.errors == []


def test_regression_page_shows_the_v2_regression(watched: Watched, tmp_path: Path) -> None:
    page = watched.page
    page.goto("/prompts")
    page.locator("a", has_text=re.compile(r"compare v1 → v2")).click()
    page.wait_for_load_state("networkidle")
    expect(page.locator("h2").first).to_contain_text("prompt version 2")
    cost = page.locator("tr", has=page.locator("td", has_text=re.compile(r"^cost_per_call_usd$")))
    expect(cost.locator(".badge")).to_have_text("regressed")
    quality = page.locator("tr", has=page.locator("td", has_text=re.compile(r"^score:quality$")))
    expect(quality.locator(".badge")).to_have_text("regressed")
    screenshot(page, tmp_path, "regression.png")
    assert watched.errors == []


def test_drift_page_draws_both_histograms(watched: Watched) -> None:
    page = watched.page
    page.goto("/drift?segment_by=prompt&current=24h")
    chat = page.locator("section.card", has=page.locator("h2", has_text="prompt = chat"))
    row = chat.locator("tr", has=page.locator("td", has_text=re.compile(r"^input_tokens$")))
    expect(row.locator(".badge")).to_have_text("drift")
    expect(row.locator(".hist")).to_have_count(2)
    assert row.locator(".hist span").count() >= 4
    # The report opens with what changed: chat's input lengths, and what moves with them.
    summary = page.locator("#drift-summary")
    chat_summary = summary.locator(".summary-segment", has=page.locator("h3", has_text="prompt = chat"))
    expect(chat_summary.locator("li").first).to_contain_text("input_tokens")
    assert watched.errors == []


def test_alert_rule_is_created_through_the_form(watched: Watched, demo_server: str) -> None:
    page = watched.page
    page.goto("/alerts")
    form = page.locator("#rule-form form")
    # A threshold rule without its value is refused with a message, not stored.
    form.locator("input[name=name]").fill("p95 too slow")
    form.locator("select[name=type]").select_option("threshold")
    expect(form.locator("input[name=param_daily_budget_usd]")).to_be_hidden()
    form.locator("button[type=submit]").click()
    expect(page.locator(".form-error")).to_contain_text("params.value")
    # Fixed, it is created and listed, by the page and by the API.
    form = page.locator("#rule-form form")
    form.locator("select[name=param_metric]").select_option("latency_p95_ms")
    form.locator("input[name=param_value]").fill("2500")
    form.locator("input[name=filter_prompt]").fill("chat")
    form.locator("button[type=submit]").click()
    expect(page.locator(".notice")).to_contain_text("created")
    row = page.locator("#rules tr", has_text="p95 too slow")
    expect(row).to_contain_text("value=2500")
    rules = api(demo_server, "/api/v1/alerts/rules")["data"]
    made = [r for r in rules if r["name"] == "p95 too slow"]
    assert (
        made and made[0]["params"]["metric"] == "latency_p95_ms" and made[0]["filters"] == {"prompt": "chat"}
    )
    # Edit, then delete.
    row.locator("a", has_text="edit").click()
    page.locator("#rule-form input[name=param_value]").fill("3000")
    page.locator("#rule-form button[type=submit]").click()
    expect(page.locator("#rules tr", has_text="p95 too slow")).to_contain_text("value=3000")
    page.locator("#rules tr", has_text="p95 too slow").locator("button", has_text="delete").click()
    expect(page.locator(".notice")).to_contain_text("deleted")
    expect(page.locator("#rules tr", has_text="p95 too slow")).to_have_count(0)
    # The refused form was answered 422 (Chromium logs every 4xx document); nothing else.
    assert [e for e in watched.errors if "status of 422" not in e] == []
    assert len(watched.errors) == 1


def test_api_docs_render_offline(watched: Watched) -> None:
    page = watched.page
    page.goto("/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("llmtrace", timeout=20_000)
    expect(page.locator(".opblock").first).to_be_visible()
    assert watched.errors == []
