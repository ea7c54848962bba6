"""Plain-text rendering of the server's answers for the demo's summary (pure functions of JSON).

Every number printed comes from the server's HTTP API response it is given; nothing here
computes a statistic of its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], right_from: int = 1) -> list[str]:
    """A fixed-width text table; columns from ``right_from`` on are right-aligned."""
    cells = [[str(h) for h in headers]] + [[_cell(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        return "  ".join(
            c.rjust(w) if i >= right_from else c.ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()

    return [line(cells[0]), line(["-" * w for w in widths])] + [line(r) for r in cells[1:]]


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if value == 0:
            return "0"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 1:
            return f"{value:.2f}"
        return f"{value:.4f}" if abs(value) >= 0.001 else f"{value:.2e}"
    return str(value)


def metrics_table(response: Mapping[str, Any]) -> list[str]:
    """Each series' totals of ``GET /api/v1/metrics`` (latency quantiles: the window's own)."""
    rows = []
    for series in response.get("series", []):
        totals = series["totals"]
        calls = totals["calls"]
        if not calls:
            continue
        group = series["group"]
        cost = totals["cost_usd"]
        rows.append(
            (
                group.get("model", ""),
                group.get("prompt", ""),
                group.get("prompt_version", ""),
                calls,
                f"{100.0 * totals['errors'] / calls:.1f}%",
                round(totals["input_tokens"] / calls),
                round(totals["output_tokens"] / calls),
                totals["latency_p50_ms"],
                totals["latency_p95_ms"],
                f"${cost:,.2f}",
                f"${cost / calls:.5f}",
            )
        )
    rows.sort(key=lambda r: (str(r[0]), str(r[1]), str(r[2])))
    headers = (
        "model",
        "prompt",
        "version",
        "calls",
        "errors",
        "in tok/call",
        "out tok/call",
        "p50 ms",
        "p95 ms",
        "cost",
        "cost/call",
    )
    return table(headers, rows, right_from=3)


def drift_report(response: Mapping[str, Any]) -> list[str]:
    """The drifted features of ``GET /api/v1/drift/report``, and a count of the rest."""
    windows = response.get("windows", {})
    lines = [
        f"current {windows.get('current_since', '?')[:16]} .. {windows.get('current_until', '?')[:16]}  vs  "
        f"reference {windows.get('reference_since', '?')[:16]} .. {windows.get('reference_until', '?')[:16]}",
        f"overall verdict: {response.get('verdict')}  "
        f"({response.get('multiple_testing', {}).get('tests', '?')} tests, Benjamini-Hochberg q = "
        f"{response.get('multiple_testing', {}).get('q', '?')})",
    ]
    summaries = [s for s in response.get("summary", []) if s.get("verdict") == "drift"]
    lines += ["what changed, largest first (drifted features that move with a change are listed under it):"]
    lines += [f"  {s['text']}" for s in summaries] or ["  nothing drifted"]
    rows = []
    quiet: dict[str, int] = {}
    for segment in response.get("segments", []):
        name = ",".join(f"{k}={v}" for k, v in segment["segment"].items()) or "all"
        for feature in segment["features"]:
            if feature["verdict"] != "drift":
                quiet[feature["verdict"]] = quiet.get(feature["verdict"], 0) + 1
                continue
            ks = feature.get("ks") or {}
            rows.append(
                (
                    name,
                    feature["feature"],
                    feature["n_reference"],
                    feature["n_current"],
                    feature.get("psi"),
                    feature.get("js"),
                    ks.get("statistic", feature.get("l_inf")),
                    feature.get("p_value_adjusted"),
                    feature["verdict"],
                )
            )
    lines += table(
        ("segment", "feature", "n ref", "n cur", "PSI", "JS", "KS D / L-inf", "p (BH)", "verdict"),
        rows,
        right_from=2,
    )
    if quiet:
        lines.append("other features: " + ", ".join(f"{n} {v}" for v, n in sorted(quiet.items())))
    for segment in response.get("segments", []):
        steady = [f["feature"] for f in segment["features"] if f["verdict"] == "no_drift"]
        if steady:
            name = ",".join(f"{k}={v}" for k, v in segment["segment"].items()) or "all"
            lines.append(f"  no_drift  {name}: {', '.join(steady)}")
    return lines


def regression_report(response: Mapping[str, Any]) -> list[str]:
    """Every metric of ``GET /api/v1/regressions`` with its verdict, and the overall verdict."""
    cohorts = response.get("cohorts", {})
    a, b = cohorts.get("a", {}), cohorts.get("b", {})
    lines = [
        f"{cohorts.get('dimension')} {a.get('value')} (n={a.get('n')}) -> {b.get('value')} (n={b.get('n')}); "
        f"overall verdict: {str(response.get('verdict')).upper()}"
    ]
    rows = []
    for m in response.get("metrics", []):
        ci = m.get("ci_95")
        effect = m.get("effect")
        shown = (
            None
            if effect is None
            else (f"x{effect:.3f}" if m["effect_kind"].startswith("ratio") else f"{effect:+.4f}")
        )
        rows.append(
            (
                m["metric"],
                m.get("a"),
                m.get("b"),
                shown,
                None if not ci else f"[{ci[0]:.3f}, {ci[1]:.3f}]",
                m.get("p_value_adjusted"),
                f"{m.get('n_a')}/{m.get('n_b')}",
                m["verdict"] + (f" (needs ~{m['needed_n']} more)" if m.get("needed_n") else ""),
            )
        )
    lines += table(
        (
            "metric",
            "v" + str(a.get("value")),
            "v" + str(b.get("value")),
            "effect",
            "95% CI",
            "p (BH)",
            "n",
            "verdict",
        ),
        rows,
    )
    for note in response.get("confounders") or []:
        lines.append(f"note: {note}")
    return lines


def alert_events(events: Sequence[Mapping[str, Any]]) -> list[str]:
    """One line per event of ``GET /api/v1/alerts/events``, newest first as served."""
    if not events:
        return ["no alert events"]
    lines = []
    for event in events:
        values = event.get("values") or {}
        shown = ", ".join(f"{k}={_cell(v)}" for k, v in values.items() if not isinstance(v, dict | list))
        rule = event.get("rule_name") or event.get("rule") or event.get("rule_id")
        lines.append(f"[{str(event.get('state')).upper()}] {rule}  key: {event.get('key')}  {shown}")
    return lines
