"""usdtscan.cpython.check and ``usdtscan check --cpython``: the verdict on real builds.

Every CPython file of the corpus must get the right verdict, including the
markers its version is expected to lack; the command's text and JSON are
asserted on Debian's 3.11 and 3.14, on doctored copies and on shared builds.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from usdtscan.cli import main
from usdtscan.cpython import (
    NO_DTRACE,
    MarkerState,
    check_cpython,
    expected_markers,
    running_interpreter_files,
)
from usdtscan.cpython.catalogue import MARKERS

from .conftest import CORPUS, REPO, corpus_file
from .cpython_corpus import (
    LIB311_AMD64,
    PY311_AMD64,
    PY314_AMD64,
    cpython_corpus,
    expected_version,
    rewrite,
    shared_build,
)

__all__ = ["shared_build"]  # a fixture, used by name


# -- every CPython file of the corpus ------------------------------------------------


@pytest.mark.corpus
@pytest.mark.parametrize("path", cpython_corpus(), ids=lambda p: str(p.relative_to(CORPUS)))
def test_corpus_verdict(path: Path) -> None:
    version = expected_version(path)
    result = check_cpython(str(path))
    assert result.error is None
    assert result.interpreter is not None
    assert result.interpreter.version == version
    states = {report.name: report.state for report in result.reports}
    expected = {m.name for m in expected_markers(version)}
    assert {name for name, state in states.items() if state == MarkerState.PRESENT} == expected
    absent = {name for name, state in states.items() if state == MarkerState.ABSENT_AS_EXPECTED}
    assert absent == {m.name for m in MARKERS} - expected
    assert result.failures == []
    assert result.status == 0
    if ".build-id" not in path.parts:  # separate debug files keep no read-only data
        assert result.interpreter.version_source == "version string in read-only data"
    else:
        assert str(result.interpreter.version_source).startswith("newest public API symbol")


@pytest.mark.corpus
def test_versions_outside_the_catalogue_get_a_note() -> None:
    path = corpus_file(PY311_AMD64)
    old = check_cpython(path, "3.5")
    assert old.notes == ["CPython gained --with-dtrace in 3.6: no marker is expected"]
    assert {r.state for r in old.reports} == {
        MarkerState.UNEXPECTED,
        MarkerState.ABSENT_AS_EXPECTED,
    }
    assert old.status == 0
    new = check_cpython(path, (3, 19))
    assert new.notes == ["newer than the catalogue (3.15): checked against its last row"]
    assert new.missing == []


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


@pytest.mark.corpus
def test_removed_marker_fails_the_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = corpus_file(PY311_AMD64)
    broken = tmp_path / "python3.11"
    # The note holds provider\0name\0args\0: renaming the name removes the marker.
    rewrite(source, broken, b"python\0gc__done\0", b"python\0gc__dXne\0")
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
    rewrite(source, broken, b"gc__start\0-4@112(%rsp)", b"gc__start\0-8@112(%rsp)")
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
    assert out.startswith(os.path.realpath(running_interpreter_files()[0]))


# -- shared builds --------------------------------------------------------------------


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
    result = check_cpython(broken)
    assert (result.status, result.notes) == (1, [NO_DTRACE])
    assert len(result.missing) == 8
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
