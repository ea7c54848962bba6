"""API keys and projects: a key names the project whose data its requests may see and write.

Without configured keys every request belongs to the ``default`` project (the settings refuse to
expose such a server beyond loopback unless ``--insecure``).
"""

from __future__ import annotations

import hmac

from fastapi import HTTPException, Request, status

from llmtrace_server.settings import DEFAULT_PROJECT, Settings

_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def project_for(settings: Settings, authorization: str | None) -> str:
    """The project of the request's ``Authorization: Bearer KEY``; 401 when keys are on and it is bad."""
    if not settings.api_keys:
        return DEFAULT_PROJECT
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "missing Authorization: Bearer <api key>", _CHALLENGE
        )
    presented = token.strip().encode()
    project = None
    # Compare against every key in constant time so timing does not reveal a valid prefix.
    for key, key_project in settings.api_keys.items():
        if hmac.compare_digest(presented, key.encode()):
            project = key_project
    if project is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "invalid API key", _CHALLENGE)
    return project


def request_project(request: Request) -> str:
    """FastAPI dependency: the request's project (see :func:`project_for`)."""
    settings: Settings = request.app.state.settings
    return project_for(settings, request.headers.get("authorization"))
