"""``llmtrace demo``: the whole product in under a minute and a half, on this machine only.

Starts ``llmtrace serve`` on an embedded store (a temporary directory unless ``--store``), a fake
OpenAI/Anthropic provider on 127.0.0.1, and a simulated service using the real SDK clients; then
prints metrics, drift, the prompt v1 -> v2 regression report and the fired cost alert. The
server keeps running for you to explore (Ctrl-C stops it) unless ``--no-serve``.
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "demo",
        help="run a one-minute demo: fake provider, real SDK clients, server, analytics",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--store", metavar="DSN", help="store DSN (default: an embedded store in a temporary directory)"
    )
    parser.add_argument("--port", type=int, default=0, help="server port (default: a free one)")
    parser.add_argument(
        "--no-serve", action="store_true", help="exit after printing instead of keeping the server up"
    )
    parser.add_argument("--seed", type=int, default=7, help="random seed of the story (default 7)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    started = time.monotonic()

    def say(text: str) -> None:
        print(f"[{time.monotonic() - started:5.1f}s] {text}", flush=True)

    # The first line before any heavy import: on a busy machine the SDK imports alone take seconds.
    say("llmtrace demo: takes about 40-80 s on 2 cores (more on a busy machine); progress below")
    missing = [name for name in ("openai", "anthropic") if importlib.util.find_spec(name) is None]
    if missing:
        print(
            f"llmtrace demo needs the openai and anthropic SDKs: pip install 'llmtrace[demo]' "
            f"(missing: {', '.join(missing)})",
            file=sys.stderr,
        )
        return 2
    from llmtrace.demo.server import ServerProcess, free_port

    workdir = Path(tempfile.mkdtemp(prefix="llmtrace-demo-"))
    store = args.store or f"chdb://{workdir / 'data'}"
    server = ServerProcess(store, args.port or free_port(), workdir / "server.log")
    try:
        server.launch()
        say(f"starting the server on {server.url} (store {store}); loading the provider SDKs meanwhile")
        import anthropic  # noqa: F401  (imported while the server boots in its own process)
        import openai  # noqa: F401

        from llmtrace.demo import story

        server.wait_ready()
        say("server ready")
        story.tell(server.url, seed=args.seed, started=started)
        story.show(server.url)
        print(f"\ndemo finished in {time.monotonic() - started:.1f} s", flush=True)
        if args.no_serve:
            if args.store:
                print(f"\nTo browse it: llmtrace serve --store {store}, then open http://127.0.0.1:7878/")
            return 0
        print(f"\nThe server keeps running. Open the UI: {server.url}/  (API docs: {server.url}/docs)")
        print("Press Ctrl-C to stop it.", flush=True)
        # SIGTERM (e.g. from a process manager) stops the server too, through the finally below.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        try:
            return server.wait()
        except KeyboardInterrupt:
            print("\nstopping", flush=True)
            return 0
    except RuntimeError as exc:
        print(f"llmtrace demo: {exc}", file=sys.stderr)
        return 1
    finally:
        server.stop()
        # The server's log (and a temporary store) live as long as the demo; errors quote the log.
        shutil.rmtree(workdir, ignore_errors=True)
