"""``llmtrace serve``: the ingest + query server (FastAPI under uvicorn) on a store.

On the embedded store it runs ONE worker process: chDB allows one process per data directory.
"""

from __future__ import annotations

import argparse
import socket
import sys


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "serve",
        help="run the OTLP ingest and query API server",
        description="Serve OTLP/HTTP ingest at /v1/traces, the query API at /api/v1 (docs at /docs) and the web UI at /. "
        "Migrations are applied at start.",
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
    parser.add_argument("--host", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default 7878)")
    parser.add_argument(
        "--api-key",
        dest="api_keys",
        action="append",
        metavar="KEY[:PROJECT]",
        help="require 'Authorization: Bearer KEY'; its data goes to PROJECT (default 'default'). "
        "Repeatable; also LLMTRACE_API_KEYS=k1:p1,k2:p2",
    )
    parser.add_argument(
        "--insecure", action="store_true", default=None, help="allow a non-loopback --host without API keys"
    )
    parser.add_argument(
        "--decode-workers",
        type=int,
        metavar="N",
        help="processes that decode OTLP bodies (default: one per two CPUs, at most 4, when there are "
        "two or more; 0 decodes in threads of the server process)",
    )
    parser.add_argument(
        "--no-alerts",
        dest="evaluate_alerts",
        action="store_false",
        default=None,
        help="do not evaluate alert rules in this process (other replicas or `llmtrace alerts check` do)",
    )
    parser.add_argument(
        "--alerts-interval",
        dest="alerts_interval_seconds",
        type=float,
        metavar="SECONDS",
        help="seconds between alert evaluations (default 60)",
    )
    parser.add_argument(
        "--body-read-timeout",
        dest="body_read_timeout_seconds",
        type=float,
        metavar="SECONDS",
        help="a request body not received within this time gets 408 (default 30)",
    )
    parser.add_argument(
        "--max-span-age-days",
        type=int,
        metavar="DAYS",
        help="reject spans that started longer ago (default: the store's span retention; 0: no limit)",
    )
    parser.add_argument(
        "--allow-webhook-host",
        dest="allow_webhook_hosts",
        action="append",
        metavar="HOST",
        help="let alert webhooks reach HOST although it is a loopback, private or link-local address "
        "(refused by default). Repeatable; also LLMTRACE_ALLOW_WEBHOOK_HOSTS=h1,h2",
    )
    parser.add_argument(
        "--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"]
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn
    from pydantic import ValidationError

    from llmtrace.store import StoreError, open_store
    from llmtrace_server.app import create_app
    from llmtrace_server.settings import Settings

    names = (
        "store",
        "database",
        "host",
        "port",
        "api_keys",
        "insecure",
        "decode_workers",
        "evaluate_alerts",
        "alerts_interval_seconds",
        "body_read_timeout_seconds",
        "max_span_age_days",
        "allow_webhook_hosts",
    )
    given = {k: getattr(args, k) for k in names}
    try:
        # Only what was given on the command line: the rest comes from LLMTRACE_* or defaults.
        settings = Settings(**{k: v for k, v in given.items() if v is not None})
    except ValidationError as exc:
        print(f"llmtrace serve: {_first_error(exc)}", file=sys.stderr)
        return 2
    # The port first: a busy port must not leave a freshly created and migrated store behind.
    try:
        listener = _listen(settings.host, settings.port)
    except OSError as exc:
        print(
            f"llmtrace serve: cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc} "
            "(is another server running there? choose another --port)",
            file=sys.stderr,
        )
        return 1
    try:
        store = open_store(settings.store, settings.database)
    except StoreError as exc:
        listener.close()
        print(f"llmtrace serve: {exc}", file=sys.stderr)
        return 1
    print(
        f"llmtrace serve: store {store.masked_dsn} (database {store.database}); "
        f"UI http://{settings.host}:{settings.port}/ (API docs at /docs)",
        file=sys.stderr,
    )
    # workers=1: the embedded store can only be open in one process (and the app is async anyway).
    config = uvicorn.Config(
        create_app(settings, store=store),
        host=settings.host,
        port=settings.port,
        workers=1,
        log_level=args.log_level,
        access_log=False,
        timeout_graceful_shutdown=10,
    )
    uvicorn.Server(config).run(sockets=[listener])
    return 0


def _listen(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` (as uvicorn binds: SO_REUSEADDR); OSError when taken."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    return sock


def _first_error(exc: object) -> str:
    errors = exc.errors()  # type: ignore[attr-defined]
    if not errors:
        return str(exc)
    message = str(errors[0].get("msg", exc))
    return message.removeprefix("Value error, ")
