"""Request dependencies shared by every router, as ``Annotated`` aliases.

Example::

    @router.get("/api/v1/things")
    def things(store: StoreDep, project: ProjectDep) -> list[str]: ...
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

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


StoreDep = Annotated[Store, Depends(get_store)]
ProjectDep = Annotated[str, Depends(request_project)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
