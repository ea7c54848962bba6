"""The integration contract: what an integration may import, and the registry's hooks in order.

A new integration is its module plus one registry line; these tests keep it that way: no module
of ``llmtrace/integrations`` reaches into the runtime, configuration does not import the runtime,
and the llmtrace-internal import graph has no cycle.
"""

from __future__ import annotations

import ast
import importlib.metadata
import json
import subprocess
import sys
import textwrap
import tomllib
import types
from collections.abc import Iterator
from pathlib import Path

import pytest
from packaging.requirements import Requirement

import llmtrace
from llmtrace import integrations
from llmtrace.integrations import Integration

PACKAGE = Path(llmtrace.__file__).parent


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """llmtrace modules ``path`` imports at run time (anywhere in it, not under TYPE_CHECKING)."""
    tree = ast.parse(path.read_text())
    type_checking: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
            type_checking.update(id(n) for child in node.body for n in ast.walk(child))
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in type_checking:
            continue
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("llmtrace"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("llmtrace"):
            known = {_module_name(p) for p in PACKAGE.rglob("*.py")}
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in known else node.module)
    return found


def _graph(paths: list[Path]) -> dict[str, set[str]]:
    return {_module_name(p): _imports(p) for p in paths}


INSTRUMENTATION = sorted((PACKAGE / "_internal").glob("*.py")) + sorted(
    (PACKAGE / "integrations").glob("*.py")
)


def test_integrations_never_import_the_runtime_or_the_export_pipeline() -> None:
    forbidden = {
        "llmtrace._internal.runtime",
        "llmtrace._internal.processor",
        "llmtrace._internal.export",
        "llmtrace._internal.backends",
        "llmtrace",
    }
    for module, imported in _graph(sorted((PACKAGE / "integrations").glob("*.py"))).items():
        assert not imported & forbidden, f"{module} imports {sorted(imported & forbidden)}"


def test_configuration_and_the_active_view_do_not_import_the_runtime() -> None:
    graph = _graph(INSTRUMENTATION)
    # The active view reads the attribute names and builds provider spans (finished_span), both
    # leaves that import nothing of llmtrace.
    assert graph["llmtrace._internal.active"] <= {
        "llmtrace._internal.semconv",
        "llmtrace._internal.finished_span",
    }
    assert not graph["llmtrace._internal.finished_span"]
    for module in ("llmtrace._internal.config", "llmtrace._internal.content", "llmtrace._internal.processor"):
        assert "llmtrace._internal.runtime" not in graph[module], module


def test_only_the_registry_imports_an_integration_module() -> None:
    names = {i.module for i in integrations.INTEGRATIONS}
    for path in PACKAGE.rglob("*.py"):
        module = _module_name(path)
        if module == "llmtrace.integrations" or module in names:
            continue
        assert not _imports(path) & names, f"{module} imports an integration module"


def test_internal_import_graph_has_no_cycle() -> None:
    graph = _graph(INSTRUMENTATION)
    # The runtime calls into the registry (lazily, to enable integrations): the one edge from the
    # runtime side into the integrations side, which therefore must never lead back.
    state: dict[str, int] = {}

    def visit(module: str, path: list[str]) -> None:
        if state.get(module) == 2:
            return
        assert state.get(module) != 1, f"import cycle: {' -> '.join([*path, module])}"
        state[module] = 1
        for dep in sorted(graph.get(module, ())):
            if dep in graph:
                visit(dep, [*path, module])
        state[module] = 2

    for module in graph:
        visit(module, [])


