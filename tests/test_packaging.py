"""The wheel: schema files inside, the server package included, a light base install, a working CLI."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def _build_wheel(out: Path, **env: str) -> Path:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            str(ROOT),
            "-w",
            str(out),
        ],
        check=True,
        capture_output=True,
        timeout=300,
        env={**os.environ, **env},
    )
    (path,) = out.glob("llmtrace-*.whl")
    return path


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build_wheel(tmp_path_factory.mktemp("wheel"))


def _metadata(wheel: Path) -> str:
    with zipfile.ZipFile(wheel) as zf:
        (name,) = [n for n in zf.namelist() if n.endswith(".dist-info/METADATA")]
        return zf.read(name).decode()


def test_wheel_contains_the_schema_and_the_server_package(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    migrations = sorted(p for p in (ROOT / "schema" / "migrations").glob("*.sql"))
    assert migrations
    for path in migrations:
        assert f"llmtrace/_schema/migrations/{path.name}" in names
    assert "llmtrace/_schema/migrations/0001_spans.sql" in names
    assert "llmtrace_server/__init__.py" in names
    assert "llmtrace/cli.py" in names and "llmtrace/store/migrate.py" in names
    assert not any(n.startswith(("tests/", "server/", "schema/")) for n in names)


def test_wheel_carries_the_web_ui(wheel: Path) -> None:
    """Templates, static files and vendored assets with their licences: `pip install .` gives a UI."""
    names = set(zipfile.ZipFile(wheel).namelist())
    ui = ROOT / "server" / "llmtrace_server" / "ui"
    shipped = [
        p for p in ui.rglob("*") if p.is_file() and p.suffix != ".pyc" and "__pycache__" not in p.parts
    ]
    assert len(shipped) > 30
    for path in shipped:
        assert f"llmtrace_server/ui/{path.relative_to(ui).as_posix()}" in names, path
    for vendored in ("htmx", "uplot", "swagger-ui"):
        assert f"llmtrace_server/ui/static/vendor/{vendored}/LICENSE" in names
    assert "llmtrace_server/ui/static/vendor/README.md" in names


def test_base_install_pulls_neither_chdb_nor_fastapi(wheel: Path) -> None:
    requires = re.findall(r"^Requires-Dist: (.+)$", _metadata(wheel), re.MULTILINE)
    base = [r for r in requires if "extra ==" not in r]
    assert base, requires
    assert not [r for r in base if re.search(r"chdb|fastapi|uvicorn|clickhouse", r, re.IGNORECASE)]
    server = [r for r in requires if "extra == 'server'" in r]
    assert any(r.startswith("clickhouse-connect[chdb]") for r in server)
    assert any(r.startswith("fastapi") for r in server)


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel installed (without dependencies) into a directory of its own."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return target


def test_installed_wheel_runs_from_another_directory_with_its_own_schema(
    installed: Path, tmp_path: Path
) -> None:
    target = installed
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    code = (
        "import llmtrace, sys; from llmtrace.cli import main; "
        "print(llmtrace.__file__, file=sys.stderr); sys.exit(main(sys.argv[1:]))"
    )
    version = subprocess.run(
        [sys.executable, "-c", code, "--version"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert version.stdout.strip() == f"llmtrace {VERSION}"
    assert version.stderr.strip().startswith(str(target))  # the installed copy, not the repository
    ddl = subprocess.run(
        [sys.executable, "-c", code, "migrate", "--print"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ddl.returncode == 0, ddl.stderr
    assert "CREATE TABLE IF NOT EXISTS llmtrace.spans" in ddl.stdout


def test_console_script_version_from_another_directory(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(BIN / "llmtrace"), "--version"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert (result.returncode, result.stdout.strip()) == (0, f"llmtrace {VERSION}")


# Compiled by hatch_build.py with mypyc; each keeps its .py beside it.
COMPILED = (
    "llmtrace/_internal/pricing",
    "llmtrace/store/rows",
    "llmtrace/store/dialects",
    "llmtrace_server/otlp",
    "llmtrace_server/otlp_wire",
)


def test_wheel_carries_the_decoding_path_compiled_beside_its_source(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert re.search(r"-cp3\d+-cp3\d+-linux_\w+\.whl$", wheel.name), wheel.name  # not py3-none-any
    for module in COMPILED:
        assert f"{module}.py" in names
        assert [n for n in names if re.fullmatch(rf"{module}\.cpython-.+\.so", n)], module
    assert [n for n in names if re.fullmatch(r"llmtrace_compiled__mypyc\.cpython-.+\.so", n)]
    assert [n for n in names if re.fullmatch(r"llmtrace_server/_cwire\.cpython-.+\.so", n)]  # the C reader


def test_this_suite_runs_the_pure_python_source() -> None:
    """The editable install stays pure Python (hatch_build.py), so the suite tests the source itself."""
    import llmtrace._internal.pricing
    import llmtrace.store.rows
    import llmtrace_server.otlp
    import llmtrace_server.otlp_wire

    modules = (
        llmtrace._internal.pricing,
        llmtrace.store.rows,
        llmtrace_server.otlp,
        llmtrace_server.otlp_wire,
    )
    for module in modules:
        assert module.__file__ is not None and module.__file__.startswith(str(ROOT)), module.__file__
        assert module.__file__.endswith(".py"), module.__file__


def test_compiled_decoding_path_passes_the_mapping_and_ingest_tests(installed: Path) -> None:
    """The same tests as the editable (pure-Python) install, run against the wheel's compiled modules.

    ``-P``: the working directory (the repository) must not come before the installed wheel.
    """
    env = {**os.environ, "PYTHONPATH": str(installed)}
    code = "import importlib, sys; print(*(importlib.import_module(m).__file__ for m in sys.argv[1:]))"
    modules = [m.replace("/", ".") for m in COMPILED]
    origin = subprocess.run(
        [sys.executable, "-P", "-c", code, *modules],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    files = origin.stdout.split()
    assert len(files) == len(COMPILED)
    assert all(f.startswith(str(installed)) and f.endswith(".so") for f in files), files
    tests = [
        "tests/store/test_rows_mapping.py",
        "tests/server/test_ingest.py",
        "tests/server/test_otlp_json.py",
        "tests/server/test_otlp_wire.py",  # the wire reader compiled, as ingest then uses it
        "tests/server/test_prepare.py",  # SpanRecord and the mapping loop compiled
        "tests/server/test_cwire.py",  # the wheel's C reader against the compiled Python path
        "tests/test_pricing.py",
    ]
    run = subprocess.run(
        [sys.executable, "-P", "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert re.search(r"^\d+ passed", run.stdout.splitlines()[-1]), run.stdout[-500:]


@pytest.mark.parametrize(
    "env",
    [{"LLMTRACE_PURE_PYTHON": "1"}, {"CC": "false"}],  # asked for; or no working C compiler
    ids=["asked", "no-compiler"],
)
def test_wheel_falls_back_to_pure_python(env: dict[str, str], tmp_path: Path) -> None:
    wheel = _build_wheel(tmp_path, **env)
    assert wheel.name.endswith("-py3-none-any.whl"), wheel.name
    names = zipfile.ZipFile(wheel).namelist()
    assert not [n for n in names if n.endswith(".so")]
    assert all(f"{module}.py" in names for module in COMPILED)
