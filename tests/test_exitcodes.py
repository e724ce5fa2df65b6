"""The exit statuses (usdtscan/exitcodes.py) as the commands give them, and the one
rule that turns a check's result into its status."""

from __future__ import annotations

from pathlib import Path

import pytest

from usdtscan.cli import main
from usdtscan.exitcodes import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_TROUBLE,
    check_status,
)

from .conftest import FIXTURE_BIN

SAMPLE = FIXTURE_BIN / "x86_64" / "probes-O2"


def test_the_documented_values() -> None:
    """docs/errors.rst and docs/checks.rst name these numbers; scripts test them."""
    assert (EXIT_OK, EXIT_FAILED, EXIT_TROUBLE, EXIT_INTERRUPTED) == (0, 1, 2, 130)


def test_check_status_trouble_before_failure() -> None:
    assert check_status(None, failed=False) == EXIT_OK
    assert check_status(None, failed=True) == EXIT_FAILED
    # An input that could not be read is trouble even when what was read failed.
    assert check_status("truncated ELF header", failed=True) == EXIT_TROUBLE
    assert check_status("truncated ELF header", failed=False) == EXIT_TROUBLE


def test_each_command_gives_each_status(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = str(tmp_path / "missing")
    assert main([str(SAMPLE)]) == EXIT_OK
    assert main([missing]) == EXIT_TROUBLE
    assert main(["check", str(SAMPLE)]) == EXIT_OK
    assert main(["check", "--require", "fx:nothere", str(SAMPLE)]) == EXIT_FAILED
    assert main(["check", missing]) == EXIT_TROUBLE
    assert main(["diff", str(SAMPLE), str(SAMPLE)]) == EXIT_OK
    assert main(["diff", str(SAMPLE), str(FIXTURE_BIN / "x86_64" / "wait")]) == EXIT_FAILED
    assert main(["diff", str(SAMPLE), missing]) == EXIT_TROUBLE
    assert main(["script", "bpftrace", str(SAMPLE)]) == EXIT_OK
    assert main(["script", "dtrace-calltree", str(SAMPLE)]) == EXIT_FAILED
    assert main(["script", "bpftrace", missing]) == EXIT_TROUBLE
    capsys.readouterr()