@pytest.fixture
def toy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """A package ``toy_sdk`` on disk (not yet imported) and ``llmtrace.integrations.toy`` recording its hooks."""
    (tmp_path / "toy_sdk.py").write_text("VALUE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    calls: list[str] = []
    module = types.ModuleType("llmtrace.integrations.toy")
    for hook in ("on_enable", "instrument", "uninstrument", "on_disable"):
        setattr(module, hook, lambda hook=hook: calls.append(hook))
    monkeypatch.setitem(sys.modules, "llmtrace.integrations.toy", module)
    yield calls
    integrations.disable_all()
    sys.modules.pop("toy_sdk", None)


def test_hooks_run_in_order_around_the_package_import(toy: list[str]) -> None:
    toy_integration = Integration("toy", "toy_sdk", "toy")
    assert integrations.enable([toy_integration]) == ["toy"]
    assert toy == ["on_enable"]  # before the package is imported
    import toy_sdk  # noqa: F401  (the post-import hook instruments it)

    assert toy == ["on_enable", "instrument"]
    integrations.disable_all()
    assert toy == ["on_enable", "instrument", "uninstrument", "on_disable"]


def test_uninstrument_hook_is_skipped_when_the_package_was_never_imported(toy: list[str]) -> None:
    integrations.enable([Integration("toy", "toy_sdk", "toy")])
    integrations.disable_all()
    assert toy == ["on_enable", "on_disable"]


def _dist(name: str) -> str:
    return name.lower().replace("_", "-")


def test_every_integration_has_a_pip_extra_that_installs_its_package() -> None:
    """``pip install 'llmtrace[<extra>]'`` (what the ImportError names) installs the distribution
    that provides the integration's package, or one that depends on it (``boto3`` -> ``botocore``)."""
    pyproject = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())
    extras = pyproject["project"]["optional-dependencies"]
    providers = importlib.metadata.packages_distributions()
    for integration in integrations.INTEGRATIONS:
        assert integration.extra in extras, integration
        top = integration.sdk_module.split(".")[0]
        module_dists = {_dist(d) for d in providers.get(top, [])}
        installed = {_dist(Requirement(r).name) for r in extras[integration.extra]}
        required = {
            _dist(Requirement(r).name)
            for name in installed
            for r in importlib.metadata.requires(name) or []
            if "extra ==" not in r
        }
        assert (installed | required) & module_dists, (integration, installed, module_dists)


def test_the_integrations_page_names_every_integration_and_its_extra() -> None:
    page = (PACKAGE.parent / "docs" / "integrations.md").read_text()
    for integration in integrations.INTEGRATIONS:
        assert f"`{integration.name}`" in page, integration.name  # in instrument(providers=[...])
        assert f"llmtrace[{integration.extra}]" in page, integration.extra


# A process whose SDK packages in ``absent`` are not importable (``None`` in ``sys.modules`` is what
# an import of a package that is not installed meets), calling ``instrument()`` as an app does.
_APP_WITHOUT = """
import json, sys
for name in {absent!r}:
    sys.modules[name] = None
import llmtrace
from llmtrace import integrations
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
try:
    llmtrace.instrument(exporter=InMemorySpanExporter(), service_name="app", providers={providers!r})
except Exception as exc:
    print(json.dumps({{"raised": type(exc).__name__, "message": str(exc)}}))
else:
    print(json.dumps({{"enabled": sorted(integrations._enabled)}}))
"""
_SDK_PACKAGES = sorted({i.sdk_module.split(".")[0] for i in integrations.INTEGRATIONS})


def _app_without(absent: list[str], providers: list[str] | None = None) -> dict[str, object]:
    script = _APP_WITHOUT.format(absent=absent, providers=providers)
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize(
    ("absent", "enabled"),
    [
        # An app with none of the SDKs installed: instrument() works and patches nothing.
        (_SDK_PACKAGES, []),
        # A dotted SDK module whose parent package is missing (``llama_index.core``): skipped like
        # any other, where ``find_spec`` raised out of instrument() before.
        (["llama_index"], sorted(i.name for i in integrations.INTEGRATIONS if i.name != "llamaindex")),
        (["google"], sorted(i.name for i in integrations.INTEGRATIONS if i.name != "google_genai")),
    ],
    ids=["no_sdk", "no_llama_index", "no_google_namespace"],
)
def test_instrument_skips_every_sdk_that_is_not_installed(absent: list[str], enabled: list[str]) -> None:
    assert _app_without(absent) == {"enabled": enabled}


def test_a_named_provider_whose_parent_package_is_missing_names_its_extra() -> None:
    result = _app_without(["llama_index"], providers=["llamaindex"])
    assert result["raised"] == "ImportError"
    assert "pip install 'llmtrace[llamaindex]'" in str(result["message"])
