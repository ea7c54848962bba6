"""``llmtrace compare``: an A/B regression report between two cohorts, from a running server."""

from __future__ import annotations

import argparse
import json
from typing import Any

from llmtrace.commands._api import add_connection_args, call, filter_args, filters, run, table


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("compare", help="compare two cohorts (prompt versions, models, windows)")
    parser.add_argument("--dimension", choices=["prompt_version", "model", "provider", "environment"])
    parser.add_argument("-a", "--a", dest="a", help="cohort A's value of --dimension (the baseline)")
    parser.add_argument("-b", "--b", dest="b", help="cohort B's value of --dimension")
    parser.add_argument("--since")
    parser.add_argument("--until")
    for name in ("a-since", "a-until", "b-since", "b-until"):
        parser.add_argument(f"--{name}", help="compare two time windows instead of a dimension")
    parser.add_argument(
        "--interim",
        action="store_true",
        help="a look before both cohorts reach the minimum n that you will repeat: judge at alpha 0.001",
    )
    filter_args(parser)
    add_connection_args(parser)
    parser.set_defaults(func=lambda args: run(args, _compare))


def _compare(args: argparse.Namespace) -> int:
    query = {
        "dimension": args.dimension,
        "a": args.a,
        "b": args.b,
        "since": args.since,
        "until": args.until,
        "a_since": args.a_since,
        "a_until": args.a_until,
        "b_since": args.b_since,
        "b_until": args.b_until,
        "interim": "true" if args.interim else None,
        **filters(args),
    }
    report = call(args, "GET", "/api/v1/regressions", query=query)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    rows = [
        [
            m["metric"],
            m["a"],
            m["b"],
            m["effect"],
            _ci(m["ci_95"]),
            m["p_value_adjusted"],
            f"{m['n_a']}/{m['n_b']}",
            m["verdict"],
            m["needed_n"],
        ]
        for m in report["metrics"]
    ]
    print(table(rows, ["metric", "A", "B", "effect", "95% CI", "p_adj", "n A/B", "verdict", "needs ~N more"]))
    for note in report.get("confounders", []):
        print(f"\nnote: {note['reason']}")
    horizon = report.get("horizon")
    if horizon and not horizon["reached"]:
        print(f"\nnote: {horizon['note']}")
    print(f"\nverdict: {report['verdict']}")
    return 2 if report["verdict"] == "regressed" else 0


def _ci(ci: list[float] | None) -> str:
    return "-" if not ci else f"[{ci[0]:.4g}, {ci[1]:.4g}]"
