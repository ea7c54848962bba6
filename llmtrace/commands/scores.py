"""``llmtrace scores``: quality — each score's mean and pass rate per group, from a running server.

The numbers are the server's (``GET /api/v1/scores/trends``): the window's totals per score name
and group, with the pass rate's 95% Wilson interval; ``--series`` adds one row per bucket.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from llmtrace.commands._api import add_connection_args, call, filter_args, filters, rounded, run, table
from llmtrace.commands._time import add_time_args

GROUPS = ("prompt_version", "model", "service")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "scores", help="quality: each score's mean and pass rate per prompt version, model or service"
    )
    parser.add_argument("name", nargs="?", help="a score name (default: every score)")
    add_time_args(
        parser,
        "since",
        "until",
        what=lambda n: {"since": "from (default: 7d)", "until": "to (default: now)"}[n],
    )
    parser.add_argument(
        "--group-by",
        type=_columns,
        default=[],
        metavar="COLUMNS",
        help=f"comma-separated, any of {', '.join(GROUPS)}",
    )
    parser.add_argument(
        "--interval",
        choices=("1h", "6h", "1d", "7d"),
        default="1d",
        help="bucket size (default: %(default)s)",
    )
    parser.add_argument(
        "--pass-threshold",
        type=float,
        default=0.5,
        help="a score without a label passes at this value or above (default: %(default)s)",
    )
    parser.add_argument("--series", action="store_true", help="also one row per bucket")
    filter_args(parser)
    add_connection_args(parser)
    parser.set_defaults(func=lambda args: run(args, _scores))


def _scores(args: argparse.Namespace) -> int:
    groups = args.group_by
    query = {
        "name": args.name,
        "since": args.since,
        "until": args.until,
        "interval": args.interval,
        "group_by": groups or None,
        "pass_threshold": args.pass_threshold,
        **filters(args),
    }
    result = call(args, "GET", "/api/v1/scores/trends", query=query)
    if args.json:
        print(json.dumps(rounded(result), indent=2))
        return 0
    series = result["series"]
    print(
        f"{result['since'][:16]} .. {result['until'][:16]} UTC; pass: a pass label, else value >= {args.pass_threshold}"
    )
    if not series:
        print("no scores in this window" + (f" named {args.name!r}" if args.name else ""))
        return 0
    header = ["score", *groups, "n", "mean", "pass rate", "95% CI"]
    print(table([[s["name"], *_groups(s, groups), *_quality(s["totals"])] for s in series], header))
    if args.series:
        rows = [
            [s["name"], *_groups(s, groups), p["t"][:16], *_quality(p)] for s in series for p in s["points"]
        ]
        print()
        print(table(rows, ["score", *groups, "bucket (UTC)", *header[-4:]]))
    return 0


def _columns(text: str) -> list[str]:
    """argparse ``type=`` of ``--group-by``: the names, each one the API groups by."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    for name in names:
        if name not in GROUPS:
            raise argparse.ArgumentTypeError(f"cannot group by {name!r}; use {', '.join(GROUPS)}")
    return names


def _groups(series: dict[str, Any], groups: list[str]) -> list[str]:
    return [series["group"].get(g, "") for g in groups]


def _quality(q: dict[str, Any]) -> list[Any]:
    lo, hi = q["pass_rate_ci_95"]
    return [q["count"], round(q["mean"], 4), round(q["pass_rate"], 4), f"[{lo:.3f}, {hi:.3f}]"]
