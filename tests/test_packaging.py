"""The wheel: schema files inside, the server package included, a light base install, a working CLI."""

from __future__ import annotations

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


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
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
    )
    (path,) = out.glob("llmtrace-*.whl")
    return path


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


def test_base_install_pulls_neither_chdb_nor_fastapi(wheel: Path) -> None:
    requires = re.findall(r"^Requires-Dist: (.+)$", _metadata(wheel), re.MULTILINE)
    base = [r for r in requires if "extra ==" not in r]
    assert base, requires
    assert not [r for r in base if re.search(r"chdb|fastapi|uvicorn|clickhouse", r, re.IGNORECASE)]
    server = [r for r in requires if "extra == 'server'" in r]
    assert any(r.startswith("clickhouse-connect[chdb]") for r in server)
    assert any(r.startswith("fastapi") for r in server)


def test_installed_wheel_runs_from_another_directory_with_its_own_schema(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
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
