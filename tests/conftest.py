"""Shared locations for the test suite.

``fixtures/bin`` holds small binaries compiled from ``fixtures/src`` by
``fixtures/build.sh``; the corpus of real Debian binaries lives outside the
repository (``$USDTSCAN_CORPUS``, default ``~/.cache/usdtscan-corpus``,
filled by ``../shared/corpus/fetch``) and its tests are skipped when absent.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "fixtures"
FIXTURE_BIN = FIXTURES / "bin"
CORPUS = Path(os.environ.get("USDTSCAN_CORPUS", Path.home() / ".cache" / "usdtscan-corpus"))


def fixture_binaries() -> list[Path]:
    """Every compiled fixture that has a readelf oracle beside it."""
    oracles = FIXTURE_BIN.rglob("*.readelf-n.txt")
    return sorted(p.with_name(p.name[: -len(".readelf-n.txt")]) for p in oracles)


def corpus_binaries() -> list[Path]:
    """Every corpus file that has a readelf oracle beside it (empty when not fetched)."""
    if not CORPUS.is_dir():
        return []
    return sorted(
        p.with_name(p.name[: -len(".readelf-n.txt")])
        for p in CORPUS.rglob("*.readelf-n.txt")
        if ".fetch" not in p.parts
    )


def corpus_file(relative: str) -> Path:
    """One corpus file, or a skip when the corpus is not there."""
    path = CORPUS / relative
    if not path.is_file():
        pytest.skip(f"corpus file {relative} not fetched (../shared/corpus/fetch {CORPUS})")
    return path


def run_usdtscan(
    *args: str, timeout: float = 120, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The installed CLI as a user runs it, from this interpreter: no stdin (a test
    must never wait on a terminal), text output, and a bound on a hang."""
    return subprocess.run(
        [sys.executable, "-m", "usdtscan", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        env=None if env is None else {**os.environ, **env},
    )
