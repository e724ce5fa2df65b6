"""The analysis stage: one set of report objects that the JSON, the text and the API share."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import usdtscan
from usdtscan.analysis import check_site_bytes
from usdtscan.cli import main
from usdtscan.render import json as json_render
from usdtscan.sitecheck import SDT_NOPS, check_by_table

from .conftest import FIXTURE_BIN, REPO, corpus_binaries, fixture_binaries

PROBES_O2 = FIXTURE_BIN / "x86_64" / "probes-O2"


def _cli_json(path: Path, capsys: pytest.CaptureFixture[str]) -> object:
    main(["--json", str(path)])
    return json.loads(capsys.readouterr().out)


def test_api_reports_what_the_json_says() -> None:
    report = usdtscan.analyze(PROBES_O2)
    (site,) = [s for s in report.sites if s.site.name == "unsigned"]
    assert site.arguments is not None
    first = site.arguments[0]
    assert (first.raw, first.location.kind) == ("1@%dil", "register")
    assert first.location == usdtscan.analysis.Register("dil", "rdi", 8, 0, "gpr")
    assert first.verdicts["libbpf"] == usdtscan.Verdict(True)
    assert site.check == usdtscan.InstructionCheck("nop", True, 1, "x86-64", encoding="nop")
    assert site.uprobe is not None and site.uprobe.line is not None
    assert site.uprobe.line.endswith(":0x1270 arg1=%di:u8 arg2=%si:u16 arg3=%dx:u32 arg4=%cx:u64")
    assert site.verdicts == {t: usdtscan.Verdict(True) for t in ("libbpf", "bcc", "gdb")}
    floats = next(s for s in report.sites if s.site.name == "floats")
    assert floats.verdicts["libbpf"].ok is False
    assert floats.verdicts["libbpf"].why == "arg1: float argument (4f@%edx): libbpf reads integers"


def test_one_uprobe_naming_rule_for_json_and_script(capsys: pytest.CaptureFixture[str]) -> None:
    """perf's rule: the probe's name for its first site, NAME_1, NAME_2 for the others."""
    document = _cli_json(PROBES_O2, capsys)
    assert isinstance(document, dict)
    lines = [s["uprobe"] for s in document["files"][0]["probes"] if s["name"] == "event"]
    from_json = [line.split()[0] for line in lines]
    assert from_json == ["p:fx/event", "p:fx/event_1", "p:fx/event_2"]
    assert main(["script", "uprobe-events", str(PROBES_O2)]) == 0
    script = capsys.readouterr().out
    from_script = [line.split()[0] for line in script.splitlines() if line.startswith("p:fx/event")]
    assert from_script == from_json
    assert [line.split(" ", 1)[1] for line in lines] == [
        line.split(" ", 1)[1] for line in script.splitlines() if line.startswith("p:fx/event")
    ]


def _every_input() -> list[Path]:
    return fixture_binaries() + corpus_binaries()


@pytest.mark.corpus
def test_json_is_the_api_objects_rendered(capsys: pytest.CaptureFixture[str]) -> None:
    """For every fixture and corpus file, ``--json`` is exactly ``usdtscan.analyze()`` rendered."""
    paths = _every_input()
    checked = 0
    for path in paths:
        try:
            report = usdtscan.analyze(path)
        except usdtscan.UsdtscanError:
            continue
        expected = json.loads(json_render.render([report]))
        assert _cli_json(path, capsys) == expected, path
        checked += 1
    assert checked >= len(fixture_binaries())


def test_renderers_import_no_decoder() -> None:
    """render/ formats reports: it never reaches the grammars, uprobe or disasm."""
    forbidden = ("args", "uprobe", "disasm", "sitecheck", "consumers")
    for source in sorted((REPO / "usdtscan" / "render").glob("*.py")):
        tree = ast.parse(source.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level >= 1:
                top = (node.module or "").split(".")[0]
                assert top not in forbidden, f"{source.name} imports {node.module}"


def test_nop_table_agrees_with_capstone() -> None:
    """Each byte pattern of the table is what capstone says it is, so the table's
    answer and the fallback's never differ."""
    pytest.importorskip("capstone")
    from usdtscan.disasm import disassemble_check
    from usdtscan.model import CodeWindow

    for (machine, endian), patterns in SDT_NOPS.items():
        for pattern, text, mode in patterns:
            window = CodeWindow(0x1000, pattern + b"\x00" * 8, 0)
            by_table = check_by_table(window, machine, endian)
            assert by_table is not None
            shown = (by_table.instruction, by_table.ok, by_table.size, by_table.mode)
            assert shown == (text, True, len(pattern), mode)
            if machine.startswith("riscv32"):
                continue  # capstone 5's riscv32 mode is exercised by riscv64's entries
            capstone = disassemble_check(window, machine, endian)
            assert (capstone.instruction, capstone.ok, capstone.size, capstone.mode) == shown


def test_unknown_bytes_fall_back_to_capstone() -> None:
    pytest.importorskip("capstone")
    from usdtscan.model import CodeWindow

    window = CodeWindow(0x1000, bytes.fromhex("c3") + b"\x00" * 8, 0)
    assert check_by_table(window, "x86_64", "little") is None
    check = check_site_bytes(window, "x86_64", "little")
    assert (check.instruction, check.ok, check.reason) == ("retq", False, "not a nop")


def _imported_modules(*arguments: str) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "usdtscan", *arguments],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [line for line in done.stderr.splitlines() if line.startswith("import time:")]
    return {line.rsplit("|", 1)[1].strip() for line in lines}


def test_json_of_an_ordinary_file_does_not_import_capstone() -> None:
    modules = _imported_modules("--json", str(PROBES_O2))
    assert "usdtscan.analysis" in modules
    assert "capstone" not in modules
    assert "usdtscan.disasm" not in modules


def test_the_table_loads_no_operand_grammar() -> None:
    modules = _imported_modules(str(PROBES_O2))
    assert "usdtscan.args.decode" not in modules
    assert "usdtscan.args.x86" not in modules
    assert "capstone" not in modules
