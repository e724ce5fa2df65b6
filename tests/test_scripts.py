"""usdtscan.scripts: the scripts' text from real binaries' sites, and the real tools
(stap -p2, bpftrace -d) accepting them; tests/test_live.py runs them."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

import usdtscan
from usdtscan.cli import main
from usdtscan.model import Argument, Site
from usdtscan.scan import scan
from usdtscan.scripts import ScriptTarget, ScriptUnavailableError, generate, kernel_fetcharg

from .conftest import FIXTURE_BIN, corpus_file, run_usdtscan
from .cpython_corpus import LIB311_AMD64, PY311_AMD64, PY314_AMD64

PROBES_O2 = FIXTURE_BIN / "x86_64" / "probes-O2"


def _target(path: os.PathLike[str]) -> ScriptTarget:
    scanned = scan(path)
    real = os.path.realpath(path)
    return ScriptTarget(
        executable=real,
        library=None,
        version=None,
        full_version=None,
        machine=scanned.machine or "?",
        bits=scanned.bits or 64,
        sites=tuple((real, site) for site in scanned.sites),
    )


def test_uprobe_events_are_the_analysis_lines() -> None:
    """Each site's line is the one the analysis gives (--json's ``uprobe``), event
    names included, but for symbol operands: the script decodes without the symbol
    table (those arguments are left out, where the analysis reads ``@+OFFSET``)."""
    target = _target(PROBES_O2)
    lines = [
        line for line in generate("uprobe-events", target).splitlines() if line.startswith("p:")
    ]
    by_event = {}
    for site in usdtscan.analyze(PROBES_O2).sites:
        assert site.uprobe is not None and site.uprobe.line is not None
        by_event[site.uprobe.line.split()[0]] = (site, site.uprobe.line)
    assert len(lines) == len(by_event) == 21
    compared = 0
    for line in lines:
        site, expected = by_event[line.split()[0]]
        assert line.split()[1] == expected.split()[1]
        if "(%rip)" not in site.site.args_raw:
            assert line == expected
            compared += 1
    assert compared >= 15
    event = [line.split()[0] for line in lines if line.startswith("p:fx/event")]
    assert event == ["p:fx/event", "p:fx/event_1", "p:fx/event_2"]


def test_unexpressible_arguments_are_named_in_comments() -> None:
    text = generate("uprobe-events", _target(PROBES_O2))
    assert "# p:fx/floats: cannot express arg1 (4f@%edx)" not in text
    comments = [line for line in text.splitlines() if "cannot express" in line]
    assert comments, text
    assert all(line.startswith("# p:fx/") for line in comments)


def test_bpftrace_script_names_every_probe() -> None:
    text = generate("bpftrace", _target(PROBES_O2))
    real = os.path.realpath(PROBES_O2)
    for probe in usdtscan.analyze(PROBES_O2).probes:
        assert f"usdt:{real}:{probe.provider}:{probe.name}" in text, probe.probe_id


def test_cpython_scripts_need_cpython_markers() -> None:
    with pytest.raises(ScriptUnavailableError):
        generate("stap-calltree", _target(PROBES_O2))


def test_fetcharg_of_a_string_dereferences_it() -> None:
    scanned = scan(PROBES_O2)
    site = next(s for s in scanned.sites if s.name == "unsigned")
    fetch = kernel_fetcharg("x86_64", 64, site.args[3], "string", site)
    assert fetch.text == "+0(%cx):string"
    plain = kernel_fetcharg("x86_64", 64, site.args[3], None, site)
    assert plain.text == "%cx:u64"


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = main(argv)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.mark.corpus
def test_scripts_follow_the_catalogue(capsys: pytest.CaptureFixture[str]) -> None:
    py314 = corpus_file(PY314_AMD64)
    for kind in ("tapset", "stap-calltree", "stap-top", "dtrace-calltree"):
        status, out, err = _run(["script", kind, str(py314)], capsys)
        assert status == 1
        assert out == ""
        assert "no function__entry or function__return marker" in err
    status, out, _ = _run(["script", "bpftrace", str(py314)], capsys)
    assert status == 0
    assert "function__entry" not in out
    assert out.count("python:audit") == 1
    assert 'printf("%s generation=%d\\n", probe, arg0);' in out


@pytest.mark.corpus
def test_uprobe_events_lines(capsys: pytest.CaptureFixture[str]) -> None:
    path = corpus_file(PY311_AMD64)
    status, out, _ = _run(["script", "uprobe-events", str(path)], capsys)
    assert status == 0
    real = os.path.realpath(path)
    lines = [line for line in out.splitlines() if line.startswith("p:")]
    assert f"p:python/gc__done {real}:0x28859(0x683d30) collected=%r12:s64" in lines
    assert f"p:python/gc__start {real}:0x28911(0x683d2e) generation=+112(%sp):s32" in lines
    assert (
        f"p:python/function__entry {real}:0xf2436(0x683d20) "
        "filename=+0(%bp):string funcname=+0(%r12):string lineno=%ax:s32"
    ) in lines
    # line crashes 3.11: written out, but commented.
    assert not any(line.startswith("p:python/line") for line in lines)
    assert "# disabled: enabling line crashes CPython 3.11 (CPython issue 98894)" in out


@pytest.mark.corpus
def test_uprobe_events_numbers_sites_like_perf(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _run(["script", "uprobe-events", str(corpus_file(PY314_AMD64))], capsys)
    assert status == 0
    events = [line.split()[0] for line in out.splitlines() if line.startswith("p:python/audit")]
    assert events == [f"p:python/audit{suffix}" for suffix in ("", "_1", "_2", "_3", "_4")]


@pytest.mark.corpus
def test_other_architectures_say_what_they_cannot_express(
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = corpus_file("arm64/python3.11-minimal/usr/bin/python3.11")
    status, out, _ = _run(["script", "uprobe-events", str(path)], capsys)
    assert status == 0
    lines = out.splitlines()
    (done,) = [line for line in lines if line.startswith("p:python/gc__done ")]
    assert done.endswith(" collected=%x28:s64")
    (start,) = [line for line in lines if line.startswith("p:python/gc__start ")]
    assert start.endswith(" generation=+152(%sp):s32")
    # Stripped glibc: a rip-relative operand naming a symbol that is not there.
    libc = corpus_file("amd64/libc6/usr/lib/x86_64-linux-gnu/libc.so.6")
    status, out, _ = _run(["script", "uprobe-events", str(libc)], capsys)
    assert status == 0
    assert (
        "# p:libc/memory_mallopt_arena_max: cannot express arg2 (8@32+mp_(%rip)): "
        "symbol mp_ is not in the symbol table"
    ) in out.splitlines()


@pytest.mark.corpus
def test_any_provider_gets_bpftrace_and_uprobe_events(capsys: pytest.CaptureFixture[str]) -> None:
    libc = corpus_file("amd64/libc6/usr/lib/x86_64-linux-gnu/libc.so.6")
    status, out, _ = _run(["script", "bpftrace", str(libc)], capsys)
    assert status == 0
    assert f"usdt:{os.path.realpath(libc)}:libc:setjmp" in out
    status, out, _ = _run(["script", "uprobe-events", str(libc)], capsys)
    assert status == 0
    assert any(line.startswith("p:libc/setjmp ") for line in out.splitlines())
    status, _, err = _run(["script", "tapset", str(libc)], capsys)
    assert status == 1
    assert "not recognised as CPython" in err


@pytest.mark.parametrize(
    ("raw", "kind", "expected"),
    [
        ("-4@%ebp", None, "%bp:s32"),
        ("8@%r14", "string", "+0(%r14):string"),
        ("-4@-268(%rbp)", None, "-268(%bp):s32"),
        ("-4@112(%rsp)", None, "+112(%sp):s32"),
        ("8@(%rdi)", "string", "+0(+0(%di)):string"),
        ("8@%r15", "object", "%r15:x64"),
        ("-4@%r15d", None, "%r15:s32"),
        ("1@$5", None, "\\5:u8"),
        ("4@%ah", None, None),
        ("8@(%rax,%rbx,8)", None, None),
        ("8@sym(%rip)", None, None),
    ],
)
def test_x86_fetchargs(raw: str, kind: str | None, expected: str | None) -> None:
    size, operand = raw.split("@", 1)
    argument = Argument(raw, abs(int(size)), size.startswith("-"), False, operand)
    site = Site("p", "n", raw, (argument,), 0x1000, 0x1000, None, None, None)
    fetch = kernel_fetcharg("x86_64", 64, argument, kind, site)
    assert fetch.text == expected
    assert (fetch.reason is None) == (expected is not None)


# -- the scripts parse in the real tools ---------------------------------------------------


def _fake_kernel_tree(root: Path) -> Path:
    """The files ``stap -r DIR`` reads before pass 2; user-space probes need no more."""
    (root / "include" / "config").mkdir(parents=True)
    (root / "include" / "config" / "kernel.release").write_text("6.1.0-usdtscan\n")
    (root / ".config").write_text(
        "CONFIG_UPROBES=y\nCONFIG_UPROBE_EVENTS=y\nCONFIG_TRACEPOINTS=y\n"
        "CONFIG_ARCH_SUPPORTS_UPROBES=y\nCONFIG_KPROBES=y\nCONFIG_MODULES=y\n"
    )
    (root / "Makefile").write_text("")
    (root / "Module.symvers").write_text("")
    return root


@pytest.mark.corpus
@pytest.mark.skipif(shutil.which("stap") is None, reason="systemtap not installed")
@pytest.mark.parametrize(
    "relative", [PY311_AMD64, LIB311_AMD64, "amd64/python3.15-minimal/usr/bin/python3.15"]
)
def test_stap_pass2_accepts_the_scripts(
    relative: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = corpus_file(relative)
    kernel = _fake_kernel_tree(tmp_path / "kernel")
    tapsets = tmp_path / "tapsets"
    tapsets.mkdir()
    scripts = {}
    for kind in ("stap-calltree", "stap-top"):
        assert main(["script", kind, str(path)]) == 0
        scripts[kind] = capsys.readouterr().out
    assert main(["script", "tapset", "--alias", "usdtscan_py", str(path)]) == 0
    (tapsets / "usdtscan_py.stp").write_text(capsys.readouterr().out)
    scripts["tapset use"] = (
        "probe usdtscan_py.function.entry, usdtscan_py.function.return "
        '{ printf("%s %s %d\\n", filename, funcname, lineno) }\n'
    )
    for kind, text in scripts.items():
        script = tmp_path / f"{kind.replace(' ', '_')}.stp"
        script.write_text(text)
        result = subprocess.run(
            ["stap", "-r", str(kernel), "-I", str(tapsets), "-p2", str(script)],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert result.returncode == 0, f"{kind}: {result.stderr}"
        assert "process(" in result.stdout  # the resolved probe points


@pytest.mark.corpus
@pytest.mark.skipif(shutil.which("bpftrace") is None, reason="bpftrace not installed")
@pytest.mark.parametrize("relative", [PY311_AMD64, PY314_AMD64, LIB311_AMD64])
def test_bpftrace_dry_run_accepts_the_script(
    relative: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["script", "bpftrace", str(corpus_file(relative))]) == 0
    script = tmp_path / "probes.bt"
    script.write_text(capsys.readouterr().out)
    result = subprocess.run(
        ["bpftrace", "-d", str(script)], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "couldn't get argument" not in result.stderr
    # A BPF program is generated for each site of every probe not commented out.
    probes = [line for line in script.read_text().splitlines() if line.startswith("usdt:")]
    programs = [
        line for line in result.stdout.splitlines() if line.startswith('define i64 @"usdt:')
    ]
    assert probes
    for probe in probes:
        assert any(line.startswith(f'define i64 @"{probe}"') for line in programs), probe


_EXECUTABLES = sorted(p for p in FIXTURE_BIN.glob("*/probes-O[02]") if p.is_file())


@pytest.mark.parametrize("path", _EXECUTABLES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_uprobe_events_script_lines_are_the_json_ones(path: Path) -> None:
    """The script and --json spell each site's uprobe line alike, symbol operands
    included (``g_i32(%rip)`` is ``@+0x40a0``; the script once had no symbols)."""
    from usdtscan.analysis import analyze_scanned

    script = run_usdtscan("script", "uprobe-events", str(path))
    assert script.returncode == 0, script.stderr
    lines = sorted(line for line in script.stdout.splitlines() if line.startswith("p:"))
    report = analyze_scanned(scan(path))
    expected = sorted(r.uprobe.line for r in report.sites if r.uprobe and r.uprobe.line)
    assert lines == expected
    assert len(lines) >= 10


def test_uprobe_events_script_reads_symbol_operands() -> None:
    script = run_usdtscan("script", "uprobe-events", str(FIXTURE_BIN / "x86_64" / "probes-O2"))
    (globals_line,) = [
        line for line in script.stdout.splitlines() if line.startswith("p:fx/globals ")
    ]
    assert globals_line.endswith(
        "arg1=@+0x40a6:s8 arg2=@+0x40a4:u16 arg3=@+0x40a0:s32 arg4=@+0x4098:u64 "
        "arg5=@+0x4088:x64 arg6=@+0x40c0:s32"
    )
