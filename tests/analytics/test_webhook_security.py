"""Alert webhooks under an adversarial rule author (issue 13): strict URLs at creation, no
internal destinations unless allowed, no redirects, error categories instead of socket text,
delivery off the evaluation path, and one failing rule never stopping another, in any project."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fastapi.testclient import TestClient

from llmtrace.store.queries import alerts as q
from llmtrace_server.alerts.engine import evaluate
from llmtrace_server.alerts.notify import post_webhook
from llmtrace_server.alerts.webhook_policy import WebhookPolicy
from llmtrace_server.app import create_app
from llmtrace_server.settings import Settings
from tests.analytics.synth import steady

LOOPBACK = WebhookPolicy.allowing(["127.0.0.1"])
ANY_TRAFFIC = {"metric": "error_rate", "operator": ">", "value": -1, "pending_evaluations": 1}


class Receiver:
    """A real HTTP server on 127.0.0.1 answering every request with ``status`` (and ``location``)."""

    def __init__(self, status: int = 200, location: str = "") -> None:
        self.requests: list[tuple[str, bytes]] = []
        requests = self.requests

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                requests.append((self.command, self.rfile.read(length)))
                self.send_response(status)
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = _answer

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    yield listener.getsockname()[1]
    listener.close()


@pytest.fixture(autouse=True)
def _no_background_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMTRACE_EVALUATE_ALERTS", "0")


def _client(store, chdb_dsn, allow: list[str] | None = None) -> TestClient:
    settings = Settings(store=chdb_dsn, database=store.database, allow_webhook_hosts=allow or [])
    return TestClient(create_app(settings))


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://127.0.0.1:9/a b", "' '"),
        ("http://127.0.0.1:abc/", "port"),
        ("http://[::1/", "Invalid IPv6 URL"),
        ("ftp://example.com/hook", "http"),
        ("http://user:pw@example.com/hook", "credentials"),
        ("http://exa mple.com/", "' '"),
        ("http://example.com/%zz", "hex digits"),
    ],
)
def test_malformed_webhook_urls_are_refused_at_creation(store, chdb_dsn, url: str, words: str) -> None:
    with _client(store, chdb_dsn) as client:
        response = client.post(
            "/api/v1/alerts/rules", json={"name": "r", "type": "cost_spike", "webhook_url": url}
        )
        assert response.status_code == 422
        assert words in json.dumps(response.json()), response.json()
        assert client.get("/api/v1/alerts/rules").json()["data"] == []


def test_internal_addresses_are_refused_unless_the_operator_allows_them(store, chdb_dsn) -> None:
    internal = [
        "http://169.254.169.254/latest",
        "http://10.1.2.3/",
        "http://localhost:8080/",
        "http://[::1]:9/",
    ]
    with _client(store, chdb_dsn) as client:
        for url in internal:
            response = client.post(
                "/api/v1/alerts/rules", json={"name": "r", "type": "cost_spike", "webhook_url": url}
            )
            assert response.status_code == 422, url
            assert "--allow-webhook-host" in response.json()["detail"]
        public = {"name": "r", "type": "cost_spike", "webhook_url": "https://hooks.example.com/x"}
        assert client.post("/api/v1/alerts/rules", json=public).status_code == 201
    with _client(store, chdb_dsn, allow=["169.254.169.254"]) as client:
        rule = {"name": "r", "type": "cost_spike", "webhook_url": internal[0]}
        assert client.post("/api/v1/alerts/rules", json=rule).status_code == 201


def test_a_host_resolving_to_loopback_is_refused_at_delivery(receiver: Receiver) -> None:
    delivery = post_webhook(f"http://localhost:{receiver.port}/hook", {"text": "x"}, backoff_s=0)
    assert (delivery.delivered, delivery.attempts, delivery.error) == (False, 1, "blocked_address")
    assert receiver.requests == []  # never connected
    allowed = post_webhook(
        f"http://localhost:{receiver.port}/hook", {"text": "x"}, policy=WebhookPolicy.allowing(["localhost"])
    )
    assert allowed.delivered and [method for method, _ in receiver.requests] == ["POST"]


def test_redirects_are_not_followed(receiver: Receiver) -> None:
    redirecting = Receiver(302, location=receiver.url)
    try:
        delivery = post_webhook(redirecting.url, {"text": "x"}, policy=LOOPBACK, backoff_s=0)
    finally:
        redirecting.close()
    assert (delivery.delivered, delivery.attempts, delivery.error) == (False, 1, "http_status 302")
    assert receiver.requests == []  # neither a GET nor a POST reached the redirect's target


def test_errors_are_recorded_as_categories(silent_port: int) -> None:
    unavailable = Receiver(503)
    try:
        busy = post_webhook(unavailable.url, {"text": "x"}, policy=LOOPBACK, backoff_s=0.01)
    finally:
        unavailable.close()
    assert (busy.attempts, busy.error) == (3, "http_status 503") and len(unavailable.requests) == 3
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    refused = post_webhook(f"http://127.0.0.1:{closed}/", {}, policy=LOOPBACK, backoff_s=0.01)
    assert (refused.attempts, refused.error) == (3, "refused")
    started = time.monotonic()
    hung = post_webhook(f"http://127.0.0.1:{silent_port}/", {}, policy=LOOPBACK, attempts=1, timeout_s=0.5)
    assert hung.error == "timeout" and time.monotonic() - started < 3
    assert post_webhook("http://127.0.0.1:abc/", {}, policy=LOOPBACK).error == "invalid_url"


def _load(store, project: str) -> None:
    now = datetime.now(UTC)
    rows = steady(now - timedelta(minutes=50), now, every_s=30, cost=0.01, seed=len(project))
    store.insert_spans([{**row, "project": project} for row in rows])


def test_a_bad_rule_never_stops_the_others_in_any_project(store, receiver: Receiver) -> None:
    for project in ("aaa", "bbb"):
        _load(store, project)
    created = datetime.now(UTC)
    # Rules saved before URLs were validated: they must fail alone.
    q.insert_rule(
        store,
        "aaa",
        {
            "id": "r1",
            "name": "legacy",
            "type": "threshold",
            "params": ANY_TRAFFIC,
            "webhook_url": "http://127.0.0.1:9/a b",
            "created_at": created,
        },
    )
    q.insert_rule(
        store,
        "aaa",
        {
            "id": "r2",
            "name": "metadata",
            "type": "threshold",
            "params": ANY_TRAFFIC,
            "webhook_url": "http://169.254.169.254/latest",
            "created_at": created,
        },
    )
    q.insert_rule(
        store,
        "bbb",
        {
            "id": "r3",
            "name": "good",
            "type": "threshold",
            "params": ANY_TRAFFIC,
            "webhook_url": receiver.url,
            "created_at": created,
        },
    )
    result = evaluate(store, policy=LOOPBACK)  # every project, as the scheduler does
    assert result["errors"] == []
    by_rule = {e["rule_id"]: e for e in result["events"]}
    assert by_rule["r1"]["error"] == "invalid_url" and by_rule["r2"]["error"] == "blocked_address"
    assert by_rule["r3"]["delivered"] == 1 and len(receiver.requests) == 1


def test_evaluation_does_not_wait_for_a_hanging_webhook(
    store, chdb_dsn, silent_port: int, receiver: Receiver
) -> None:
    _load(store, "default")
    with _client(store, chdb_dsn, allow=["127.0.0.1"]) as client:
        for name, url in (("hangs", f"http://127.0.0.1:{silent_port}/"), ("works", receiver.url)):
            rule = {"name": name, "type": "threshold", "params": ANY_TRAFFIC, "webhook_url": url}
            assert client.post("/api/v1/alerts/rules", json=rule).status_code == 201
        started = time.monotonic()
        response = client.post("/api/v1/alerts/evaluate")
        took = time.monotonic() - started
        assert response.status_code == 200 and len(response.json()["events"]) == 2
        assert took < 5  # the hanging receiver alone would take 3 x 5 s
        assert client.app.state.webhooks.wait_idle(60)  # type: ignore[attr-defined]
        events = {e["rule_name"]: e for e in client.get("/api/v1/alerts/events").json()["data"]}
    assert (events["hangs"]["delivered"], events["hangs"]["attempts"], events["hangs"]["error"]) == (
        0,
        3,
        "timeout",
    )
    assert events["works"]["delivered"] == 1 and len(receiver.requests) == 1
