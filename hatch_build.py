"""Wheel build hook: compile the span decoding path with mypyc, and its C column reader.

Every span the server ingests passes through three modules: OTLP decoding
(``llmtrace_server/otlp.py``), the mapping to a ``spans`` row (``llmtrace/store/rows.py``, with
``llmtrace/store/dialects.py``) and
pricing (``llmtrace/_internal/pricing.py``). They are plain, fully typed Python; mypyc compiles
the same source to a C extension, which cut the decode workers' CPU per span by about a fifth
and the whole server's by 15% (measured with ``benchmarks/ingest.py --decoder both``). There is one implementation: the wheel
carries each ``.py`` beside its compiled module, and Python imports the compiled one.

* ``server/llmtrace_server/_cwire.c`` (:data:`C_EXTENSIONS`) is built in the same step: the C
  reader of the common OTLP body (:mod:`llmtrace_server.cwire`); without it every body takes the
  Python path, with the same results.
* Editable installs (``pip install -e``) stay pure Python, so an edited module takes effect at once
  and no stale compiled copy can shadow it.
* ``LLMTRACE_PURE_PYTHON=1`` builds a pure-Python wheel.
* Without a C compiler the build says so and falls back to pure Python: the same code, slower.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

COMPILED_MODULES = (
    "llmtrace/_internal/pricing.py",
    "llmtrace/store/rows.py",
    "llmtrace/store/dialects.py",  # other instrumentations' shapes, called by rows for every span
    "server/llmtrace_server/otlp.py",
    "server/llmtrace_server/otlp_wire.py",  # reads the protobuf bytes itself: pays only compiled
)

# C sources built as extensions of their own (CPython C API only), beside the mypyc modules.
C_EXTENSIONS = {
    # the common OTLP trace body straight into Arrow column buffers (llmtrace_server.cwire)
    "llmtrace_server._cwire": "server/llmtrace_server/_cwire.c",
}

_SETUP = """\
from setuptools import Extension, setup
from mypyc.build import mypycify

setup(
    name="llmtrace-compiled",
    ext_modules=[
        *mypycify({paths!r}, target_dir={target!r}, group_name="llmtrace_compiled"),
        *[Extension(name, [source], extra_compile_args=["-O2"]) for name, source in {c_sources!r}],
    ],
)
"""


class MypycBuildHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if version == "editable" or os.environ.get("LLMTRACE_PURE_PYTHON"):
            return
        self._work = Path(tempfile.mkdtemp(prefix="llmtrace-mypyc-"))
        try:
            built = self._compile(self._work)
        except (OSError, subprocess.CalledProcessError, ImportError) as exc:
            output = getattr(exc, "stdout", None) or str(exc)
            self.app.display_warning(f"mypyc compilation failed; building a pure-Python wheel:\n{output}")
            return
        build_data["pure_python"] = False
        build_data["infer_tag"] = True
        build_data["force_include"].update(built)

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        work = getattr(self, "_work", None)
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)

    def _compile(self, work: Path) -> dict[str, str]:
        """Compile :data:`COMPILED_MODULES`; map each built extension to its path in the wheel."""
        import mypyc.build  # noqa: F401  (fail early, as ImportError, when mypy is missing)

        root = Path(self.root)
        paths = [str(root / module) for module in COMPILED_MODULES]
        # mypy finds the imported modules from the files' own package roots (`.` and `server/`);
        # third-party packages may be absent from an isolated build environment and type as Any.
        c_sources = [(name, str(root / source)) for name, source in C_EXTENSIONS.items()]
        setup = _SETUP.format(
            paths=[*paths, "--ignore-missing-imports"], target=str(work / "c"), c_sources=c_sources
        )
        (work / "setup.py").write_text(setup)
        lib = work / "lib"
        # Run from the work directory: setuptools would otherwise read this project's pyproject.toml.
        subprocess.run(
            [
                sys.executable,
                "setup.py",
                "build_ext",
                "--build-lib",
                str(lib),
                "--build-temp",
                str(work / "tmp"),
            ],
            cwd=work,
            check=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        return {str(path): path.relative_to(lib).as_posix() for path in lib.rglob("*.so")}
