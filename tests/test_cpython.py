"""The CPython marker report, ``usdtscan check`` and ``usdtscan script``, on real builds.

The corpus holds Debian's CPython 3.11 (executable, libpython, debug build
and its separate debug files) on nine architectures, 3.13, 3.14 and 3.15;
every one must get the right verdict, including the markers its version
is expected to lack.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from usdtscan import cpython
from usdtscan.cli import main
from usdtscan.cpython import MarkerState, check_cpython
from usdtscan.model import Argument, Site
from usdtscan.scripts import kernel_fetcharg

from .conftest import CORPUS, REPO, corpus_file

PY311_AMD64 = "amd64/python3.11-minimal/usr/bin/python3.11"
PY314_AMD64 = "amd64/python3.14-minimal/usr/bin/python3.14"
LIB311_AMD64 = "amd64/libpython3.11/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0"

ALL_311 = {
    "function__entry",
    "function__return",
    "line",
    "gc__start",
    "gc__done",
    "import__find__load__start",
    "import__find__load__done",
    "audit",
}
NO_FRAME = ALL_311 - {"function__entry", "function__return", "line"}


def _cpython_corpus() -> list[Path]:
    if not CORPUS.is_dir():
        return []
    found = []
    for path in sorted(CORPUS.rglob("*")):
        if not path.is_file() or path.name.endswith(".txt") or ".fetch" in path.parts:
            continue
        if "python" in str(path.relative_to(CORPUS)).split("/")[1]:
            found.append(path)
    return found


def _expected_version(path: Path) -> tuple[int, int]:
    package = path.relative_to(CORPUS).parts[1]  # python3.11-minimal, libpython3.14, ...
    return cpython.parse_version(package.split("python", 1)[1].split("-")[0])


# -- the catalogue --------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "names"),
    [
        ((3, 5), set()),
        ((3, 6), {"function__entry", "function__return", "line", "gc__start", "gc__done"}),
        ((3, 7), ALL_311 - {"audit"}),
        ((3, 8), ALL_311),
        ((3, 11), ALL_311),
        ((3, 12), NO_FRAME),
        ((3, 14), NO_FRAME),
        ((3, 15), NO_FRAME | {"function__entry", "function__return"}),
    ],
)
def test_catalogue_rows(version: tuple[int, int], names: set[str]) -> None:
    assert {m.name for m in cpython.expected_markers(version)} == names


def test_instance_markers_are_never_expected() -> None:
    for minor in range(0, 20):
        expected = {m.name for m in cpython.expected_markers((3, minor))}
        assert not any(name.startswith("instance__") for name in expected)


def test_version_parsing_and_caveats() -> None:
    assert cpython.parse_version("3.11") == (3, 11)
    assert cpython.parse_version("3.13.0rc1") == (3, 13)
    with pytest.raises(ValueError):
        cpython.parse_version("three")
    assert any("98894" in c for c in cpython.caveats((3, 11), "line"))
    assert any("trace function" in c for c in cpython.caveats((3, 11), "function__entry"))
    assert cpython.caveats((3, 10), "line") == []
    assert any("documentation" in c for c in cpython.caveats((3, 13), "line"))


def test_file_name_versions() -> None:
    assert cpython.version_from_file_name("/usr/bin/python3.11") == ((3, 11), "")
    assert cpython.version_from_file_name("libpython3.11d.so.1.0") == ((3, 11), "d")
    assert cpython.version_from_file_name("libpython3.7m.so.1.0") == ((3, 7), "m")
    assert cpython.version_from_file_name("python3.11-config") is None


# -- every CPython file of the corpus ------------------------------------------------


@pytest.mark.corpus
@pytest.mark.parametrize("path", _cpython_corpus(), ids=lambda p: str(p.relative_to(CORPUS)))
def test_corpus_verdict(path: Path) -> None:
    version = _expected_version(path)
    result = check_cpython(str(path))
    assert result.error is None
    assert result.interpreter is not None
    assert result.interpreter.version == version
    states = {report.name: report.state for report in result.reports}
    expected = {m.name for m in cpython.expected_markers(version)}
    assert {name for name, state in states.items() if state == MarkerState.PRESENT} == expected
    absent = {name for name, state in states.items() if state == MarkerState.ABSENT_AS_EXPECTED}
    assert absent == {m.name for m in cpython.MARKERS} - expected
    assert result.failures == []
    assert result.status == 0
    if ".build-id" not in path.parts:  # separate debug files keep no read-only data
        assert result.interpreter.version_source == "version string in read-only data"
    else:
        assert str(result.interpreter.version_source).startswith("newest public API symbol")


@pytest.mark.corpus
def test_corpus_argument_shapes_amd64_311() -> None:
    path = corpus_file(PY311_AMD64)
    interpreter = cpython.open_interpreter(str(path))
    by_name = {site.name: site for _, site in interpreter.sites()}
    assert by_name["line"].args_raw == "8@%r14 8@%rax -4@%ebp"
    assert by_name["gc__done"].args_raw == "-8@%r12"
    assert interpreter.detection.full_version == "3.11.2"
    assert interpreter.build == "static"


@pytest.mark.corpus
def test_corpus_32bit_pointers_are_checked_at_4_bytes() -> None:
    path = corpus_file("i386/libpython3.11/usr/lib/i386-linux-gnu/libpython3.11.so.1.0")
    result = check_cpython(str(path))
    assert result.status == 0
    # The same notes judged as 64-bit would be wrong: the check looks at sizes.
    sites = result.interpreter.sites() if result.interpreter else []
    wrong = cpython.evaluate(sites, (3, 11), 8)
    failed = {r.name for r in wrong if r.failed}
    assert failed == {"function__entry", "function__return", "line", "gc__done"} | {
        "import__find__load__start",
        "import__find__load__done",
        "audit",
    }


@pytest.mark.corpus
def test_version_override_changes_the_expectation() -> None:
    path = corpus_file(PY314_AMD64)
    result = check_cpython(str(path), (3, 11))
    assert result.status == 1
    assert {r.name for r in result.failures} == {"function__entry", "function__return", "line"}


# -- the CLI: exit status and output ---------------------------------------------------


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = main(argv)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.mark.corpus
def test_check_human_output_311(capsys: pytest.CaptureFixture[str]) -> None:
    path = corpus_file(PY311_AMD64)
    status, out, _ = _run(["check", "--cpython", str(path)], capsys)
    assert status == 0
    assert f"{path}: CPython 3.11.2, static build: markers in the executable" in out
    assert "present             python:gc__done" in out
    assert "-8@%r12  ok" in out
    assert "98894" in out
    assert "absent-as-expected  python:instance__new__start" in out
    assert out.rstrip().endswith(
        "OK: all 8 markers expected in 3.11 are present with the right arguments"
    )


@pytest.mark.corpus
def test_check_json_314(capsys: pytest.CaptureFixture[str]) -> None:
    path = corpus_file(PY314_AMD64)
    status, out, _ = _run(["check", "--cpython", "--json", str(path)], capsys)
    assert status == 0
    document = json.loads(out)
    assert document["ok"] is True
    (file,) = document["files"]
    assert file["cpython"]["full_version"] == "3.14.10"
    markers = {m["name"]: m for m in file["markers"]}
    assert markers["function__entry"]["state"] == "absent-as-expected"
    assert len(markers["audit"]["sites"]) == 5
    assert markers["gc__start"]["sites"][0]["args"] == "-4@-228(%rbp)"
    assert markers["gc__start"]["signature"] == [{"name": "generation", "type": "int"}]


def _rewrite(source: Path, target: Path, old: bytes, new: bytes) -> None:
    """Copy ``source`` with the one occurrence of ``old`` in its note replaced."""
    assert len(old) == len(new)
    data = source.read_bytes()
    assert data.count(old) == 1, old
    target.write_bytes(data.replace(old, new))


@pytest.mark.corpus
def test_removed_marker_fails_the_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = corpus_file(PY311_AMD64)
    broken = tmp_path / "python3.11"
    # The note holds provider\0name\0args\0: renaming the name removes the marker.
    _rewrite(source, broken, b"python\0gc__done\0", b"python\0gc__dXne\0")
    status, out, _ = _run(["check", "--cpython", str(broken)], capsys)
    assert status == 1
    assert "missing             python:gc__done" in out
    assert "FAIL: missing python:gc__done" in out
    assert "unknown             python:gc__dXne" in out


@pytest.mark.corpus
def test_wrong_argument_size_fails_the_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = corpus_file(PY311_AMD64)
    broken = tmp_path / "python3.11"
    _rewrite(source, broken, b"gc__start\0-4@112(%rsp)", b"gc__start\0-8@112(%rsp)")
    status, out, _ = _run(["check", "--cpython", str(broken)], capsys)
    assert status == 1
    assert "generation (int) is '-8@112(%rsp)', expected -4@" in out
    assert "FAIL: wrong arguments in python:gc__start" in out


def test_unreadable_and_not_cpython_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not an ELF file\n")
    status, _, err = _run(["check", "--cpython", str(text)], capsys)
    assert status == 2
    assert "not an ELF file" in err
    status, _, err = _run(["check", "--cpython", str(tmp_path / "missing")], capsys)
    assert status == 2
    status, _, err = _run(["check", "--cpython", "/bin/true"], capsys)
    assert status == 2
    assert "not a CPython" in err
    # Without --cpython, check lints: a file without probes is clean.
    status, out, _ = _run(["check", "/bin/true"], capsys)
    assert status == 0
    assert "OK: no probe sites" in out


@pytest.mark.corpus
def test_require_any_provider(capsys: pytest.CaptureFixture[str]) -> None:
    libc = corpus_file("amd64/libc6/usr/lib/x86_64-linux-gnu/libc.so.6")
    status, out, _ = _run(
        ["check", "--require", "libc:setjmp,libc:memory_mallopt", str(libc)], capsys
    )
    assert status == 0
    assert "OK: 2 required probes present" in out
    status, out, _ = _run(
        ["check", "--require", "libc:setjmp", "--require", "libc:nope", str(libc)], capsys
    )
    assert status == 1
    assert "FAIL: missing libc:nope" in out
    py = corpus_file(PY311_AMD64)
    status, out, _ = _run(["check", "--cpython", "--require", "python:nope", str(py)], capsys)
    assert status == 1


def test_check_defaults_to_the_running_interpreter(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _run(["check", "--cpython"], capsys)
    assert status in (0, 1)
    assert out.startswith(os.path.realpath(cpython.running_interpreter_files()[0]))


# -- shared builds --------------------------------------------------------------------


@pytest.fixture
def shared_build(tmp_path: Path) -> Path:
    """An ``--enable-shared`` layout: bin/python3, RUNPATH $ORIGIN/../lib, a real libpython."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc not installed")
    library = corpus_file(LIB311_AMD64)
    (tmp_path / "bin").mkdir()
    (tmp_path / "lib").mkdir()
    shutil.copy(library, tmp_path / "lib" / library.name)
    source = tmp_path / "main.c"
    source.write_text(
        "extern int Py_BytesMain(int, char **);\n"
        "int main(int c, char **v) { return Py_BytesMain(c, v); }\n"
    )
    executable = tmp_path / "bin" / "python3"
    subprocess.run(
        [
            "gcc",
            "-o",
            str(executable),
            str(source),
            str(tmp_path / "lib" / library.name),
            "-Wl,--allow-shlib-undefined",
            "-Wl,-rpath,$ORIGIN/../lib",
        ],
        check=True,
    )
    return executable


