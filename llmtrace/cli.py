"""The ``llmtrace`` command: argparse front door; each subcommand lives in ``llmtrace.commands``.

A subcommand module exposes ``register(subparsers)``, which adds its parser and sets ``func`` (taking
the parsed args, returning an exit code). Modules that are absent are skipped; one whose optional
dependencies are not installed still shows up, and says which extra to install.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version

COMMANDS = ("migrate", "serve", "demo", "traces", "metrics", "scores", "drift", "compare", "alerts")

EXIT_USAGE = 2  # argparse's code for bad usage; also used for errors the user can fix


def _version() -> str:
    try:
        return version("llmtrace")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0+unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="llmtrace",
        description="Observability for LLM applications: trace store, server and analytics.",
    )
    parser.add_argument("--version", action="version", version=f"llmtrace {_version()}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for name in COMMANDS:
        module_name = f"llmtrace.commands.{name}"
        if importlib.util.find_spec(module_name) is None:
            continue
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            _register_missing(subparsers, name, exc)
            continue
        module.register(subparsers)
    return parser


def _register_missing(subparsers: argparse._SubParsersAction, name: str, exc: ImportError) -> None:  # type: ignore[type-arg]
    missing = exc.name or str(exc)
    sub = subparsers.add_parser(name, help=f"(needs: pip install 'llmtrace[server]'; {missing} is missing)")

    def explain(args: argparse.Namespace) -> int:
        print(
            f"llmtrace {name}: {missing} is not installed; run: pip install 'llmtrace[server]'",
            file=sys.stderr,
        )
        return EXIT_USAGE

    sub.set_defaults(func=explain)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``llmtrace`` console script."""
    from llmtrace.store.errors import StoreError

    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(func(args) or 0)
    except StoreError as exc:
        print(f"llmtrace: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
