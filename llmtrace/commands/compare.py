"""``llmtrace compare``: an A/B regression report between two cohorts, from a running server."""

from __future__ import annotations

import argparse
import json
import re
from typing import Any

from llmtrace.commands._api import ApiError, add_connection_args, call, filter_args, filters, run, table
from llmtrace.commands._time import add_time_args, parse_time


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("compare", help="compare two cohorts (prompt versions, models, windows)")
    parser.add_argument(
        "--dimension",
        choices=["prompt_version", "model", "provider", "environment"],
        help="what the cohorts differ in (default: prompt_version)",
    )
    parser.add_argument(
        "-a",
        "--a",
        dest="a",
        help="cohort A's value of --dimension, the baseline (default with prompt_version: of the busiest "
        "prompt, or --prompt, the second most recent version)",
    )
    parser.add_argument("-b", "--b", dest="b", help="cohort B's value (default: the most recent version)")
    add_time_args(
        parser,
        "since",
        "until",
        what=lambda n: {"since": "from (default: 7d)", "until": "to (default: now)"}[n],
    )
    add_time_args(
        parser,
        "a-since",
        "a-until",
        "b-since",
        "b-until",
        what=lambda n: f"compare two time windows instead of a dimension; {n.replace('-', ' ')}",
    )
    parser.add_argument(
        "--interim",
        action="store_true",
        help="a look before both cohorts reach the minimum n that you will repeat: judge at alpha 0.001",
    )
    filter_args(parser)
    add_connection_args(parser)
    parser.set_defaults(func=lambda args: run(args, _compare))


def _compare(args: argparse.Namespace) -> int:
    windows = [args.a_since, args.a_until, args.b_since, args.b_until]
    if any(windows):
        if not all(windows) or args.dimension or args.a or args.b:
            raise ApiError(
                "compare two windows with all of --a-since, --a-until, --b-since and --b-until "
                "(and no --dimension, -a, -b)"
            )
    else:
        args.dimension = args.dimension or "prompt_version"
        if not (args.a and args.b):
            if args.dimension != "prompt_version" or args.a or args.b:
                raise ApiError(
                    f"give both -a and -b: the two values of --dimension {args.dimension} to compare"
                )
            _default_versions(args)
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
    try:
        report = call(args, "GET", "/api/v1/regressions", query=query)
    except ApiError as exc:
        raise ApiError(in_flags(str(exc))) from None
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
            _needs(m),
        ]
        for m in report["metrics"]
    ]
    print(table(rows, ["metric", "A", "B", "effect", "95% CI", "p_adj", "n A/B", "verdict", "needs ~N more"]))
    for note in report.get("confounders", []):
        print(f"\nnote: {note['reason']}")
    horizon = report.get("horizon")
    if horizon and not horizon["reached"]:
        print(f"\nnote: {in_flags(horizon['note'])}")
    print(f"\nverdict: {report['verdict']}")
    return 2 if report["verdict"] == "regressed" else 0


def _ci(ci: list[float] | None) -> str:
    return "-" if not ci else f"[{ci[0]:.4g}, {ci[1]:.4g}]"


# API parameter names in the server's messages -> the flags a CLI user types.
_FLAGS = {
    "interim=true": "--interim",
    "a_since": "--a-since",
    "a_until": "--a-until",
    "b_since": "--b-since",
    "b_until": "--b-until",
    "dimension": "--dimension",
}


def in_flags(message: str) -> str:
    """``message`` with API parameter names replaced by the CLI flags that set them."""
    for name, flag in _FLAGS.items():
        message = re.sub(rf"(?<![\w-]){re.escape(name)}(?![\w=])", flag, message)
    return re.sub(r"\b(give [^,;]*?)\ba and b\b", r"\1-a and -b", message)


def _needs(metric: dict[str, Any]) -> str:
    """The "needs ~N more" cell: calls to add when underpowered, the minimum n when too few."""
    if metric["verdict"] != "inconclusive":
        return "-"
    if metric["reason"] == "insufficient_data":
        return f"n >= {metric['threshold']['min_n']} each"
    return f"~{metric['needed_n']:,}" if metric.get("needed_n") else "-"


def _default_versions(args: argparse.Namespace) -> None:
    """-a/-b: the two most recent versions (by first call) of --prompt, else of the busiest prompt."""
    query = {
        "interval": "1d",
        "group_by": "prompt,prompt_version",
        "since": args.since or parse_time("7d"),
        "until": args.until,
        **filters(args),
    }
    series = call(args, "GET", "/api/v1/metrics", query=query)["series"]
    calls: dict[str, int] = {}
    first_seen: dict[tuple[str, str], str] = {}
    for s in series:
        prompt, version = s["group"].get("prompt", ""), s["group"].get("prompt_version", "")
        busy = [p for p in s["points"] if p["calls"]]
        if not busy or not prompt or not version:
            continue
        calls[prompt] = calls.get(prompt, 0) + sum(p["calls"] for p in busy)
        first_seen[(prompt, version)] = min(p["t"] for p in busy)
    if not calls:
        raise ApiError("no calls with a prompt version in the window: give --dimension with -a and -b")
    prompt = args.prompt or max(calls, key=lambda p: (calls[p], p))
    versions = sorted((t, v) for (p, v), t in first_seen.items() if p == prompt)
    if len(versions) < 2:
        raise ApiError(
            f"prompt {prompt!r} has {len(versions)} version(s) in the window: give -a and -b, or --prompt"
        )
    args.prompt = prompt
    args.a, args.b = versions[-2][1], versions[-1][1]
    if not args.json:
        print(f"prompt {prompt}: version {args.a} -> {args.b} (its two most recent; -a/-b to choose)\n")
