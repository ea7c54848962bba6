"""The pages in-process (TestClient, real chDB): empty states, sign-in, CSRF, project isolation,
error pages, offline /docs and the JavaScript budget. The browser tests cover the rest."""

from __future__ import annotations

import http.server
import json
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi import HTTPException
from fastapi.testclient import TestClient

from llmtrace.store import open_store
from llmtrace_server.app import create_app
from llmtrace_server.settings import Settings
from llmtrace_server.ui.timerange import parse_range

STATIC = Path(__file__).resolve().parents[2] / "server" / "llmtrace_server" / "ui" / "static"
PAGES = ("/", "/traces", "/sessions", "/users", "/prompts", "/prompts/compare", "/drift", "/alerts")
KEY_A, KEY_B = "key-aaaaaaaa", "key-bbbbbbbb"
MAX_JS_BYTES = 300_000


@pytest.fixture
def make_client(chdb_dsn: str) -> Iterator[Callable[..., TestClient]]:
    started: list[tuple[TestClient, str]] = []

    def make(**overrides: object) -> TestClient:
        database = f"ui_{uuid.uuid4().hex[:12]}"
        client = TestClient(create_app(Settings(store=chdb_dsn, database=database, **overrides)))  # type: ignore[arg-type]
        client.__enter__()
        started.append((client, database))
        return client

    yield make
    for client, database in started:
        client.__exit__(None, None, None)
        with open_store(chdb_dsn, database) as store:
            store.client.command(f"DROP DATABASE IF EXISTS {database} SYNC")


