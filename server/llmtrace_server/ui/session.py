"""Who is looking: the API key kept in a cookie, and CSRF tokens for the mutating forms.

A server without API keys (loopback only, see Settings) opens directly on the ``default`` project.
With keys, ``/login`` takes one and keeps it in an ``HttpOnly; SameSite=Strict`` cookie; every page
then shows only that key's project. Forms that change something carry a token derived from the
cookie and a per-process secret, so another site can neither read nor forge it.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated
from urllib.parse import parse_qs, quote

from fastapi import Depends, HTTPException, Request

from llmtrace_server.auth import project_for

COOKIE = "llmtrace_key"
MAX_FORM_BYTES = 64 * 1024


class SignInRequired(Exception):
    """Raised by page dependencies; the app answers with a redirect to ``/login``."""

    def __init__(self, next_path: str, message: str = "") -> None:
        super().__init__(next_path)
        self.next_path = next_path
        self.message = message


def signed_in_project(request: Request) -> str | None:
    """The project of the request's cookie (or ``default`` without keys); None when signed out."""
    settings = request.app.state.settings
    try:
        return project_for(settings, f"Bearer {request.cookies.get(COOKIE, '')}")
    except HTTPException:
        return None


def page_project(request: Request) -> str:
    """Dependency of every page: the project to show, or a redirect to the sign-in form."""
    project = signed_in_project(request)
    if project is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        had_cookie = COOKIE in request.cookies
        raise SignInRequired(target, "that API key is no longer valid" if had_cookie else "")
    return project


def csrf_token(request: Request) -> str:
    """HMAC of the cookie (or of nothing, keyless) under the process secret."""
    secret: bytes = request.app.state.ui_secret
    return hmac.new(secret, request.cookies.get(COOKIE, "").encode(), hashlib.sha256).hexdigest()


async def form_data(request: Request) -> dict[str, str]:
    """The urlencoded body of a form POST, after checking its CSRF token (403 otherwise).

    Parsed here rather than with python-multipart: the pages only post small urlencoded forms.
    """
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise HTTPException(413, "form too large")
    fields = {k: v[-1].strip() for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
    if not hmac.compare_digest(fields.pop("csrf", ""), csrf_token(request)):
        raise HTTPException(403, "the form expired or came from another site: reload the page and retry")
    return fields


def login_redirect(next_path: str) -> str:
    return f"/login?next={quote(next_path, safe='')}"


ProjectPage = Annotated[str, Depends(page_project)]
FormData = Annotated[dict[str, str], Depends(form_data)]