@pytest.mark.corpus
def test_shared_build_finds_libpython(
    shared_build: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = _run(["check", "--cpython", str(shared_build)], capsys)
    assert status == 0
    library = shared_build.parent.parent / "lib" / "libpython3.11.so.1.0"
    assert f"shared build: markers in {library}" in out
    assert "libpython3.11.so.1.0 found by DT_RUNPATH" in out
    status, out, _ = _run(["script", "stap-calltree", str(shared_build)], capsys)
    assert status == 0
    assert f'process("{shared_build}").library("{library}").mark("function__entry")' in out
    status, out, _ = _run(["script", "bpftrace", str(shared_build)], capsys)
    assert f"usdt:{library}:python:gc__start" in out


# -- scripts -----------------------------------------------------------------------------


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


def test_docs_page_exists() -> None:
    page = (REPO / "docs" / "cpython.rst").read_text()
    assert "usdtscan check --cpython" in page
    assert "--with-dtrace" in page


# -- issue 14: what a user meets first -----------------------------------------------


@pytest.mark.corpus
def test_objcopy_dropped_notes_say_built_without_dtrace(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if shutil.which("objcopy") is None:
        pytest.skip("objcopy not installed")
    broken = tmp_path / "libpython3.11.so.1.0"
    subprocess.run(
        ["objcopy", "--remove-section=.note.stapsdt", str(corpus_file(LIB311_AMD64)), str(broken)],
        check=True,
    )
    status, out, _ = _run(["check", "--cpython", str(broken)], capsys)
    assert status == 1
    assert out.count("missing   ") == 8  # every marker fails
    assert "  note: no .note.stapsdt notes at all: built without --with-dtrace?\n" in out
    assert out.rstrip().endswith("(no .note.stapsdt notes at all: built without --with-dtrace?)")
    # No caveat under a missing marker (audit's would be the one printed).
    assert "caveat:" not in out
    for kind in ("tapset", "stap-calltree", "stap-top", "dtrace-calltree", "bpftrace"):
        status, out, err = _run(["script", kind, str(broken)], capsys)
        assert (status, out) == (1, ""), kind
        assert err == (
            f"usdtscan: {broken}: no probes here (built without --with-dtrace?): "
            f"a '{kind}' script needs at least one\n"
        )
    status, out, err = _run(["script", "uprobe-events", "/bin/true"], capsys)
    assert (status, out) == (1, "")
    assert err.endswith(": no probes here: a 'uprobe-events' script needs at least one\n")


@pytest.mark.corpus
def test_libpython_not_found_is_said_once_and_json_keeps_the_version(
    shared_build: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (shared_build.parent.parent / "lib").rename(shared_build.parent.parent / "elsewhere")
    # An empty sysroot: this machine's own libpython3.11 must not be found instead.
    empty = shared_build.parent.parent / "empty-root"
    empty.mkdir()
    root = ["--sysroot", str(empty)]
    status, out, err = _run(["check", "--cpython", *root, str(shared_build)], capsys)
    assert status == 2
    assert out == ""  # the exit-2 message only on stderr, once
    assert err.count("\n") == 1
    assert err.startswith(f"usdtscan: {shared_build}: needs libpython3.11.so.1.0, which the")
    status, out, err = _run(["check", "--cpython", "--json", *root, str(shared_build)], capsys)
    assert status == 2
    found = json.loads(out)["files"][0]["cpython"]
    assert found["marker_file"] == "libpython3.11.so.1.0"
    assert found["version"] == "3.11"
    assert found["version_source"] == "DT_NEEDED libpython3.11.so.1.0"
    assert found["library"]["path"] is None
    # The listing says how to fix it.
    assert main([*root, str(shared_build)]) == 0
    out = capsys.readouterr().out
    assert "no probes here, and the loader would not find libpython3.11.so.1.0, " in out


@pytest.mark.corpus
def test_listing_a_shared_build_lists_libpython(
    shared_build: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    library = shared_build.parent.parent / "lib" / "libpython3.11.so.1.0"
    assert main([str(shared_build)]) == 0
    out = capsys.readouterr().out
    assert (
        "  note: no probes here; 8 in libpython3.11.so.1.0 (DT_NEEDED, found by DT_RUNPATH), "
        "listed below\n"
    ) in out
    assert f"\n{library}: x86_64, ELF64 little-endian DYN, 8 probes" in out
    loaded = f"  loaded as libpython3.11.so.1.0: DT_NEEDED of {shared_build}, found by DT_RUNPATH"
    assert loaded in out
    assert "python    libpython3.11.so.1.0" in out


def test_free_threaded_names_are_recognised(tmp_path: Path) -> None:
    assert cpython.version_from_file_name("libpython3.13t.so.1.0") == ((3, 13), "t")
    assert cpython.version_from_file_name("python3.13t") == ((3, 13), "t")


def test_a_fifo_is_refused_not_waited_on(tmp_path: Path) -> None:
    """The check once opened the file a first time with a plain ``open()`` to
    look for an ar archive, which blocks on a FIFO until a writer comes (run
    in a child, so that a regression fails instead of hanging the suite)."""
    fifo = tmp_path / "python3.11"
    os.mkfifo(fifo)
    done = subprocess.run(
        [sys.executable, "-m", "usdtscan", "check", "--cpython", str(fifo)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == f"usdtscan: {fifo}: is a FIFO, not a regular file\n"