def otlp_trace(name: str, *, text: str = "hello") -> tuple[str, dict]:  # type: ignore[type-arg]
    """One OTLP/JSON LLM span (its own trace) with a prompt and a completion."""
    trace_id, now = secrets.token_hex(16), time.time_ns()
    attrs = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.usage.input_tokens": 12,
        "gen_ai.usage.output_tokens": 5,
        "gen_ai.input.messages": f'[{{"role": "user", "parts": [{{"type": "text", "content": "{text}"}}]}}]',
        "gen_ai.output.messages": '[{"role": "assistant", "parts": [{"type": "text", "content": "hi"}]}]',
    }
    span = {
        "traceId": trace_id,
        "spanId": secrets.token_hex(8),
        "name": name,
        "kind": 3,
        "startTimeUnixNano": str(now - 200_000_000),
        "endTimeUnixNano": str(now),
        "attributes": [
            {"key": k, "value": {"intValue": str(v)} if isinstance(v, int) else {"stringValue": v}}
            for k, v in attrs.items()
        ],
    }
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": "svc"}}]}
    return trace_id, {"resourceSpans": [{"resource": resource, "scopeSpans": [{"spans": [span]}]}]}


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def test_every_page_has_an_empty_state_that_says_what_to_do(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    for path in PAGES:
        response = client.get(path)
        assert response.status_code == 200, (path, response.text[:500])
        assert response.headers["content-type"].startswith("text/html")
        assert "default-src 'self'" in response.headers["content-security-policy"]
        for href in ("/traces", "/sessions", "/users", "/prompts", "/drift", "/alerts"):
            assert f'href="{href}"' in response.text
    assert "No traces yet" in client.get("/traces").text
    assert "llmtrace demo" in client.get("/traces").text
    assert "No LLM calls in this range" in client.get("/").text
    assert "No alert rules yet" in client.get("/alerts").text


def test_a_keyless_loopback_server_opens_directly(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    response = client.get("/login", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/"


def test_sign_in_keeps_the_key_in_a_strict_httponly_cookie(make_client: Callable[..., TestClient]) -> None:
    client = make_client(api_keys=[f"{KEY_A}:alpha"])
    response = client.get("/traces?service=svc", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Ftraces%3Fservice%3Dsvc"
    form = client.get(response.headers["location"]).text
    token = csrf_of(form)
    bad = client.post("/login", data={"csrf": token, "api_key": "not-a-key-at-all", "next": "/"})
    assert bad.status_code == 401 and "not valid" in bad.text
    good = client.post(
        "/login",
        data={"csrf": token, "api_key": KEY_A, "next": "/traces?service=svc"},
        follow_redirects=False,
    )
    assert good.status_code == 303 and good.headers["location"] == "/traces?service=svc"
    cookie = good.headers["set-cookie"]
    assert (
        "llmtrace_key=" in cookie
        and "HttpOnly" in cookie
        and "SameSite=strict" in cookie.replace("Strict", "strict")
    )
    page = client.get("/traces?service=svc")
    assert page.status_code == 200 and ">alpha<" in page.text
    # Signing out needs the page's token too, and forgets the key.
    out = client.post("/logout", data={"csrf": csrf_of(page.text)}, follow_redirects=False)
    assert out.status_code == 303
    client.cookies.clear()
    assert client.get("/", follow_redirects=False).status_code == 303


def test_login_never_redirects_off_the_server(make_client: Callable[..., TestClient]) -> None:
    client = make_client(api_keys=[f"{KEY_A}:alpha"])
    token = csrf_of(client.get("/login").text)
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        client.cookies.clear()  # the token belongs to the signed-out state
        response = client.post(
            "/login", data={"csrf": token, "api_key": KEY_A, "next": target}, follow_redirects=False
        )
        assert response.headers["location"] == "/", target


def test_a_key_sees_only_its_project(make_client: Callable[..., TestClient]) -> None:
    client = make_client(api_keys=[f"{KEY_A}:alpha", f"{KEY_B}:beta"])
    trace_a, body_a = otlp_trace("alpha-call", text="only for alpha")
    trace_b, body_b = otlp_trace("beta-call", text="only for beta")
    for key, body in ((KEY_A, body_a), (KEY_B, body_b)):
        response = client.post("/v1/traces", json=body, headers={"Authorization": f"Bearer {key}"})
        assert response.status_code == 200, response.text
    token = csrf_of(client.get("/login").text)
    client.post("/login", data={"csrf": token, "api_key": KEY_A, "next": "/"})
    deadline = time.monotonic() + 10
    while "alpha-call" not in (listing := client.get("/traces").text) and time.monotonic() < deadline:
        time.sleep(0.2)  # the writer batches inserts
    assert "alpha-call" in listing and "beta-call" not in listing
    detail = client.get(f"/traces/{trace_a}")
    assert detail.status_code == 200 and "only for alpha" in detail.text
    other = client.get(f"/traces/{trace_b}")
    assert other.status_code == 404 and "not found" in other.text and "only for beta" not in other.text


def test_the_overview_breakdown_shows_each_groups_own_quantiles(
    make_client: Callable[..., TestClient],
) -> None:
    """p50 and p95 over the whole range, from the API's totals; "worst p95" the chart's highest."""
    client = make_client()
    now = time.time_ns()
    for i, model in enumerate(["gpt-4o"] * 9 + ["gpt-4o-mini"]):
        _, body = otlp_trace(f"call-{i}")
        span = body["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
        span["startTimeUnixNano"] = str(now - (i + 1) * 60 * 10**9)  # a minute apart, 100..1,000 ms
        span["endTimeUnixNano"] = str(now - (i + 1) * 60 * 10**9 + (i + 1) * 100_000_000)
        span["attributes"][2]["value"]["stringValue"] = model
        assert client.post("/v1/traces", json=body).status_code == 200
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the writer batches inserts
        series = client.get("/api/v1/metrics", params={"group_by": "model"}).json()["series"]
        if sum(s["totals"]["calls"] for s in series) == 10:
            break
        time.sleep(0.2)
    totals = {s["group"]["model"]: s["totals"] for s in series}
    html = client.get("/ui/overview/charts", params={"range": "24h", "group_by": "model"}).text
    row = re.search(r"<tr>\s*<td><a href=\"/traces\?model=gpt-4o\">.*?</tr>", html, re.S)
    assert row, html
    cells = [
        re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row.group(0), re.S)
    ]
    assert cells[1] == "9"
    assert cells[6:8] == [f"{round(totals['gpt-4o'][k]):,} ms" for k in ("latency_p50_ms", "latency_p95_ms")]
    assert 400 <= totals["gpt-4o"]["latency_p50_ms"] <= 600 and totals["gpt-4o"]["latency_p95_ms"] >= 850


def test_forms_without_the_csrf_token_change_nothing(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    rule = {"name": "spend", "type": "cost_spike"}
    forged = client.post("/alerts/rules", data=rule)
    assert forged.status_code == 403 and "another site" in forged.text
    assert client.post("/alerts/rules", data={**rule, "csrf": "0" * 64}).status_code == 403
    assert client.get("/api/v1/alerts/rules").json()["data"] == []
    token = csrf_of(client.get("/alerts").text)
    made = client.post("/alerts/rules", data={**rule, "csrf": token}, follow_redirects=False)
    assert made.status_code == 303
    (stored,) = client.get("/api/v1/alerts/rules").json()["data"]
    assert stored["name"] == "spend" and stored["type"] == "cost_spike"
    assert client.post(f"/alerts/rules/{stored['id']}/delete", data={}).status_code == 403
    assert client.get("/api/v1/alerts/rules").json()["data"] != []


def test_alert_form_explains_what_is_wrong(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    token = csrf_of(client.get("/alerts").text)
    cases = {
        "daily_budget_usd": {"name": "b", "type": "budget"},
        "must be a number": {"name": "b", "type": "budget", "param_daily_budget_usd": "ten"},
        "http:// or https:// URL": {"name": "t", "type": "cost_spike", "webhook_url": "ftp://x"},
        "name": {"name": "", "type": "cost_spike"},
    }
    for message, form in cases.items():
        response = client.post("/alerts/rules", data={**form, "csrf": token})
        assert response.status_code == 422 and message in response.text, (message, response.text[-2000:])
        assert 'class="form-error"' in response.text
    assert client.get("/api/v1/alerts/rules").json()["data"] == []


def test_errors_are_pages_for_people_and_json_for_programs(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    for path, status in (
        ("/traces/not-a-trace", 400),
        ("/?range=2w", 400),
        ("/drift?top=0", 400),
        ("/nope", 404),
    ):
        response = client.get(path)
        assert response.status_code == status, path
        assert response.headers["content-type"].startswith("text/html"), path
        assert "<nav" in response.text and "detail" not in response.text
    assert client.get("/traces?cursor=garbage").status_code == 400
    api = client.get("/api/v1/traces/not-a-trace")
    assert api.status_code == 422 and api.headers["content-type"] == "application/json"
    assert client.get("/api/v1/nothing").json() == {"detail": "Not Found"}


def test_api_docs_and_assets_are_served_locally(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    docs = client.get("/docs")
    assert docs.status_code == 200
    urls = re.findall(r'(?:src|href)="([^"]+)"', docs.text)
    assert urls and all(u.startswith("/static/vendor/swagger-ui/") for u in urls), urls
    assert "cdn" not in docs.text.lower()
    for url in urls:
        assert client.get(url).status_code == 200, url
    assert client.get("/redoc").status_code == 404
    for vendored in ("htmx", "uplot", "swagger-ui"):
        assert (STATIC / "vendor" / vendored / "LICENSE").is_file()


def test_no_page_loads_more_than_300_kb_of_javascript(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    for path in PAGES:
        html = client.get(path).text
        scripts = re.findall(r'<script src="(/static/[^"]+)"', html)
        assert not re.findall(r'(?:src|href)="(?:https?:)?//', html), path  # nothing from another host
        total = sum(len(client.get(u).content) for u in scripts)
        assert scripts and total <= MAX_JS_BYTES, (path, total)


def test_send_a_test_notification_to_the_rules_webhook(make_client: Callable[..., TestClient]) -> None:
    received: list[dict] = []  # type: ignore[type-arg]

    class Inbox(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    inbox = http.server.HTTPServer(("127.0.0.1", 0), Inbox)
    threading.Thread(target=inbox.serve_forever, daemon=True).start()
    try:
        # The inbox is on loopback, which the webhook policy refuses unless the operator allows it.
        client = make_client(allow_webhook_hosts=["127.0.0.1"])
        token = csrf_of(client.get("/alerts").text)
        url = f"http://127.0.0.1:{inbox.server_address[1]}/hook"
        client.post(
            "/alerts/rules", data={"csrf": token, "name": "spend", "type": "cost_spike", "webhook_url": url}
        )
        (rule,) = client.get("/api/v1/alerts/rules").json()["data"]
        page = client.post(f"/alerts/rules/{rule['id']}/test", data={"csrf": token})
        assert page.status_code == 200 and "test notification delivered" in page.text
        assert len(received) == 1 and received[0]["test"] is True and "spend" in received[0]["text"]
        assert client.get("/api/v1/alerts/events").json()["data"] == []  # a test is not an event
    finally:
        inbox.shutdown()


def test_time_ranges_end_now_and_chart_long_ranges_in_whole_hours() -> None:
    now = datetime(2026, 3, 4, 10, 17, 5, tzinfo=UTC)
    one_hour = parse_range("1h", None, None, now=now)
    assert (one_hour.since, one_hour.until, one_hour.interval) == (now - timedelta(hours=1), now, "1m")
    day = parse_range("24h", None, None, now=now)
    assert day.until == datetime(2026, 3, 4, 11, tzinfo=UTC) and day.until - day.since == timedelta(hours=24)
    assert [parse_range(r, None, None, now=now).interval for r in ("24h", "7d", "30d")] == ["1h", "1h", "6h"]
    custom = parse_range("custom", "2026-03-01T00:00", "2026-03-01T06:00", now=now)
    assert custom.query() == {"range": "custom", "since": "2026-03-01T00:00", "until": "2026-03-01T06:00"}
    assert custom.interval == "5m"
    for bad in (
        ("custom", "2026-03-02T00:00", "2026-03-01T00:00"),
        ("custom", "yesterday", None),
        ("2w", None, None),
    ):
        with pytest.raises(HTTPException) as exc:
            parse_range(*bad, now=now)
        assert exc.value.status_code == 400


def test_list_filters_submitted_without_javascript(make_client: Callable[..., TestClient]) -> None:
    """A form without scripts sends every field, empty ones included: those are no filter."""
    client = make_client()
    empty = "&".join(
        f"{k}=" for k in ("q", "range", "since", "until", "service", "model", "status", "user_id")
    )
    for path in ("/traces", "/sessions", "/users"):
        response = client.get(f"{path}?{empty}")
        assert response.status_code == 200 and "No " in response.text, path
    bad = client.get("/traces?since=yesterday")
    assert bad.status_code == 400 and "since" in bad.text and "YYYY-MM-DD" in bad.text
    assert client.get("/traces?status=maybe").status_code == 400
    assert client.get("/traces?range=2w").status_code == 400
    assert client.get("/traces?since=2026-03-01T00:00&until=2026-03-02T00:00").status_code == 200


def test_analytics_pages_render_their_form_and_load_the_report_after(
    make_client: Callable[..., TestClient],
) -> None:
    """Drift, the regression report and prompt quality are fragments the page loads after it
    renders (htmx): each page names its fragment, and each fragment answers on its own, with
    its empty state or a 400 that says what is wrong."""
    client = make_client()
    drift = client.get("/drift?segment_by=model&current=1h&top=3").text
    assert 'hx-get="/ui/drift/report?segment_by=model&amp;current=1h&amp;top=3"' in drift
    assert "Not enough traffic to judge drift" in client.get("/ui/drift/report?segment_by=model").text
    assert client.get("/ui/drift/report?current=2d").status_code == 400
    compare = client.get("/prompts/compare?prompt=p&a=1&b=2&range=24h").text
    assert (
        'hx-get="/ui/prompts/compare/report?prompt=p&amp;dimension=prompt_version&amp;a=1&amp;b=2' in compare
    )
    report = client.get("/ui/prompts/compare/report?prompt=p&a=1&b=2&range=24h")
    assert report.status_code == 200 and "overall" in report.text
    missing = client.get("/ui/prompts/compare/report?a=1")
    assert missing.status_code == 400 and "pick two cohorts" in missing.text
    assert "hx-get" not in client.get("/prompts").text  # nothing to score without prompts
    assert client.get("/ui/prompts/quality?range=7d").status_code == 200
