"""``llmtrace metrics``: calls, errors, tokens, cost and latency per group, from a running server.

The totals are the server's own (``GET /api/v1/metrics``' ``totals``: the window's quantiles,
not an average of the buckets'); ``--series`` adds one row per interval bucket.
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime, timedelta
from typing import Any

from llmtrace.commands._api import add_connection_args, call, filter_args, filters, rounded, run, table
from llmtrace.commands._time import add_time_args

INTERVALS = ("1m", "5m", "10m", "15m", "30m", "1h", "2h", "3h", "6h", "12h", "1d")
GROUPS = ("service", "model", "provider", "prompt", "prompt_version", "environment")
_SECONDS = {"m": 60, "h": 3600, "d": 86400}


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "metrics", help="calls, errors, tokens, cost and latency per model, prompt version, ..."
    )
    add_time_args(
        parser,
        "since",
        "until",
        what=lambda n: {"since": "from (default: 24h)", "until": "to (default: now)"}[n],
    )
    parser.add_argument(
        "--group-by",
        metavar="COLUMNS",
        help=f"comma-separated, any of {', '.join(GROUPS)} (default: one row for everything)",
    )
    parser.add_argument(
        "--interval",
        choices=INTERVALS,
        default="1h",
        help="bucket size; the window is widened to whole buckets (default: %(default)s)",
    )
    parser.add_argument("--series", action="store_true", help="also one row per bucket of each group")
    filter_args(parser)
    add_connection_args(parser)
    parser.set_defaults(func=lambda args: run(args, _metrics))


def _metrics(args: argparse.Namespace) -> int:
    groups = [g.strip() for g in (args.group_by or "").split(",") if g.strip()]
    query = {
        "since": args.since,
        "until": args.until,
        "interval": args.interval,
        "group_by": ",".join(groups) or None,
        **filters(args),
    }
    result = call(args, "GET", "/api/v1/metrics", query=query)
    if args.json:
        print(json.dumps(rounded(result), indent=2))
        return 0
    series = result["series"]
    print(_window(series, args.interval))
    print(table([_row(s["group"], groups, s["totals"]) for s in series], [*groups, *_COLUMNS]))
    if args.series:
        rows = [
            [*(s["group"].get(g, "") for g in groups), point["t"], *_measures(point)[:7]]
            for s in series
            for point in s["points"]
        ]
        print()
        print(table(rows, [*groups, "bucket (UTC)", *_COLUMNS[:7]]))
    return 0


_COLUMNS = (
    "calls",
    "errors",
    "error %",
    "cost $",
    "p50 ms",
    "p95 ms",
    "ttft p50 ms",
    "in tok/call",
    "out tok/call",
    "cost/call $",
)


def _row(group: dict[str, str], groups: list[str], totals: dict[str, Any]) -> list[Any]:
    return [*(group.get(g, "") for g in groups), *_measures(totals)]


def _measures(m: dict[str, Any]) -> list[Any]:
    calls = m["calls"]
    return [
        calls,
        m["errors"],
        None if m["error_rate"] is None else round(100 * m["error_rate"], 2),
        round(m["cost_usd"], 6),
        _ms(m["latency_p50_ms"]),
        _ms(m["latency_p95_ms"]),
        _ms(m["ttft_p50_ms"]),
        round(m["input_tokens"] / calls) if calls else None,
        round(m["output_tokens"] / calls) if calls else None,
        round(m["cost_usd"] / calls, 6) if calls else None,
    ]


def _ms(value: float | None) -> int | None:
    return None if value is None else round(value)


def _window(series: list[dict[str, Any]], interval: str) -> str:
    points = series[0]["points"] if series else []
    if not points:
        return "no buckets"
    step = timedelta(seconds=int(interval[:-1]) * _SECONDS[interval[-1]])
    end = datetime.fromisoformat(points[-1]["t"].replace("Z", "+00:00")) + step
    return (
        f"{points[0]['t'][:16]}Z .. {end.isoformat()[:16]}Z (whole {interval} buckets); "
        "latency and time to first token over the whole window"
    )
