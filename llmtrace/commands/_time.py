"""Time flags of the CLI: ISO times and relative ones (``24h``, ``7d``, ``yesterday``), as ISO UTC."""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

TIME_HELP = (
    "an ISO time (2026-12-01, 2026-12-01T09:00Z; no zone means UTC) or a relative one: "
    "30m, 24h, 7d, 2w ago, now, today, yesterday (UTC midnights)"
)
_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)\s*(m|min|h|d|w)(?:\s+ago)?$")
_UNIT = {"m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_time(text: str, now: datetime | None = None) -> str:
    """``text`` as an ISO 8601 UTC time string; ValueError (with what is accepted) otherwise."""
    now = now or datetime.now(UTC)
    value = text.strip().lower()
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    named = {"now": now, "today": midnight, "yesterday": midnight - timedelta(days=1)}
    if value in named:
        return named[value].isoformat()
    match = _RELATIVE.match(value)
    if match:
        try:
            return (now - timedelta(seconds=float(match.group(1)) * _UNIT[match.group(2)])).isoformat()
        except OverflowError:  # before year 1: no store holds it
            raise ValueError(f"invalid time {text!r}: too far back") from None
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(f"invalid time {text!r}: use {TIME_HELP}") from None
    return (parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)).isoformat()


def time_arg(text: str) -> str:
    """argparse ``type=``: argparse reports the flag and this message on a bad value."""
    try:
        return parse_time(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_time_args(parser: argparse.ArgumentParser, *names: str, what: Callable[[str], str]) -> None:
    """``--<name>`` flags taking ISO or relative times."""
    for name in names:
        parser.add_argument(f"--{name}", type=time_arg, metavar="TIME", help=f"{what(name)}: {TIME_HELP}")
