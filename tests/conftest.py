"""Shared locations for the test suite.

``fixtures/bin`` holds small binaries compiled from ``fixtures/src`` by
``fixtures/build.sh``; the corpus of real Debian binaries lives outside the
repository (``$USDTSCAN_CORPUS``, default ``~/.cache/usdtscan-corpus``,
filled by ``../shared/corpus/fetch``) and its tests are skipped when absent.
"""

from __future__ import annotations

import os
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
