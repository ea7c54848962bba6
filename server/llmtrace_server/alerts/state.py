"""The per-(rule, key) alert state machine: ok -> pending -> firing -> ok.

Flapping control (ANALYTICS.md §3.3): a key fires after ``pending_evaluations`` consecutive
breaches; once firing it resolves only after staying below the (lower) resolve threshold for
``keep_firing_minutes``; it re-notifies at most every ``renotify_hours``; after a resolve it
cannot fire again for ``refire_cooldown_minutes``. Pure: the engine loads and saves the state.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

OK, PENDING, FIRING = "ok", "pending", "firing"
FIRE, RESOLVE, RENOTIFY = "fire", "resolve", "renotify"


def initial(rule_id: str, key: str) -> dict[str, Any]:
    return {
        "rule_id": rule_id,
        "key": key,
        "state": OK,
        "breaches": 0,
        "since": None,
        "clear_since": None,
        "last_notified": None,
        "resolved_at": None,
        "last_value": None,
    }


def step(
    prev: Mapping[str, Any],
    *,
    breach: bool,
    below_resolve: bool,
    value: float | None,
    now: datetime,
    params: Mapping[str, Any],
) -> tuple[dict[str, Any], str | None]:
    """The next state and the notification to send (``fire``, ``resolve``, ``renotify`` or None)."""
    s = dict(prev)
    s["last_value"] = value
    keep = timedelta(minutes=params["keep_firing_minutes"])
    if s["state"] == FIRING:
        if below_resolve:
            s["clear_since"] = s["clear_since"] or now
            if now - s["clear_since"] >= keep:
                s.update(state=OK, breaches=0, since=None, clear_since=None, resolved_at=now)
                return s, RESOLVE
            return s, None
        s["clear_since"] = None
        last = s["last_notified"]
        if last is None or now - last >= timedelta(hours=params["renotify_hours"]):
            s["last_notified"] = now
            return s, RENOTIFY
        return s, None
    if not breach:
        s.update(state=OK, breaches=0, since=None)
        return s, None
    cooldown = timedelta(minutes=params["refire_cooldown_minutes"])
    if s["resolved_at"] is not None and now - s["resolved_at"] < cooldown:
        return s, None
    s["breaches"] = s["breaches"] + 1
    s["since"] = s["since"] or now
    if s["breaches"] >= params["pending_evaluations"]:
        s.update(state=FIRING, clear_since=None, last_notified=now)
        return s, FIRE
    s["state"] = PENDING
    return s, None
