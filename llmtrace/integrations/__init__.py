"""The registry of provider integrations, read by ``llmtrace.instrument()``.

Each provider is one `Integration` line: the SDK's import name, the pip extra that installs it, and
our module (``llmtrace.integrations.<name>``) whose ``instrument()`` patches the SDK. Patching is
deferred with ``wrapt`` post-import hooks, so ``import openai`` before or after ``instrument()``
both work and ``import llmtrace`` imports no provider SDK.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import wrapt

from llmtrace._internal.guard import internal_error
from llmtrace.integrations._common import STATE, unpatch_all


@dataclass(frozen=True, slots=True)
class Integration:
    """One provider: ``name`` (as in ``instrument(providers=[...])``), SDK module, pip extra."""

    name: str
    sdk_module: str
    extra: str

    @property
    def module(self) -> str:
        return f"llmtrace.integrations.{self.name}"


INTEGRATIONS: tuple[Integration, ...] = (
    Integration("openai", "openai", "openai"),
    Integration("anthropic", "anthropic", "anthropic"),
)
_BY_NAME = {i.name: i for i in INTEGRATIONS}

_lock = threading.Lock()
_enabled: set[str] = set()
_hooked: set[str] = set()  # post-import hooks cannot be removed: register each once per process


def enable(names: Sequence[str] | None) -> list[str]:
    """Instrument the named providers (None: every installed one); returns the names enabled.

    A name given explicitly whose SDK is missing raises ImportError naming the pip extra;
    discovery (``None``) silently skips what is absent.
    """
    explicit = names is not None
    chosen: list[Integration] = []
    for name in INTEGRATIONS if names is None else names:
        integration = name if isinstance(name, Integration) else _BY_NAME.get(str(name).strip().lower())
        if integration is None:
            raise ValueError(f"unknown provider {name!r}; known: {', '.join(sorted(_BY_NAME))}")
        if importlib.util.find_spec(integration.sdk_module) is None:
            if explicit:
                raise ImportError(
                    f"llmtrace: provider {integration.name!r} needs the {integration.sdk_module!r} package: "
                    f"pip install 'llmtrace[{integration.extra}]'"
                )
            continue
        chosen.append(integration)
    with _lock:
        STATE.active = True
        for integration in chosen:
            _enabled.add(integration.name)
            _on_enable(integration)
            if integration.sdk_module in sys.modules:
                _patch(integration)
            elif integration.sdk_module not in _hooked:
                _hooked.add(integration.sdk_module)
                wrapt.register_post_import_hook(_hook(integration), integration.sdk_module)
    return [i.name for i in chosen]


def disable_all() -> None:
    """Restore every patched method and make any wrapper still reachable inert."""
    with _lock:
        STATE.active = False
        for name in list(_enabled):
            _on_disable(_BY_NAME[name])
        _enabled.clear()
        unpatch_all()


def _hook(integration: Integration) -> Callable[[Any], None]:
    def on_import(module: Any) -> None:
        with _lock:
            if integration.name in _enabled:
                _patch(integration)

    return on_import


def _patch(integration: Integration) -> None:
    try:
        importlib.import_module(integration.module).instrument()
    except Exception as exc:  # an SDK shape we do not know must not break the host's import
        internal_error(f"{integration.name}.instrument", exc)


def _on_enable(integration: Integration) -> None:
    """Provider set-up that must happen before its clients exist (without importing the SDK)."""
    if integration.name == "anthropic":
        from llmtrace.integrations import _anthropic_native

        _anthropic_native.disable_native_tracing()


def _on_disable(integration: Integration) -> None:
    if integration.name == "anthropic":
        from llmtrace.integrations import _anthropic_native

        _anthropic_native.restore_native_tracing()


__all__ = ["INTEGRATIONS", "Integration", "disable_all", "enable"]
