"""``llmtrace migrate``: create or upgrade the schema of a store (or print the DDL)."""

from __future__ import annotations

import argparse
import sys

from llmtrace.store.migrate import DEFAULT_ROLLUP_TTL_DAYS, DEFAULT_SPAN_TTL_DAYS


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "migrate",
        help="create or upgrade the ClickHouse schema",
        description="Apply pending schema migrations (a no-op when up to date). "
        "TTLs given here are also applied to existing tables; omitted ones are kept.",
    )
    parser.add_argument(
        "--store",
        metavar="DSN",
        help="chdb:///path or http(s)://user:pass@host:8123/db "
        "(default: $LLMTRACE_STORE, else chdb://~/.llmtrace/data)",
    )
    parser.add_argument(
        "--database", metavar="NAME", help="database name (default: the DSN's, else llmtrace)"
    )
    parser.add_argument(
        "--span-ttl-days",
        type=int,
        metavar="N",
        help=f"keep raw spans N days; 0 = forever (fresh install default: {DEFAULT_SPAN_TTL_DAYS})",
    )
    parser.add_argument(
        "--rollup-ttl-days",
        type=int,
        metavar="N",
        help=f"keep rollups N days; 0 = forever (fresh install default: {DEFAULT_ROLLUP_TTL_DAYS})",
    )
    parser.add_argument(
        "--cluster", metavar="NAME", help="create replicated + Distributed tables ON CLUSTER NAME"
    )
    parser.add_argument(
        "--print",
        dest="print_only",
        action="store_true",
        help="print the DDL of a fresh install instead of applying it (no store needed)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from llmtrace.store import open_store
    from llmtrace.store.dsn import DEFAULT_DATABASE, check_database_name, default_dsn, parse_dsn
    from llmtrace.store.migrate import render_ddl

    dsn = args.store or default_dsn()
    if args.print_only:
        database = check_database_name(args.database or parse_dsn(dsn).database or DEFAULT_DATABASE)
        statements = render_ddl(
            database,
            span_ttl_days=DEFAULT_SPAN_TTL_DAYS if args.span_ttl_days is None else args.span_ttl_days,
            rollup_ttl_days=DEFAULT_ROLLUP_TTL_DAYS if args.rollup_ttl_days is None else args.rollup_ttl_days,
            cluster=args.cluster,
        )
        sys.stdout.write("".join(f"{s};\n\n" for s in statements))
        return 0
    with open_store(dsn, args.database, cluster=args.cluster) as store:
        applied = store.migrate(span_ttl_days=args.span_ttl_days, rollup_ttl_days=args.rollup_ttl_days)
        where = f"{store.masked_dsn} (database {store.database})"
    if applied:
        print(f"applied {len(applied)} migration(s) to {where}: {', '.join(applied)}")
    else:
        print(f"{where} is up to date")
    return 0
