"""``llmtrace drift``: drift of one feature (or a report of every feature) from a running server."""

from __future__ import annotations

import argparse
import json
from typing import Any

from llmtrace.commands._api import add_connection_args, call, filter_args, filters, fmt, run, table
from llmtrace.commands._time import add_time_args


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("drift", help="is traffic drifting? (PSI, JS, KS vs a reference window)")
    parser.add_argument(
        "feature", nargs="?", help="e.g. latency_ms, model, score:quality; omit for a full report"
    )
    add_time_args(
        parser,
        "current-since",
        "current-until",
        "reference-since",
        "reference-until",
        what=lambda name: {
            "current-since": "start of the current window (default: 24h ago)",
            "current-until": "end of the current window (default: now)",
            "reference-since": "start of the reference window (default: 7 days before the current one)",
            "reference-until": "end of the reference window (default: the current window's start)",
        }[name],
    )
    parser.add_argument("--segment-by", help="report only: the top segments of this dimension")
    filter_args(parser)
    add_connection_args(parser)
    parser.set_defaults(func=lambda args: run(args, _drift))


def _drift(args: argparse.Namespace) -> int:
    query = {
        "current_since": args.current_since,
        "current_until": args.current_until,
        "reference_since": args.reference_since,
        "reference_until": args.reference_until,
        **filters(args),
    }
    if args.feature:
        result = call(args, "GET", "/api/v1/drift", query={**query, "feature": args.feature})
        print(json.dumps(result, indent=2) if args.json else _feature_text(result))
        return 0
    report = call(args, "GET", "/api/v1/drift/report", query={**query, "segment_by": args.segment_by})
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    for summary in report.get("summary", []):
        if summary["verdict"] == "drift":
            print(summary["text"])
    if any(s["verdict"] == "drift" for s in report.get("summary", [])):
        print()
    rows = [
        [
            json.dumps(s["segment"]) if s["segment"] else "(all)",
            f["feature"],
            f["n_reference"],
            f["n_current"],
            f.get("psi"),
            f.get("js"),
            f.get("p_value_adjusted"),
            f["verdict"],
        ]
        for s in report["segments"]
        for f in s["features"]
    ]
    print(table(rows, ["segment", "feature", "n_ref", "n_cur", "psi", "js", "p_adj", "verdict"]))
    print(
        f"\nverdict: {report['verdict']} (Benjamini-Hochberg across {report['multiple_testing']['tests']} tests)"
    )
    return 0


def _feature_text(r: dict[str, Any]) -> str:
    th = r["thresholds"]
    lines = [f"{r['feature']}: {r['verdict']}  (n_ref={r['n_reference']}, n_cur={r['n_current']})"]
    if r["verdict"] == "insufficient_data":
        missing = [
            f"the {side} window has {n} calls, needs {need}"
            for side, n, need in (
                ("current", r["n_current"], th["min_n_current"]),
                ("reference", r["n_reference"], th["min_n_reference"]),
            )
            if n < need
        ]
        lines.append("not enough data: " + "; ".join(missing) + " (widen the windows or drop a filter)")
    if r.get("js") is not None:
        ks = r.get("ks") or {}
        chi = r.get("chi_square") or {}
        stats = [("PSI", r.get("psi")), ("JS", r.get("js"))]
        if ks:
            stats += [("KS D", ks["statistic"]), ("KS p", ks["p_value"])]
        stats += [("chi2", chi.get("statistic")), ("chi2 p", chi.get("p_value")), ("Linf", r.get("l_inf"))]
        lines.append("  ".join(f"{name}={fmt(value)}" for name, value in stats if value is not None))
        limits = [(n, th.get(k)) for n, k in (("JS", "js"), ("PSI", "psi"), ("Linf", "l_inf"))]
        effect = " or ".join(f"{n} >= {fmt(v)}" for n, v in limits if v is not None)
        lines.append(f"drift when {effect}, and chi-square p < {fmt(th['alpha'])}")
    head = "\n".join(lines) + "\n"
    if r["kind"] == "numeric":
        rows = [
            [f"[{b['low']:.4g}, {b['high']:.4g})", b["reference_share"], b["current_share"]]
            for b in r["bins"]
        ]
        return head + table(rows, ["bin", "reference", "current"]) if rows else head.rstrip()
    rows = [[c["value"] or "(empty)", c["reference_share"], c["current_share"]] for c in r["categories"]]
    return head + table(rows, ["category", "reference", "current"]) if rows else head.rstrip()
