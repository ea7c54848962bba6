"""The registry of integrations, read by ``llmtrace.instrument()``.

Each provider or framework is one `Integration` line: the package's import name, the pip extra
that installs it, and our module (``llmtrace.integrations.<name>``). Patching is deferred with
``wrapt`` post-import hooks, so ``import openai`` before or after ``instrument()`` both work and
``import llmtrace`` imports no provider SDK.

The contract an integration module implements (`IntegrationModule`):

- ``instrument()`` (required): called once the package is imported; patches it with
  ``_common.patch`` (undone for it by ``uninstrument()``) or registers a callback/processor.
- ``uninstrument()`` (optional): undoes what ``instrument()`` did other than ``_common.patch``.
- ``on_enable()`` / ``on_disable()`` (optional): set-up that must happen before the package's
  clients exist, and its undoing; they must not import the package.

What an integration may read of llmtrace: the active settings and tracer
(``llmtrace._internal.active``, ``config.settings()``), and the shared helpers in ``_common``,
``_wrappers``, ``_streams``, ``content`` and ``semconv``. It never imports the runtime, and
nothing but this registry imports it, so a new integration touches only its module and this list.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Protocol, cast

import wrapt

from llmtrace._internal.guard import internal_error
from llmtrace.integrations._common import STATE, restore_buried, unpatch_all


@dataclass(frozen=True, slots=True)
class Integration:
    """One provider: ``name`` (as in ``instrument(providers=[...])``), SDK module, pip extra."""

    name: str
    sdk_module: str
    extra: str

    @property
    def module(self) -> str:
        return f"llmtrace.integrations.{self.name}"


class IntegrationModule(Protocol):
    """What ``llmtrace.integrations.<name>`` provides (the optional hooks are looked up by name)."""

    def instrument(self) -> None: ...


INTEGRATIONS: tuple[Integration, ...] = (
    Integration("openai", "openai", "openai"),
    Integration("anthropic", "anthropic", "anthropic"),
    Integration("google_genai", "google.genai", "google-genai"),
    Integration("langchain", "langchain_core", "langchain"),
    Integration("litellm", "litellm", "litellm"),
    Integration("openai_agents", "agents", "openai-agents"),
    Integration("mistralai", "mistralai", "mistralai"),
    Integration("bedrock", "botocore", "bedrock"),
    Integration("mcp", "mcp", "mcp"),
    Integration("llamaindex", "llama_index.core", "llamaindex"),
)
_BY_NAME = {i.name: i for i in INTEGRATIONS}

_lock = threading.Lock()
_enabled: dict[str, Integration] = {}
_instrumented: set[str] = set()  # enabled and their package imported: instrument() has run
logger = logging.getLogger("llmtrace")
_hooked: set[str] = set()  # post-import hooks cannot be removed: register each once per process


def enable(names: Sequence[str] | None, *, strict: bool = True) -> list[str]:
    """Instrument the named providers (None: every installed one); returns the names enabled.

    A name given explicitly that is unknown raises ValueError, one whose SDK is missing ImportError
    naming the pip extra; with ``strict`` off (names from the environment) each is a warning and
    is skipped instead. Discovery (``None``) silently skips what is absent.
    """
    explicit = names is not None
    chosen: list[Integration] = []
    for name in INTEGRATIONS if names is None else names:
        integration = name if isinstance(name, Integration) else _BY_NAME.get(str(name).strip().lower())
        if integration is not None and _installed(integration.sdk_module):
            chosen.append(integration)
            continue
        if integration is not None and not explicit:
            continue  # discovery: not installed
        problem = (
            ValueError(f"unknown provider {name!r}; known: {', '.join(sorted(_BY_NAME))}")
            if integration is None
            else ImportError(
                f"llmtrace: provider {integration.name!r} needs the {integration.sdk_module!r} package: "
                f"pip install 'llmtrace[{integration.extra}]'"
            )
        )
        if strict:
            raise problem
        logger.warning(
            "llmtrace: LLMTRACE_PROVIDERS: %s; skipping it", str(problem).removeprefix("llmtrace: ")
        )
    with _lock:
        restore_buried()
        STATE.active = True
        for integration in chosen:
            _enabled[integration.name] = integration
            _call_hook(integration, "on_enable")
            if integration.sdk_module in sys.modules:
                _patch(integration)
            elif integration.sdk_module not in _hooked:
                _hooked.add(integration.sdk_module)
                wrapt.register_post_import_hook(_hook(integration), integration.sdk_module)
    return [i.name for i in chosen]


def _installed(sdk_module: str) -> bool:
    """Whether ``sdk_module`` can be imported, without importing it.

    ``find_spec`` of a dotted name imports the parent package first, and raises when that is
    missing (``llama_index.core`` where LlamaIndex is not installed): that is "not installed" too,
    not an error of ``instrument()``. A parent that fails to import for any other reason is
    logged once and its integration skipped: the host application's own imports are its business.
    """
    try:
        return importlib.util.find_spec(sdk_module) is not None
    except (ImportError, ValueError):  # ValueError: a module in sys.modules without a spec
        return False
    except Exception as exc:
        internal_error(f"finding {sdk_module}", exc)
        return False


def disable_all() -> None:
    """Restore every patched method and make any wrapper still reachable inert."""
    with _lock:
        STATE.active = False
        for name, integration in list(_enabled.items()):
            if name in _instrumented:
                _call_hook(integration, "uninstrument")
            _call_hook(integration, "on_disable")
        _enabled.clear()
        _instrumented.clear()
        unpatch_all()


def _hook(integration: Integration) -> Callable[[Any], None]:
    def on_import(module: Any) -> None:
        with _lock:
            if integration.name in _enabled:
                _patch(integration)

    return on_import


def _patch(integration: Integration) -> None:
    try:
        _module(integration).instrument()
        _instrumented.add(integration.name)
    except Exception as exc:  # an SDK shape we do not know must not break the host's import
        internal_error(f"{integration.name}.instrument", exc)


def _module(integration: Integration) -> IntegrationModule:
    return cast(IntegrationModule, importlib.import_module(integration.module))


def _call_hook(integration: Integration, hook: str) -> None:
    """Run the module's optional ``hook``; a failure is logged, never raised into the host."""
    try:
        module = cast(ModuleType, _module(integration))
        function = getattr(module, hook, None)
        if function is not None:
            function()
    except Exception as exc:
        internal_error(f"{integration.name}.{hook}", exc)


__all__ = ["INTEGRATIONS", "Integration", "IntegrationModule", "disable_all", "enable"]
