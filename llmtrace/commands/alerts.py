"""``llmtrace alerts``: manage alert rules, run an evaluation now (cron), list events."""

from __future__ import annotations

import argparse
import json
from typing import Any

from llmtrace.commands._api import add_connection_args, call, rounded, run, table


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("alerts", help="alert rules, evaluation and events")
    sub = parser.add_subparsers(dest="alerts_command", required=True)

    rules = sub.add_parser("rules", help="list, create or delete rules")
    rules_sub = rules.add_subparsers(dest="rules_command", required=True)
    p = rules_sub.add_parser("list", help="list rules")
    add_connection_args(p)
    p.set_defaults(func=lambda a: run(a, _list))
    p = rules_sub.add_parser("create", help="create a rule")
    p.add_argument("--name", required=True)
    p.add_argument("--type", required=True, choices=["cost_spike", "budget", "threshold"])
    p.add_argument("--webhook-url")
    p.add_argument(
        "--filter", action="append", default=[], metavar="KEY=VALUE", help="service/model/prompt/environment"
    )
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="e.g. ratio=3 or daily_budget_usd=50",
    )
    add_connection_args(p)
    p.set_defaults(func=lambda a: run(a, _create))
    p = rules_sub.add_parser("delete", help="delete a rule")
    p.add_argument("rule_id")
    add_connection_args(p)
    p.set_defaults(func=lambda a: run(a, _delete))

    p = sub.add_parser("check", help="evaluate every rule now (for cron)")
    p.add_argument("--now", help="evaluate as of this ISO time (backfills, tests)")
    add_connection_args(p)
    p.set_defaults(func=lambda a: run(a, _check))

    p = sub.add_parser("events", help="list alert events")
    p.add_argument("--rule-id")
    p.add_argument("--state", choices=["firing", "resolved"])
    p.add_argument("--limit", type=int, default=50)
    add_connection_args(p)
    p.set_defaults(func=lambda a: run(a, _events))


def _pairs(items: list[str], parse_values: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"llmtrace: expected KEY=VALUE, got {item!r}")
        if parse_values:
            try:
                out[key] = json.loads(value)
            except ValueError:
                out[key] = value
        else:
            out[key] = value
    return out


def _list(args: argparse.Namespace) -> int:
    data = call(args, "GET", "/api/v1/alerts/rules")["data"]
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        rows = [
            [
                r["id"],
                r["name"],
                r["type"],
                json.dumps(r["filters"]),
                json.dumps(rounded(r["params"])),
                r["webhook_url"],
            ]
            for r in data
        ]
        print(table(rows, ["id", "name", "type", "filters", "params", "webhook"]))
    return 0


def _create(args: argparse.Namespace) -> int:
    body = {
        "name": args.name,
        "type": args.type,
        "webhook_url": args.webhook_url,
        "filters": _pairs(args.filter, False),
        "params": _pairs(args.param, True),
    }
    rule = call(args, "POST", "/api/v1/alerts/rules", body=body)
    print(
        json.dumps(rule, indent=2)
        if args.json
        else f"created rule {rule['id']} ({rule['name']}, {rule['type']})"
    )
    return 0


def _delete(args: argparse.Namespace) -> int:
    call(args, "DELETE", f"/api/v1/alerts/rules/{args.rule_id}")
    if not args.json:
        print(f"deleted rule {args.rule_id}")
    return 0


def _check(args: argparse.Namespace) -> int:
    result = call(args, "POST", "/api/v1/alerts/evaluate", body={"now": args.now})
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"evaluated {result['rules']} rules at {result['now']}: {len(result['events'])} notifications")
    for e in result["events"]:
        values = json.dumps(rounded(e.get("values") or {}))
        print(f"  {e['state']:8} {e['rule_name']}  {e['key']}  {values}  delivered={bool(e['delivered'])}")
    for err in result["errors"]:
        print(f"  error in rule {err['rule_id']}: {err['error']}")
    return 1 if result["errors"] else 0


def _events(args: argparse.Namespace) -> int:
    data = call(
        args,
        "GET",
        "/api/v1/alerts/events",
        query={"rule_id": args.rule_id, "state": args.state, "limit": args.limit},
    )["data"]
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        rows = [
            [
                e["ts"],
                e["state"],
                e["rule_name"],
                e["key"],
                json.dumps(rounded(e["values"]))[:60],
                e["delivered"],
            ]
            for e in data
        ]
        print(table(rows, ["time", "state", "rule", "key", "values", "delivered"]))
    return 0
