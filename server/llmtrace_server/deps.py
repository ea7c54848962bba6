"""Request dependencies shared by every router, as ``Annotated`` aliases.

Example::

    @router.get("/api/v1/things")
    def things(store: StoreDep, project: ProjectDep) -> list[str]: ...
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request

from llmtrace.store import Store
from llmtrace_server.auth import request_project
from llmtrace_server.settings import Settings


def get_store(request: Request) -> Store:
    """The one store the app opened at start-up (chDB allows one per process)."""
    store: Store = request.app.state.store
    return store


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


Filter = Annotated[str | None, Query(max_length=1024)]


def segment_filters(
    service: Filter = None,
    model: Filter = None,
    provider: Filter = None,
    prompt: Filter = None,
    prompt_version: Filter = None,
    environment: Filter = None,
) -> dict[str, str | None]:
    """The segment a query is narrowed to: exact matches on any of these (``None`` = not filtered)."""
    return {
        "service": service,
        "model": model,
        "provider": provider,
        "prompt": prompt,
        "prompt_version": prompt_version,
        "environment": environment,
    }


StoreDep = Annotated[Store, Depends(get_store)]
ProjectDep = Annotated[str, Depends(request_project)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
SegmentDep = Annotated[dict[str, str | None], Depends(segment_filters)]
