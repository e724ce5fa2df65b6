"""benchmarks/many_elf.py writes the benchmark's large inputs directly: readelf must agree."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path

import pytest

import usdtscan

from .conftest import REPO
from .oracle import readelf_notes


def _writer() -> object:
    spec = importlib.util.spec_from_file_location("many_elf", REPO / "benchmarks" / "many_elf.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(shutil.which("readelf") is None, reason="binutils not installed")
def test_generated_file_reads_the_same_in_readelf_and_usdtscan(tmp_path: Path) -> None:
    path = tmp_path / "many"
    path.write_bytes(_writer().build(600))  # type: ignore[attr-defined]
    done = subprocess.run(["readelf", "-n", str(path)], capture_output=True, text=True)
    assert done.returncode == 0 and done.stderr == ""
    notes = readelf_notes(done.stdout)
    sites = usdtscan.probes(path)
    assert len(notes) == len(sites) == 600
    assert [(n.name, n.pc, n.args) for n in notes] == [
        (s.name, s.address, s.args_raw) for s in sites
    ]
    assert sites[3].args_raw == "1@$3 -2@$-3 8@%rdx"
    assert sites[251].function == "chunk1+0x1"
    report = usdtscan.analyze(path)
    assert all(s.check is not None and s.check.ok for s in report.sites)
