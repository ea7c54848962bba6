"""Turn one rule into observations per key: the value, its baseline, breach and resolve flags."""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from llmtrace.store import Store
from llmtrace.store.queries import alerts as q


@dataclass(frozen=True, slots=True)
class Observation:
    key: str
    breach: bool
    below_resolve: bool
    value: float | None
    baseline: float | None = None
    values: dict[str, Any] = field(default_factory=dict)
    summary: str = ""


def key_text(parts: Mapping[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in parts.items()) or "*"


def observe(
    store: Store, rule: Mapping[str, Any], params: Mapping[str, Any], now: datetime
) -> dict[str, Observation]:
    kind = rule["type"]
    if kind == "cost_spike":
        return _cost_spike(store, rule, params, now)
    if kind == "budget":
        return _budget(store, rule, params, now)
    return _threshold(store, rule, params, now)


def _cost_spike(
    store: Store, rule: Mapping[str, Any], p: Mapping[str, Any], now: datetime
) -> dict[str, Observation]:
    """A1: window cost vs the median of the same window on previous days (robust z, ratio, floors)."""
    window = timedelta(minutes=p["window_minutes"])
    data = q.cost_windows(store, rule["project"], rule["filters"], now, window, int(p["baseline_days"]))
    out = {}
    for (service, model, prompt), days in data.items():
        key = key_text({"service": service, "model": model, "prompt": prompt})
        cost, calls = days.get(0, (0.0, 0))
        history = [days[d][0] if d in days else 0.0 for d in range(1, int(p["baseline_days"]) + 1)]
        seen = sum(1 for d in range(1, int(p["baseline_days"]) + 1) if d in days)
        values: dict[str, Any] = {
            "cost_usd": cost,
            "calls": calls,
            "window_minutes": p["window_minutes"],
            "history_usd": history,
        }
        if seen < p["min_history_days"]:
            out[key] = Observation(key, False, True, cost, None, {**values, "note": "not enough history"}, "")
            continue
        med = statistics.median(history)
        mad = statistics.median(abs(h - med) for h in history)
        robust_z = 0.6745 * (cost - med) / mad if mad > 0 else None
        ratio = cost / med if med > 0 else (math.inf if cost > 0 else 1.0)
        breach = (
            calls >= p["min_calls"]
            and cost - med >= p["min_excess_usd"]
            and cost >= p["ratio"] * med
            and (robust_z is None or robust_z > p["robust_z"])
        )
        values.update(
            baseline_usd=med, mad_usd=mad, ratio=None if math.isinf(ratio) else ratio, robust_z=robust_z
        )
        summary = (
            f"${cost:,.2f} in the last {p['window_minutes']} min, "
            f"{'∞' if math.isinf(ratio) else f'{ratio:.1f}'}× the usual ${med:,.2f} ({calls} calls)"
        )
        out[key] = Observation(key, breach, cost < p["resolve_ratio"] * med, cost, med, values, summary)
    return out


def _budget(
    store: Store, rule: Mapping[str, Any], p: Mapping[str, Any], now: datetime
) -> dict[str, Observation]:
    """A3: today's spend plus the day's remainder at today's average rate, vs the daily budget."""
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    elapsed = max((now - midnight).total_seconds(), 1.0)
    remaining = 86400.0 - elapsed
    budget = float(p["daily_budget_usd"])
    out = {}
    for group, spent in q.spend_today(store, rule["project"], rule["filters"], now, p["group_by"]):
        key = key_text({p["group_by"]: group}) if p["group_by"] else "*"
        projected = spent + spent / max(elapsed, 3600.0) * remaining
        values = {"spent_usd": spent, "projected_usd": projected, "daily_budget_usd": budget}
        summary = f"projected ${projected:,.2f} today (spent ${spent:,.2f}) vs budget ${budget:,.2f}"
        out[key] = Observation(
            key,
            projected >= p["fire_fraction"] * budget,
            projected < p["resolve_fraction"] * budget,
            projected,
            budget,
            values,
            summary,
        )
    return out


def _threshold(
    store: Store, rule: Mapping[str, Any], p: Mapping[str, Any], now: datetime
) -> dict[str, Observation]:
    """Any metric of /api/v1/metrics over the window vs a value (and a resolve value)."""
    window = timedelta(minutes=p["window_minutes"])
    rows = q.window_metric(store, rule["project"], rule["filters"], now, window, p["metric"], p["group_by"])
    value = float(p["value"])
    resolve = float(p["resolve_value"]) if p["resolve_value"] is not None else value
    above = p["operator"] == ">"
    out = {}
    for group, v, n in rows:
        key = key_text({p["group_by"]: group}) if p["group_by"] else "*"
        values = {p["metric"]: v, "calls": n, "window_minutes": p["window_minutes"]}
        if v is None or n < p["min_calls"]:
            out[key] = Observation(key, False, True, v, value, values, "")
            continue
        breach = v > value if above else v < value
        below = v <= resolve if above else v >= resolve
        summary = f"{p['metric']} = {v:.4g} over {p['window_minutes']} min ({n} calls), threshold {p['operator']} {value:g}"
        out[key] = Observation(key, breach, below, v, value, values, summary)
    return out
