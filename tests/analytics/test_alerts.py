"""Alerts end to end: rules CRUD, a cost spike notifying a real local webhook exactly once,
no re-notification while it decays or across a restart, one resolve; budget and threshold
rules; failed deliveries recorded; single-evaluator lease."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from time import monotonic

import pytest
from fastapi.testclient import TestClient

from llmtrace.store.queries import alerts as aq
from llmtrace_server.alerts.delivery import WebhookDispatcher
from llmtrace_server.alerts.engine import acquire_lease, evaluate
from llmtrace_server.alerts.webhook_policy import WebhookPolicy
from llmtrace_server.app import create_app
from llmtrace_server.routes.alerts import MAX_RULES_PER_PROJECT
from llmtrace_server.settings import Settings
from tests.analytics.synth import NOW, steady

T = NOW - timedelta(hours=6)  # the spike starts here; everything stays well inside the TTLs


class Receiver:
    """A real HTTP webhook receiver on 127.0.0.1 that records every JSON body."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        received = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture(autouse=True)
def _no_background_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMTRACE_EVALUATE_ALERTS", "0")  # these tests drive evaluation explicitly


def _app(store, chdb_dsn):
    # The receivers listen on loopback, which the server refuses unless allowed (docs/security.md).
    settings = Settings(store=chdb_dsn, database=store.database, allow_webhook_hosts=["127.0.0.1"])
    return TestClient(create_app(settings))


def _load_spike(store) -> None:
    rows = []
    for d in range(1, 8):  # same hours on the previous 7 days: ~$6/h, 60 calls/h
        day = T - timedelta(days=d)
        rows += steady(day - timedelta(hours=2), day + timedelta(hours=4), every_s=60, cost=0.10, seed=d)
    rows += steady(T - timedelta(hours=2), T, every_s=60, cost=0.10, seed=100)
    rows += steady(T, T + timedelta(minutes=45), every_s=60, cost=0.50, seed=101)  # 5x for 45 min
    rows += steady(T + timedelta(minutes=45), T + timedelta(hours=4), every_s=60, cost=0.10, seed=102)
    rows += steady(
        T - timedelta(days=1), T + timedelta(hours=4), every_s=600, cost=0.01, service="quiet", seed=103
    )
    store.insert_spans(rows)


def test_cost_spike_notifies_once_survives_restart_and_resolves(store, chdb_dsn, receiver) -> None:
    _load_spike(store)
    times = [T - timedelta(minutes=30) + timedelta(minutes=5 * i) for i in range(43)]  # to T + 3h
    with _app(store, chdb_dsn) as client:
        r = client.post(
            "/api/v1/alerts/rules",
            json={"name": "spend spike", "type": "cost_spike", "webhook_url": receiver.url},
        )
        assert r.status_code == 201, r.text
        rule = r.json()
        assert (
            rule["effective_params"]["ratio"] == 2.0 and rule["effective_params"]["pending_evaluations"] == 2
        )
        for now in times[:20]:  # through T + 65 min: fires, then the restart
            assert client.post("/api/v1/alerts/evaluate", json={"now": now.isoformat()}).status_code == 200
    assert [b["state"] for b in receiver.bodies] == ["firing"]
    fired = receiver.bodies[0]
    assert fired["key"] == {"service": "chat", "model": "gpt-4o", "prompt": "answer"}
    assert fired["values"]["cost_usd"] > 2 * fired["baseline"] and fired["values"]["calls"] >= 50
    assert 5.0 < fired["baseline"] < 7.0
    assert fired["rule"]["name"] == "spend spike" and "FIRING" in fired["text"] and fired["link"]

    with _app(store, chdb_dsn) as client:  # a new app instance on the same store: a restart
        for now in times[20:]:
            client.post("/api/v1/alerts/evaluate", json={"now": now.isoformat()})
        assert client.app.state.webhooks.wait_idle(30)  # type: ignore[attr-defined]
        events = client.get("/api/v1/alerts/events", params={"rule_id": rule["id"]}).json()["data"]
    assert [b["state"] for b in receiver.bodies] == ["firing", "resolved"]
    assert "RESOLVED" in receiver.bodies[1]["text"]
    assert sorted(e["state"] for e in events) == ["firing", "resolved"]
    assert all(e["delivered"] == 1 and e["key"] == "service=chat,model=gpt-4o,prompt=answer" for e in events)
    resolved_at = next(e for e in events if e["state"] == "resolved")["ts"]
    # The 1 h window drops below 1.5x the baseline ~T+1h40; resolving then waits the 30 min keep-firing.
    assert (T + timedelta(minutes=125)).isoformat() <= resolved_at <= (T + timedelta(minutes=140)).isoformat()


