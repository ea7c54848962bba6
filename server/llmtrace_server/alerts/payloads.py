"""Webhook bodies, and which events share one (ANALYTICS.md §3.3 item 6).

Keys are evaluated per (service, model, prompt), but people are paged per service: when several
keys of one service *start* firing in the same evaluation they go out as one notification that
lists them, largest value first. Resolves and re-notifications stay per key (they happen at
different times anyway). Each key still gets its own event in ``/api/v1/alerts/events``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

from llmtrace_server.alerts.evaluators import Observation

Item = tuple[Observation, dict[str, Any]]  # an observation and the event it produced
TEXT_KEYS = 5  # keys spelled out in a grouped notification's text; the rest are counted


def key_parts(key: str) -> dict[str, str]:
    """``"service=chat,model=gpt-4o"`` -> ``{"service": "chat", "model": "gpt-4o"}``."""
    return dict(part.split("=", 1) for part in key.split(",") if "=" in part)


def notification_groups(items: Sequence[Item]) -> list[list[Item]]:
    """Items in notification order: fresh firings grouped by service, everything else alone."""
    groups: dict[str, list[Item]] = {}
    out: list[list[Item]] = []
    for obs, event in items:
        service = key_parts(obs.key).get("service")
        if event["state"] == "firing" and not event["repeat"] and service is not None:
            if service not in groups:
                groups[service] = []
                out.append(groups[service])
            groups[service].append((obs, event))
        else:
            out.append([(obs, event)])
    return out


def build(rule: Mapping[str, Any], group: Sequence[Item], base: str) -> dict[str, Any]:
    """The body for one notification group (see :func:`notification_groups`)."""
    if len(group) == 1:
        return payload(rule, group[0][1], group[0][0], base)
    return group_payload(rule, group, base)


def payload(rule: Mapping[str, Any], event: Mapping[str, Any], obs: Observation, base: str) -> dict[str, Any]:
    """The body for one key; ``text`` makes it a valid Slack incoming-webhook message as is."""
    link = _link(rule, base)
    label = "RESOLVED" if event["state"] == "resolved" else ("STILL FIRING" if event["repeat"] else "FIRING")
    return {
        "rule": _rule(rule),
        "key": key_parts(obs.key) or {"*": "*"},
        "key_text": obs.key,
        "state": event["state"],
        "repeat": bool(event["repeat"]),
        "values": obs.values,
        "baseline": obs.baseline,
        "keys": [_key_entry(obs, event)],
        "at": _at(event["ts"]),
        "link": link,
        "text": f"[{label}] {rule['name']} ({rule['type']}) {obs.key}: {_detail(obs)} <{link}|details>",
    }


def group_payload(rule: Mapping[str, Any], group: Sequence[Item], base: str) -> dict[str, Any]:
    """One body for several keys of one service that started firing together.

    ``key`` is the shared service, ``keys`` the contributing keys (largest value first, each with
    its own values, baseline and event id) and ``values`` their count and summed value.
    """
    ranked = sorted(group, key=lambda item: -(item[0].value or 0.0))
    service = key_parts(ranked[0][0].key)["service"]
    baselines = [obs.baseline for obs, _ in ranked]
    link = _link(rule, base)
    listed = "; ".join(f"{obs.key}: {_detail(obs)}" for obs, _ in ranked[:TEXT_KEYS])
    more = f"; and {len(ranked) - TEXT_KEYS} more" if len(ranked) > TEXT_KEYS else ""
    return {
        "rule": _rule(rule),
        "key": {"service": service},
        "key_text": f"service={service}",
        "state": "firing",
        "repeat": False,
        "values": {"keys": len(ranked), "value_total": sum(obs.value or 0.0 for obs, _ in ranked)},
        "baseline": None if any(b is None for b in baselines) else sum(b for b in baselines if b is not None),
        "keys": [_key_entry(obs, event) for obs, event in ranked],
        "at": _at(ranked[0][1]["ts"]),
        "link": link,
        "text": (
            f"[FIRING] {rule['name']} ({rule['type']}) service={service}: {len(ranked)} keys firing: "
            f"{listed}{more} <{link}|details>"
        ),
    }


def _key_entry(obs: Observation, event: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "key": key_parts(obs.key) or {"*": "*"},
        "key_text": obs.key,
        "values": obs.values,
        "baseline": obs.baseline,
        "event_id": event["id"],
    }


def _rule(rule: Mapping[str, Any]) -> dict[str, Any]:
    return {"id": rule["id"], "name": rule["name"], "type": rule["type"]}


def _link(rule: Mapping[str, Any], base: str) -> str:
    return f"{base}/api/v1/alerts/events?rule_id={quote(rule['id'])}"


def _detail(obs: Observation) -> str:
    return obs.summary or ", ".join(f"{k}={v}" for k, v in obs.values.items())


def _at(ts: Any) -> Any:
    return ts.isoformat() if isinstance(ts, datetime) else ts
