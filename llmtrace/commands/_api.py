"""A tiny stdlib HTTP client for the CLI commands that talk to a running llmtrace server."""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any

DEFAULT_ENDPOINT = "http://127.0.0.1:7878"


class ApiError(Exception):
    """The server answered with an error, or could not be reached (message is printable)."""


def add_connection_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--endpoint",
        default=os.environ.get("LLMTRACE_ENDPOINT", DEFAULT_ENDPOINT),
        help="server URL (default: $LLMTRACE_ENDPOINT or %(default)s)",
    )
    parser.add_argument(
        "--api-key", default=os.environ.get("LLMTRACE_API_KEY"), help="API key (default: $LLMTRACE_API_KEY)"
    )
    parser.add_argument("--json", action="store_true", help="print the raw JSON response")


def call(
    args: argparse.Namespace,
    method: str,
    path: str,
    *,
    query: Mapping[str, Any] | None = None,
    body: Any = None,
) -> Any:
    """Send one request; return the decoded JSON (None for 204)."""
    params = {k: v for k, v in (query or {}).items() if v is not None}
    url = (
        args.endpoint.rstrip("/")
        + path
        + ("?" + urllib.parse.urlencode(params, doseq=True) if params else "")
    )
    headers = {"Accept": "application/json"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if args.api_key:
        headers["Authorization"] = f"Bearer {args.api_key}"
    try:
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
    except ValueError as exc:  # urllib's own check of the URL (e.g. "Invalid IPv6 URL")
        raise ApiError(f"invalid --endpoint {args.endpoint!r}: {exc}") from None
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            raw = response.read()
    except urllib.error.HTTPError as exc:
        text = exc.read().decode(errors="replace")
        try:
            detail = _said(json.loads(text).get("detail", text))
        except (ValueError, AttributeError):  # not the API's JSON: a page, a proxy's error
            detail = _not_json(text)
        raise ApiError(f"{method} {path}: HTTP {exc.code}: {detail}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise ApiError(
            f"cannot reach {args.endpoint}: {getattr(exc, 'reason', exc)} (is `llmtrace serve` running?)"
        ) from None
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        raise ApiError(
            f"{method} {path}: the reply is not JSON: {_not_json(raw.decode(errors='replace'))}"
        ) from None


def _said(detail: Any) -> Any:
    """The API's error ``detail`` as a line: a 422's list of problems as ``where: what; ...``."""
    if not isinstance(detail, list):
        return detail
    problems = []
    for problem in detail:
        if not isinstance(problem, dict):
            problems.append(str(problem))
            continue
        where = ".".join(str(part) for part in problem.get("loc", ())[1:])  # [0] is body/query
        what = str(problem.get("msg", problem)).removeprefix("Value error, ")
        problems.append(f"{where}: {what}" if where else what)
    return "; ".join(problems)


def _not_json(text: str) -> str:
    """A reply that is not the API's JSON, shortened to a line: an HTML page says where it came from."""
    if text.lstrip()[:15].lower().startswith(("<!doctype html", "<html")):
        return "an HTML page (is --endpoint the llmtrace server's address, without a path?)"
    line = " ".join(text.split())
    return line if len(line) <= 200 else line[:200] + "…"


def fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def rounded(value: Any, digits: int = 4) -> Any:
    """``value`` with every float rounded to ``digits`` significant digits, for printing JSON
    (a cost reads 0.000141, not 0.00014099999999999998)."""
    if isinstance(value, float):
        return float(f"{value:.{digits}g}")
    if isinstance(value, dict):
        return {k: rounded(v, digits) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [rounded(v, digits) for v in value]
    return value


def table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> str:
    """Left-aligned plain-text table."""
    cells = [[str(h) for h in header]] + [[fmt(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def run(args: argparse.Namespace, action: Any) -> int:
    """Run ``action(args)``; print an ApiError on stderr and return 1 instead of a traceback."""
    try:
        return int(action(args) or 0)
    except ApiError as exc:
        print(f"llmtrace: {exc}", file=sys.stderr)
        return 1


def filter_args(parser: argparse.ArgumentParser) -> None:
    for name in ("service", "model", "provider", "prompt", "prompt-version", "environment"):
        parser.add_argument(f"--{name}", help=f"only calls with this {name.replace('-', ' ')}")


def filters(args: argparse.Namespace) -> dict[str, Any]:
    names = ("service", "model", "provider", "prompt", "prompt_version", "environment")
    return {n: getattr(args, n) for n in names}
