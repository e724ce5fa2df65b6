"""The small things a daily user trips over (issue 15), each pinned by a test.

The truncated ELF header is in test_cli.py (test_truncated_header), beside
the other damaged headers.
"""

from __future__ import annotations

import subprocess
import sys

from .conftest import FIXTURE_BIN

SAMPLE = FIXTURE_BIN / "x86_64" / "probes-O2"
ARM64 = FIXTURE_BIN / "aarch64" / "probes-O2"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "usdtscan", *args],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def test_arch_for_elf_files_warns_once_naming_the_files_architecture() -> None:
    result = run("--arch", "arm64", str(SAMPLE), str(ARM64))
    assert result.returncode == 0
    assert result.stderr == (
        f"usdtscan: {SAMPLE}: warning: --arch arm64 selects a slice of Mach-O files only; "
        "this is an ELF file for x86_64, read whole\n"
    )
    # Both files are still listed in full.
    assert result.stdout.count("probes-O2: ") == 2
    assert run(str(SAMPLE)).stderr == ""
    streamed = run("--json", "--arch", "arm64", str(SAMPLE), str(ARM64))
    assert streamed.returncode == 0 and streamed.stderr == result.stderr
