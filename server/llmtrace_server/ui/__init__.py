"""The web UI at ``/``: server-rendered pages over the same queries and analytics as the JSON API.

Jinja2 templates, a little htmx for lazy sections and a vendored uPlot for charts; every asset
is served from ``static/`` inside the installed package (no CDN, no build step). See docs/ui.md.
"""

from __future__ import annotations

from llmtrace_server.ui.pages import mount_ui

__all__ = ["mount_ui"]