def test_rules_crud_and_validation(store, chdb_dsn) -> None:
    with _app(store, chdb_dsn) as client:
        assert client.post("/api/v1/alerts/rules", json={"name": "x", "type": "nope"}).status_code == 422
        assert client.post("/api/v1/alerts/rules", json={"name": "b", "type": "budget"}).status_code == 422
        bad = {"name": "t", "type": "threshold", "params": {"metric": "nope", "value": 1}}
        assert client.post("/api/v1/alerts/rules", json=bad).status_code == 422
        assert (
            client.post(
                "/api/v1/alerts/rules", json={"name": "c", "type": "cost_spike", "params": {"ratio": -1}}
            ).status_code
            == 422
        )
        ok = {
            "name": "b",
            "type": "budget",
            "params": {"daily_budget_usd": 10},
            "filters": {"service": "chat"},
        }
        rid = client.post("/api/v1/alerts/rules", json=ok).json()["id"]
        assert [r["id"] for r in client.get("/api/v1/alerts/rules").json()["data"]] == [rid]
        assert client.delete(f"/api/v1/alerts/rules/{rid}").status_code == 204
        assert client.get("/api/v1/alerts/rules").json()["data"] == []
        assert client.delete(f"/api/v1/alerts/rules/{rid}").status_code == 404


