"""``usdtscan check``'s plumbing (usdtscan/checkrun.py): options, usage errors, statuses.

What the checks find is tested with the checks (test_lint.py, test_cpython.py,
test_check_api.py); here, what the command does with it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from usdtscan.checkrun import ignored_ids
from usdtscan.cli import main

from .conftest import FIXTURE_BIN

SAMPLE = FIXTURE_BIN / "x86_64" / "probes-O2"


def test_ignored_ids_split_commas_and_repeats() -> None:
    assert ignored_ids(["site-nop5, base-zero", "", "too-many-args,"]) == [
        "site-nop5",
        "base-zero",
        "too-many-args",
    ]


def test_unknown_finding_id_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--ignore", "no-such-id", str(SAMPLE)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    usage, message = err.splitlines()[0], err.splitlines()[-1]
    assert usage.startswith("usage: usdtscan check ")
    assert message.startswith("usdtscan check: unknown finding ID no-such-id (known: ")
    assert "site-nop5" in message


def test_lint_needs_a_path(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check"]) == 2
    assert capsys.readouterr().err.endswith("usdtscan check: give a PATH to lint (or --cpython)\n")


def test_bad_require_is_argparse_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--require", "nocolon", str(SAMPLE)]) == 2
    assert "argument --require: 'nocolon' is not provider:name" in capsys.readouterr().err


def test_require_in_lint_mode_names_the_missing(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--require", "fx:event,fx:nothere", str(SAMPLE)]) == 1
    out = capsys.readouterr().out
    assert "  missing             fx:nothere" in out
    assert out.endswith("  FAIL: missing fx:nothere\n")
    assert main(["check", "--json", "--require", "fx:event", str(SAMPLE)]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["ok"] is True and document["status"] == 0
    assert document["files"][0]["markers"] == [
        {"probe": "fx:event", "state": "present", "ok": True}
    ]
    assert document["files"][0]["failed"] == []


def test_unreadable_provider_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "none.d"
    assert main(["check", "--provider", str(missing), str(SAMPLE)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"usdtscan: {missing}: no such provider file\n"


def test_provider_file_compared(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    declared = tmp_path / "fx.d"
    declared.write_text(
        "provider fx {\n  probe nothere(int);\n  probe done(char);\n"
        "  probe event(char);\n  probe one(int, int);\n  probe zero();\n};\n"
    )
    assert main(["check", "--json", "--provider", str(declared), str(SAMPLE)]) == 1
    findings = json.loads(capsys.readouterr().out)["files"][0]["findings"]
    problems = [(f["id"], f["message"]) for f in findings if f["id"].startswith("provider-")]
    assert problems[:4] == [
        ("provider-missing", "fx:nothere (1 arguments) is declared but not in the binary"),
        ("provider-arg-type", "fx:done: arg1 (char) declared -1 for x86_64 ELF64, called with -4"),
        ("provider-arg-count", "fx:event is declared with 1 arguments, called with 2"),
        ("provider-arg-count", "fx:one is declared with 2 arguments, called with 1"),
    ]
    # The 16 probes of the binary less the 4 declared ones (fx:zero agrees).
    assert [kind for kind, _ in problems[4:]] == ["provider-undeclared"] * 12


def test_the_worst_file_gives_the_status(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing"
    assert main(["check", str(SAMPLE), str(missing)]) == 2
    out, err = capsys.readouterr()
    assert err == f"usdtscan: {missing}: no such file or directory\n"
    assert out.startswith(f"{SAMPLE}: x86_64 ELF64, ")
