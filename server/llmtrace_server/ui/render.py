"""The Jinja2 environment and the number formats every page shares (units, right alignment)."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, Undefined, select_autoescape
from markupsafe import Markup

from llmtrace_server.ui.session import csrf_token, signed_in_project

UI_DIR = Path(__file__).parent
TEMPLATES = UI_DIR / "templates"
STATIC = UI_DIR / "static"

NAV = (
    ("overview", "/", "Overview"),
    ("traces", "/traces", "Traces"),
    ("sessions", "/sessions", "Sessions"),
    ("users", "/users", "Users"),
    ("prompts", "/prompts", "Prompts"),
    ("drift", "/drift", "Drift"),
    ("alerts", "/alerts", "Alerts"),
)


def _missing(value: Any) -> bool:
    """None, NaN, or a key the analytics leave out for this kind of feature (Jinja's Undefined)."""
    return value is None or isinstance(value, Undefined) or (isinstance(value, float) and math.isnan(value))


def usd(value: Any) -> str:
    """Dollars with enough digits to tell cheap calls apart ($0.00042, $1.23, $12,345)."""
    if _missing(value):
        return "—"
    v = float(value)
    if v == 0:
        return "$0"
    if abs(v) < 0.01:
        return f"${v:.5f}"
    if abs(v) < 100:
        return f"${v:,.2f}"
    return f"${v:,.0f}"


def ms(value: Any) -> str:
    if _missing(value):
        return "—"
    v = float(value)
    if v >= 10_000:
        return f"{v / 1000:,.1f} s"
    return f"{v:,.0f} ms" if v >= 10 else f"{v:.1f} ms"


def count(value: Any) -> str:
    if _missing(value):
        return "—"
    v = float(value)
    if abs(v) >= 1_000_000:
        return f"{v / 1_000_000:.2f}M"
    if abs(v) >= 10_000:
        return f"{v / 1000:.1f}k"
    return f"{v:,.0f}"


def pct(value: Any, digits: int = 1) -> str:
    if _missing(value):
        return "—"
    return f"{100 * float(value):.{digits}f}%"


def num(value: Any, digits: int = 3) -> str:
    if _missing(value):
        return "—"
    v = float(value)
    if v != 0 and abs(v) < 10 ** (-digits):
        return f"{v:.1e}"
    return f"{v:.{digits}g}" if abs(v) >= 1000 else f"{v:.{digits}f}".rstrip("0").rstrip(".") or "0"


def when(value: Any) -> str:
    """UTC time as the pages show it."""
    if _missing(value):
        return "—"
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def change(current: float | None, previous: float | None) -> dict[str, Any] | None:
    """Relative change against the previous period, or None when there is nothing to compare."""
    if current is None or previous is None or previous == 0:
        return None
    rel = (float(current) - float(previous)) / abs(float(previous))
    return {"rel": rel, "text": f"{'+' if rel >= 0 else ''}{100 * rel:.0f}%"}


def to_json(value: Any) -> Markup:
    """JSON for a ``<script type="application/json">`` block (``</`` cannot close the script)."""
    text = json.dumps(value, default=str, allow_nan=False).replace("</", "<\\/")
    return Markup(text)


ENV = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
ENV.filters.update(usd=usd, ms=ms, count=count, pct=pct, num=num, when=when, tojson_script=to_json)
ENV.globals.update(nav=NAV, change=change)


# Every page may load only what this server serves: a stray CDN link fails loudly in the browser.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:;"
        " connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A full page (or an htmx partial) with the layout's context: nav, project, CSRF token."""
    settings = request.app.state.settings
    html = ENV.get_template(template).render(
        request=request,
        path=request.url.path,
        csrf=csrf_token(request),
        auth_enabled=settings.auth_enabled,
        project=signed_in_project(request),
        **context,
    )
    return HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)
