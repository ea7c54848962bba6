"""One evaluation pass: observe every rule, step each key's state machine, notify, record.

State is read from and written to the store on every pass (nothing is cached in memory), so a
restarted server or another replica continues exactly where the last evaluation stopped. The
state is saved *before* a webhook is sent: a crash mid-delivery may lose a notification but never
sends one twice. Keys of one service that start firing together share one webhook
(:mod:`llmtrace_server.alerts.payloads`).
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from llmtrace.store import Store
from llmtrace.store.queries import alerts as q
from llmtrace_server.alerts import payloads
from llmtrace_server.alerts import state as sm
from llmtrace_server.alerts.delivery import Deliver, record_delivery
from llmtrace_server.alerts.evaluators import Observation, observe
from llmtrace_server.alerts.notify import post_webhook
from llmtrace_server.alerts.rules import effective_params
from llmtrace_server.alerts.webhook_policy import WebhookPolicy

log = logging.getLogger("llmtrace.alerts")
LEASE_NAME = "alert-evaluator"


def evaluate(
    store: Store,
    now: datetime | None = None,
    *,
    project: str | None = None,
    link_base: str | None = None,
    webhook_attempts: int = 3,
    webhook_backoff_s: float = 0.5,
    policy: WebhookPolicy | None = None,
    deliver: Deliver | None = None,
) -> dict[str, Any]:
    """Evaluate the rules of ``project`` (every project when None) at ``now`` (default: the clock).

    Returns what happened: rules evaluated, errors per rule, and the events produced. Each
    notification goes to ``deliver`` (the server's :class:`~llmtrace_server.alerts.delivery.
    WebhookDispatcher`, which sends it off this path); without one it is sent here, in turn, under
    ``policy`` (default: public addresses only). One rule failing, in observing, stepping or
    delivering, never stops the others.
    """
    if deliver is None:
        deliver = _send_now(store, policy or WebhookPolicy(), webhook_attempts, webhook_backoff_s)
    now = now or datetime.now(UTC)
    now = now if now.tzinfo else now.replace(tzinfo=UTC)
    base = (link_base or os.environ.get("LLMTRACE_PUBLIC_URL") or "http://127.0.0.1:7878/").rstrip("/")
    events: list[dict[str, Any]] = []
    errors: list[dict[str, str]] = []
    rules = in_turns(q.list_rules(store, project))
    for rule in rules:
        try:
            params = effective_params(rule["type"], rule["params"])
            observations = observe(store, rule, params, now)
            events += _step_rule(store, rule, params, observations, now, base, deliver)
        except Exception as exc:  # one broken rule must not stop the others
            log.warning("alert rule %s failed: %s", rule["id"], exc)
            errors.append({"rule_id": rule["id"], "error": str(exc)[:300]})
    return {"now": now.isoformat(), "rules": len(rules), "errors": errors, "events": events}


def in_turns(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rules with the projects taking turns: each project's first, then each one's second, ...

    A pass evaluates one rule after another (7 ms each on a small store); listed by project, a
    project with thousands of rules delayed every later project's alerts by as many times that.
    """
    by_project: dict[str, list[dict[str, Any]]] = {}
    for rule in rules:
        by_project.setdefault(rule["project"], []).append(rule)
    queues = list(by_project.values())
    return [queue[i] for i in range(max(map(len, queues), default=0)) for queue in queues if i < len(queue)]


def _step_rule(
    store: Store,
    rule: Mapping[str, Any],
    params: Mapping[str, Any],
    observations: Mapping[str, Observation],
    now: datetime,
    base: str,
    deliver: Deliver,
) -> list[dict[str, Any]]:
    states = q.load_states(store, rule["id"])
    keys = set(observations) | {k for k, s in states.items() if s["state"] != sm.OK}
    changed, actions = [], []
    for key in sorted(keys):
        obs = observations.get(key) or Observation(
            key, False, True, 0.0, None, {"note": "no traffic in the window"}
        )
        prev = states.get(key) or sm.initial(rule["id"], key)
        new, action = sm.step(
            prev, breach=obs.breach, below_resolve=obs.below_resolve, value=obs.value, now=now, params=params
        )
        if key in states or new["state"] != sm.OK or new["resolved_at"] is not None:
            changed.append(new)
        if action:
            actions.append((obs, action))
    q.save_states(store, changed)
    items = [(obs, _event(rule, obs, action, now)) for obs, action in actions]
    for _, event in items:
        q.save_event(store, event)
    if rule["webhook_url"]:
        for group in payloads.notification_groups(items):
            deliver(rule["webhook_url"], payloads.build(rule, group, base), [event for _, event in group])
    return [
        {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in event.items()} for _, event in items
    ]


def _send_now(store: Store, policy: WebhookPolicy, attempts: int, backoff_s: float) -> Deliver:
    """A :data:`Deliver` that posts in the calling thread (one-off evaluations without a server)."""

    def deliver(url: str, payload: Mapping[str, Any], events: list[dict[str, Any]]) -> None:
        delivery = post_webhook(url, payload, policy=policy, attempts=attempts, backoff_s=backoff_s)
        record_delivery(store, events, delivery)

    return deliver


def _event(rule: Mapping[str, Any], obs: Observation, action: str, now: datetime) -> dict[str, Any]:
    """The event row of one key's notification (saved undelivered, then with the outcome)."""
    return {
        "project": rule["project"],
        "id": uuid.uuid4().hex,
        "rule_id": rule["id"],
        "rule_name": rule["name"],
        "rule_type": rule["type"],
        "key": obs.key,
        "state": "resolved" if action == sm.RESOLVE else "firing",
        "repeat": 1 if action == sm.RENOTIFY else 0,
        "ts": now,
        "values": obs.values,
        "baseline": obs.baseline,
        "delivered": 0,
        "attempts": 0,
        "error": "" if rule["webhook_url"] else "no webhook_url",
    }


def acquire_lease(store: Store, holder: str, ttl: timedelta, *, settle_s: float = 0.2) -> bool:
    """Try to hold the evaluator lease; True when ``holder`` may evaluate now.

    The holder renews its lease each pass; another replica takes over only after it expires.
    Two replicas claiming at the same moment both write, wait ``settle_s`` and re-read: the
    store keeps one row (the later write), so exactly one of them sees itself as the holder.
    """
    now = datetime.now(UTC)
    current = q.lease_holder(store, LEASE_NAME)
    if current is not None and current[0] != holder and current[1] > now:
        return False
    q.write_lease(store, LEASE_NAME, holder, now + ttl)
    if settle_s:
        time.sleep(settle_s)
    current = q.lease_holder(store, LEASE_NAME)
    return current is not None and current[0] == holder
