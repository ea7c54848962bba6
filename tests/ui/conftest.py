"""Browser fixtures: a real ``llmtrace serve`` filled by ``llmtrace demo``, driven by Debian's
Chromium through Playwright (never a downloaded browser), with every non-loopback request refused.

Without Chromium the browser tests skip locally; under CI (``CI=true``) they fail instead, so a CI
machine that lost its browser cannot pass silently.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, Route, sync_playwright

from llmtrace.demo.server import ServerProcess, free_port

CHROMIUM = os.environ.get("LLMTRACE_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
DEAD_PROXY = "http://127.0.0.1:9"
# A store an earlier `llmtrace demo --no-serve --store chdb://PATH` filled: skips the 30 s fill
# while iterating on the UI (its alert and drift state may differ from a fresh demo's).
REUSE_STORE = "LLMTRACE_TEST_UI_STORE"
DOCS_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
UPDATE_SCREENSHOTS = "LLMTRACE_UPDATE_SCREENSHOTS"  # =1: the screenshots replace docs/images/*.png


def _offline_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMTRACE_")}
    env.update(HTTP_PROXY=DEAD_PROXY, HTTPS_PROXY=DEAD_PROXY, ALL_PROXY=DEAD_PROXY)
    env.update(NO_PROXY="127.0.0.1,localhost", HOME=str(home))
    return env


@pytest.fixture(scope="session")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of the UI that ``llmtrace demo`` prints once its week of data is in (about 30-80 s).

    The demo keeps its server running for the tests and stops it on SIGTERM.
    """
    workdir = tmp_path_factory.mktemp("ui-demo")
    reuse = os.environ.get(REUSE_STORE)
    if reuse:
        server = ServerProcess(f"chdb://{reuse}", free_port(), workdir / "server.log").start()
        try:
            yield server.url
        finally:
            server.stop()
        return
    command = [sys.executable, "-c", "import sys; from llmtrace.cli import main; sys.exit(main())"]
    command += ["demo", "--store", f"chdb://{workdir / 'data'}", "--port", str(free_port())]
    demo = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_offline_env(workdir)
    )
    assert demo.stdout is not None
    printed: list[str] = []
    url = None
    for line in demo.stdout:
        printed.append(line)
        found = re.search(r"Open the UI: (http://127\.0\.0\.1:\d+)/", line)
        if found:
            url = found.group(1)
            break
    try:
        assert url, "llmtrace demo did not print the UI's URL:\n" + "".join(printed[-60:])
        yield url
    finally:
        demo.send_signal(signal.SIGTERM)
        try:
            demo.wait(30)
        except subprocess.TimeoutExpired:
            demo.kill()
            demo.wait()
        demo.stdout.close()


def _chromium_or_skip() -> str:
    if Path(CHROMIUM).exists():
        return CHROMIUM
    message = f"Chromium not found at {CHROMIUM} (apt-get install -y chromium)"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message + ": browser tests must run in CI")
    pytest.skip(message)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    executable = _chromium_or_skip()
    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@dataclass
class Watched:
    """A page with its console errors and the off-host requests it tried (both must stay empty)."""

    page: Page
    errors: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)


@pytest.fixture
def watched(browser: Browser, demo_server: str) -> Iterator[Watched]:
    context = browser.new_context(viewport={"width": 1400, "height": 900}, base_url=demo_server)
    page = context.new_page()
    out = Watched(page)

    def guard(route: Route) -> None:
        url = route.request.url
        parts = urlsplit(url)
        if parts.scheme in ("http", "https", "ws", "wss") and (parts.hostname or "") not in LOOPBACK:
            out.blocked.append(url)
            route.abort()
        else:
            route.continue_()

    context.route("**/*", guard)
    page.on("console", lambda msg: out.errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: out.errors.append(str(exc)))
    try:
        yield out
    finally:
        context.close()
    assert out.blocked == [], f"requests left the host: {out.blocked}"


def screenshot(page: Page, tmp: Path, name: str) -> Path:
    """Full-page PNG in ``tmp``; also into docs/images when LLMTRACE_UPDATE_SCREENSHOTS=1."""
    path = tmp / name
    page.screenshot(path=str(path), full_page=True)
    if os.environ.get(UPDATE_SCREENSHOTS) == "1":
        DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOCS_IMAGES / name)
    return path