@pytest.mark.parametrize(
    ("rule_type", "params", "named"),
    [
        ("cost_spike", '{"window_minutes": NaN}', "window_minutes"),  # JSON bodies may carry NaN
        ("cost_spike", '{"ratio": Infinity}', "ratio"),
        ("cost_spike", '{"window_minutes": 1e20}', "window_minutes"),  # failed every evaluation
        ("cost_spike", '{"baseline_days": 400}', "baseline_days"),
        ("cost_spike", '{"renotify_hours": 1e300}', "renotify_hours"),
        ("budget", '{"daily_budget_usd": "ten"}', "daily_budget_usd"),
        ("budget", '{"daily_budget_usd": -1}', "daily_budget_usd"),
        ("threshold", '{"metric": "calls", "value": NaN}', "value"),
    ],
)
def test_rule_params_no_evaluation_could_use_are_refused(
    store, chdb_dsn, rule_type: str, params: str, named: str
) -> None:
    body = f'{{"name": "r", "type": "{rule_type}", "params": {params}}}'
    with _app(store, chdb_dsn) as client:
        response = client.post(
            "/api/v1/alerts/rules", content=body, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 422, response.text
        assert f"params.{named}" in response.json()["detail"]
        assert client.get("/api/v1/alerts/rules").json()["data"] == []


def test_a_rule_stored_before_its_params_were_checked_still_lists(store, chdb_dsn) -> None:
    from llmtrace.store.queries import alerts as q

    q.insert_rule(
        store,
        "default",
        {"id": "legacy00legacy00", "name": "old", "type": "cost_spike", "params": {"window_minutes": 1e20}},
    )
    with _app(store, chdb_dsn) as client:
        (rule,) = client.get("/api/v1/alerts/rules").json()["data"]
        assert rule["effective_params"]["window_minutes"] == 1e20 and rule["effective_params"]["ratio"] == 2.0
        assert client.get("/alerts").status_code == 200
        errors = client.post("/api/v1/alerts/evaluate").json()["errors"]
        assert [e["rule_id"] for e in errors] == ["legacy00legacy00"]
        assert "window_minutes" in errors[0]["error"]


def test_budget_and_threshold_rules_and_failed_delivery(store, chdb_dsn) -> None:
    midnight = NOW.replace(hour=0) - timedelta(days=1)
    now = midnight + timedelta(hours=12)
    store.insert_spans(steady(midnight, now, every_s=60, cost=0.05, seed=7))  # $36 by noon -> ~$72/day
    with _app(store, chdb_dsn) as client:
        dead = "http://127.0.0.1:9/hook"  # nothing listens on the discard port
        client.post(
            "/api/v1/alerts/rules",
            json={
                "name": "budget",
                "type": "budget",
                "webhook_url": dead,
                "params": {"daily_budget_usd": 50, "pending_evaluations": 1},
            },
        )
        client.post(
            "/api/v1/alerts/rules",
            json={
                "name": "p95",
                "type": "threshold",
                "params": {"metric": "latency_p95_ms", "value": 100000, "pending_evaluations": 1},
            },
        )
        client.post(
            "/api/v1/alerts/rules",
            json={
                "name": "cpc",
                "type": "threshold",
                "params": {"metric": "cost_per_call_usd", "value": 0.01, "pending_evaluations": 1},
            },
        )
    loopback = WebhookPolicy.allowing(["127.0.0.1"])
    result = evaluate(store, now, project="default", webhook_backoff_s=0.01, policy=loopback)
    by_rule = {e["rule_name"]: e for e in result["events"]}
    assert set(by_rule) == {"budget", "cpc"}
    assert by_rule["budget"]["values"]["projected_usd"] == pytest.approx(72, rel=0.1)
    assert (by_rule["budget"]["delivered"], by_rule["budget"]["attempts"]) == (0, 3)
    assert by_rule["budget"]["error"] == "refused"  # a category, not the socket's text
    assert by_rule["cpc"]["error"] == "no webhook_url"


class HangingReceiver:
    """A webhook that reads the request and never answers (until ``release``): a dead receiver."""

    def __init__(self) -> None:
        self.released = threading.Event()
        self.open_now = 0
        self.most_open = 0
        lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                with lock:
                    outer.open_now += 1
                    outer.most_open = max(outer.most_open, outer.open_now)
                outer.released.wait(30)
                with lock:
                    outer.open_now -= 1
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()


def test_dead_webhooks_of_one_project_do_not_delay_another_projects(store, chdb_dsn, receiver) -> None:
    """Project a's six rules notify a webhook that never answers (each delivery holds a worker for
    up to 3 x 5 s); project b's one notification is sent at once, not after a's time out."""
    midnight = NOW.replace(hour=0) - timedelta(days=1)
    now = midnight + timedelta(hours=12)
    rows = steady(now - timedelta(hours=2), now, every_s=60, cost=0.05, seed=8)
    store.insert_spans([{**row, "project": project} for project in ("a", "b") for row in rows])
    hanging = HangingReceiver()
    keys = {"key-of-project-a": "a", "key-of-project-b": "b"}
    settings = Settings(
        store=chdb_dsn, database=store.database, allow_webhook_hosts=["127.0.0.1"], api_keys=keys
    )
    rule = {
        "type": "threshold",
        "params": {"metric": "cost_per_call_usd", "value": 0.01, "pending_evaluations": 1},
    }
    with TestClient(create_app(settings)) as client:
        for i in range(6):
            answer = client.post(
                "/api/v1/alerts/rules",
                json={**rule, "name": f"a{i}", "webhook_url": hanging.url},
                headers={"Authorization": "Bearer key-of-project-a"},
            )
            assert answer.status_code == 201, answer.text
        client.post(
            "/api/v1/alerts/rules",
            json={**rule, "name": "b0", "webhook_url": receiver.url},
            headers={"Authorization": "Bearer key-of-project-b"},
        )
    # A backlog of 4 per project: a's six notifications fill its own (2 sent, 2 waiting, 2 refused).
    dispatcher = WebhookDispatcher(
        store, WebhookPolicy.allowing(["127.0.0.1"]), max_pending=4, backoff_s=0.01
    )
    try:
        evaluate(store, now, project="a", deliver=dispatcher.submit)
        started = monotonic()
        evaluate(store, now, project="b", deliver=dispatcher.submit)
        while not receiver.bodies and monotonic() - started < 10:
            time.sleep(0.02)
        waited = monotonic() - started
        assert receiver.bodies and waited < 3.0, f"project b waited {waited:.1f} s"
        assert hanging.most_open == 2  # a's deliveries in flight: its share, not every worker
    finally:
        hanging.released.set()  # the receiver comes back: what was in flight or waiting gets through
        assert dispatcher.wait_idle(60)
        dispatcher.close()
        hanging.close()
    errors = sorted(str(e["error"]) for e in aq.list_events(store, "a"))
    assert errors == ["", "", "", "", "backlog_full", "backlog_full"]
    assert [e["delivered"] for e in aq.list_events(store, "b")] == [1]


def _firing_rules_client(store, chdb_dsn, projects: tuple[str, ...]) -> tuple[TestClient, datetime]:
    """An app with one key per project, and calls whose cost per call breaches a 0.01 threshold."""
    now = NOW.replace(hour=12)
    rows = steady(now - timedelta(hours=2), now, every_s=60, cost=0.05, seed=9)
    store.insert_spans([{**row, "project": project} for project in projects for row in rows])
    keys = {f"key-of-project-{p}": p for p in projects}
    settings = Settings(store=chdb_dsn, database=store.database, api_keys=keys)
    return TestClient(create_app(settings)), now


THRESHOLD = {
    "type": "threshold",
    "params": {"metric": "cost_per_call_usd", "value": 0.01, "pending_evaluations": 1},
}


def test_projects_take_turns_in_an_evaluation_pass(store, chdb_dsn) -> None:
    """Rules were evaluated project by project: a project with thousands of rules (7 ms each)
    delayed every later project's alerts; now each project's first rule goes first."""
    client, now = _firing_rules_client(store, chdb_dsn, ("a", "b", "c"))
    with client:
        for project, count in (("a", 5), ("b", 1), ("c", 2)):
            for i in range(count):
                answer = client.post(
                    "/api/v1/alerts/rules",
                    json={**THRESHOLD, "name": f"{project}{i}"},
                    headers={"Authorization": f"Bearer key-of-project-{project}"},
                )
                assert answer.status_code == 201, answer.text
    order = [event["project"] for event in evaluate(store, now)["events"]]
    assert order == ["a", "b", "c", "a", "c", "a", "a", "a"]


def test_a_project_has_at_most_500_rules(store, chdb_dsn) -> None:
    client, _ = _firing_rules_client(store, chdb_dsn, ("a", "b"))
    for i in range(MAX_RULES_PER_PROJECT):
        aq.insert_rule(
            store, "a", {**THRESHOLD, "name": f"a{i}", "filters": {}, "webhook_url": None, "id": f"{i:016x}"}
        )
    with client:
        a = {"Authorization": "Bearer key-of-project-a"}
        refused = client.post("/api/v1/alerts/rules", json={**THRESHOLD, "name": "one more"}, headers=a)
        assert refused.status_code == 422
        assert refused.json()["detail"] == "a project has at most 500 alert rules; delete one first"
        b = {"Authorization": "Bearer key-of-project-b"}
        assert (
            client.post("/api/v1/alerts/rules", json={**THRESHOLD, "name": "b0"}, headers=b).status_code
            == 201
        )
        assert client.delete(f"/api/v1/alerts/rules/{0:016x}", headers=a).status_code == 204
        assert (
            client.post("/api/v1/alerts/rules", json={**THRESHOLD, "name": "now"}, headers=a).status_code
            == 201
        )


def test_lease_elects_one_evaluator(store) -> None:
    assert acquire_lease(store, "replica-a", timedelta(seconds=60), settle_s=0)
    assert not acquire_lease(store, "replica-b", timedelta(seconds=60), settle_s=0)
    assert acquire_lease(store, "replica-a", timedelta(seconds=60), settle_s=0)  # renewal
    assert acquire_lease(store, "replica-c", timedelta(seconds=-1), settle_s=0) is False


def test_keys_of_one_service_firing_together_share_one_webhook(store, chdb_dsn, receiver) -> None:
    # Spikes large enough that all three keys breach at the same two evaluations (T+15, T+20 min).
    spikes = {("chat", "gpt-4o"): 0.55, ("chat", "claude-sonnet-4"): 0.65, ("search", "gpt-4o"): 0.55}
    rows = []
    for i, ((service, model), spike) in enumerate(spikes.items()):
        kw = {"service": service, "model": model}
        for d in range(1, 8):
            day = T - timedelta(days=d)
            rows += steady(
                day - timedelta(hours=1),
                day + timedelta(hours=3),
                every_s=60,
                cost=0.1,
                seed=10 * i + d,
                **kw,
            )
        rows += steady(T - timedelta(hours=1), T, every_s=60, cost=0.10, seed=10 * i + 8, **kw)
        rows += steady(T, T + timedelta(minutes=45), every_s=60, cost=spike, seed=10 * i + 9, **kw)
        rows += steady(
            T + timedelta(minutes=45), T + timedelta(hours=3), every_s=60, cost=0.1, seed=10 * i, **kw
        )
    store.insert_spans(rows)
    with _app(store, chdb_dsn) as client:
        rule = client.post(
            "/api/v1/alerts/rules", json={"name": "spend", "type": "cost_spike", "webhook_url": receiver.url}
        ).json()
        for i in range(34):  # T - 10 min .. T + 155 min: fire, decay, resolve
            now = T - timedelta(minutes=10) + timedelta(minutes=5 * i)
            assert client.post("/api/v1/alerts/evaluate", json={"now": now.isoformat()}).status_code == 200
        assert client.app.state.webhooks.wait_idle(30)  # type: ignore[attr-defined]  # sent off the evaluation path
        events = client.get("/api/v1/alerts/events", params={"rule_id": rule["id"]}).json()["data"]

    firing = [b for b in receiver.bodies if b["state"] == "firing"]
    assert len(firing) == 2  # one per service, not one per key
    chat = next(b for b in firing if b["key"] == {"service": "chat"})
    assert [k["key"]["model"] for k in chat["keys"]] == ["claude-sonnet-4", "gpt-4o"]  # largest first
    assert chat["values"]["keys"] == 2
    assert chat["values"]["value_total"] == pytest.approx(sum(k["values"]["cost_usd"] for k in chat["keys"]))
    assert "2 keys firing" in chat["text"] and "model=claude-sonnet-4" in chat["text"]
    search = next(b for b in firing if b["key"] != {"service": "chat"})
    assert search["key"] == {
        "service": "search",
        "model": "gpt-4o",
        "prompt": "answer",
    }  # a lone key as before
    assert [k["key_text"] for k in search["keys"]] == [search["key_text"]]
    # One event per key, each delivered by its group's webhook; resolves stay per key.
    fired = [e for e in events if e["state"] == "firing"]
    assert len(fired) == 3 and all(e["delivered"] == 1 for e in fired)
    assert {k["event_id"] for k in chat["keys"]} == {
        e["id"] for e in fired if e["key"].startswith("service=chat")
    }
    resolved = [b for b in receiver.bodies if b["state"] == "resolved"]
    assert len(resolved) == 3 and all(len(b["keys"]) == 1 for b in resolved)
    assert len(receiver.bodies) == 5


@pytest.mark.parametrize("evaluate_alerts", [True, False])
def test_the_server_evaluates_rules_on_its_interval_unless_told_not_to(
    store, chdb_dsn, receiver, evaluate_alerts: bool
) -> None:
    from datetime import UTC, datetime
    from time import monotonic, sleep

    now = datetime.now(UTC)
    store.insert_spans(steady(now - timedelta(minutes=30), now, every_s=30, cost=0.01, seed=7))
    settings = Settings(
        store=chdb_dsn,
        database=store.database,
        evaluate_alerts=evaluate_alerts,
        alerts_interval_seconds=0.2,
        allow_webhook_hosts=["127.0.0.1"],
    )
    rule = {
        "name": "any traffic",
        "type": "threshold",
        "params": {"metric": "error_rate", "operator": ">", "value": -1, "pending_evaluations": 1},
        "webhook_url": receiver.url,
    }
    with TestClient(create_app(settings)) as client:
        assert client.post("/api/v1/alerts/rules", json=rule).status_code == 201
        # On: the loop fires within a few intervals. Off: nothing in about seven intervals.
        deadline = monotonic() + (8.0 if evaluate_alerts else 1.5)
        while monotonic() < deadline and not receiver.bodies:
            sleep(0.1)
        events = client.get("/api/v1/alerts/events").json()["data"]
    assert [b["state"] for b in receiver.bodies] == (["firing"] if evaluate_alerts else [])
    assert len(events) == (1 if evaluate_alerts else 0)
