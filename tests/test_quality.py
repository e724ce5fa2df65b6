"""The project's own gates: ruff, mypy --strict and a warning-free Sphinx build.

They run where the tools are installed (scripts/test.sh installs the lint and
docs extras), so CI enforces what the developers' guide asks for.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

from .conftest import REPO


def _have(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)


@pytest.mark.skipif(not _have("ruff"), reason="ruff not installed (pip install -e '.[lint]')")
def test_ruff() -> None:
    result = _run(
        sys.executable, "-m", "ruff", "check", "usdtscan", "tests", "benchmarks", "scripts"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    result = _run(
        sys.executable,
        "-m",
        "ruff",
        "format",
        "--check",
        "usdtscan",
        "tests",
        "benchmarks",
        "scripts",
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(not _have("mypy"), reason="mypy not installed (pip install -e '.[lint]')")
def test_mypy_strict() -> None:
    result = _run(sys.executable, "-m", "mypy", "--strict", "usdtscan")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(not _have("sphinx"), reason="sphinx not installed (pip install -e '.[docs]')")
def test_docs_build_without_warnings(tmp_path: object) -> None:
    result = _run(sys.executable, "-m", "sphinx", "-W", "-q", "-b", "html", "docs", str(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
