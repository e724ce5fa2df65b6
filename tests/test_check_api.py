"""``usdtscan.check_cpython``: the CPython check as a typed result, on real builds.

The CLI is a layer over the function, so for every CPython file of the
corpus the ``check --cpython --json`` document must be exactly the API's
object rendered; the values themselves are asserted against what Debian's
builds hold.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import usdtscan
from usdtscan.cli import main
from usdtscan.render.checks import cpython_check_json, diff_json, lint_json

from .conftest import CORPUS, FIXTURE_BIN, corpus_binaries, corpus_file, fixture_binaries
from .cpython_corpus import (  # the corpus list and the --enable-shared layout
    ALL_311,
    LIB311_AMD64,
    NO_FRAME,
    PY311_AMD64,
    PY314_AMD64,
    cpython_corpus,
    expected_version,
    shared_build,
)

__all__ = ["shared_build"]  # a fixture, used by name


def _cli_json(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, object]]:
    status = main(["check", "--cpython", "--json", *argv])
    return status, json.loads(capsys.readouterr().out)


@pytest.mark.corpus
@pytest.mark.parametrize(
    "path",
    cpython_corpus(),
    ids=lambda p: str(p.relative_to(CORPUS)) if CORPUS in p.parents else p,
)
def test_cli_json_is_the_api_result_rendered(
    path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = usdtscan.check_cpython(path)
    status, document = _cli_json([str(path)], capsys)
    assert document == json.loads(json.dumps(cpython_check_json([result])))
    assert status == result.status
    assert result.ok and result.status == 0 and result.error is None, result.error
    assert result.version == expected_version(path)
    assert result.missing == []
    where = result.where
    assert where is not None
    assert (where.path, where.found_by) == (str(path), "the checked file")
    assert where.kind == ("libpython" if path.name.startswith("libpython") else "executable")
    present = {r.name for r in result.reports if r.state == "present"}
    restored = {"function__entry", "function__return"}  # 3.15 brought these back, not line
    assert present == {(3, 11): ALL_311, (3, 15): NO_FRAME | restored}.get(result.version, NO_FRAME)
    for report in result.reports:
        assert (report.state == "present") == bool(report.sites)
        for checked in report.sites:
            assert checked.file == str(path)
            assert checked.problems == []


def test_the_corpus_is_there_when_expected() -> None:
    if CORPUS.is_dir():
        assert len(cpython_corpus()) >= 20


@pytest.mark.corpus
def test_values_of_debian_python311() -> None:
    path = corpus_file(PY311_AMD64)
    result = usdtscan.check_cpython(path)
    assert (result.ok, result.version, result.full_version) == (True, (3, 11), "3.11.2")
    by_name = {report.name: report for report in result.reports}
    gc_done = by_name["gc__done"]
    assert (gc_done.probe_id, gc_done.state, gc_done.expected) == (
        "python:gc__done",
        "present",
        True,
    )
    (site,) = gc_done.sites
    assert (site.site.args_raw, site.site.file_offset) == ("-8@%r12", 0x28859)
    assert by_name["instance__new__start"].state == "absent-as-expected"
    assert by_name["line"].caveats[0].startswith("enabling it crashes the 3.11 interpreter")


@pytest.mark.corpus
def test_a_version_override_changes_the_catalogue() -> None:
    path = corpus_file(PY314_AMD64)
    assert usdtscan.check_cpython(path).version == (3, 14)
    for version in ("3.11", (3, 11)):
        result = usdtscan.check_cpython(path, version)
        assert result.version == (3, 11)
        assert result.status == 1 and not result.ok
        assert result.missing == [
            "python:function__entry",
            "python:function__return",
            "python:line",
        ]
        assert [r.probe_id for r in result.failures] == result.missing
    with pytest.raises(ValueError, match="not a Python version"):
        usdtscan.check_cpython(path, "three")


@pytest.mark.corpus
def test_a_renamed_marker_is_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A copy of the real 3.11 whose gc__start note is renamed, byte for byte."""
    data = corpus_file(PY311_AMD64).read_bytes()
    assert data.count(b"\0gc__start\0") == 1
    doctored = tmp_path / "python3.11"
    doctored.write_bytes(data.replace(b"\0gc__start\0", b"\0gc__Xtart\0"))
    result = usdtscan.check_cpython(doctored)
    assert (result.ok, result.status, result.missing) == (False, 1, ["python:gc__start"])
    unknown = [r for r in result.reports if r.state == "unknown"]
    assert [r.probe_id for r in unknown] == ["python:gc__Xtart"]
    status, document = _cli_json([str(doctored)], capsys)
    assert status == 1
    assert document == json.loads(json.dumps(cpython_check_json([result])))


@pytest.mark.corpus
def test_required_probes_join_the_verdict() -> None:
    path = corpus_file(PY311_AMD64)
    result = usdtscan.check_cpython(path, require=["python:audit", "myapp:started"])
    assert result.missing == ["myapp:started"]
    assert result.status == 1
    assert [r.probe_id for r in result.reports][-2:] == ["python:audit", "myapp:started"]


@pytest.mark.corpus
def test_a_shared_build_says_where_its_libpython_was_found(shared_build: Path) -> None:
    result = usdtscan.check_cpython(shared_build)
    library = shared_build.parent.parent / "lib" / "libpython3.11.so.1.0"
    assert result.ok, result.error
    where = result.where
    assert where is not None
    assert (where.kind, where.path, where.found_by) == (
        "libpython",
        str(library),
        "DT_NEEDED libpython3.11.so.1.0, by DT_RUNPATH",
    )
    assert where.tried == (str(shared_build.parent / ".." / "lib" / library.name),)
    files = {checked.file for report in result.reports for checked in report.sites}
    assert files == {str(library)}


@pytest.mark.corpus
def test_a_libpython_the_loader_would_not_find(
    shared_build: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = shared_build.parent.parent
    shutil.rmtree(root / "lib")
    # An empty system root: the host's own libpython3.11 must not answer.
    (root / "sysroot").mkdir()
    result = usdtscan.check_cpython(shared_build, environ={}, sysroot=str(root / "sysroot"))
    assert (result.ok, result.status) == (False, 2)
    assert result.error is not None
    assert result.error.startswith("needs libpython3.11.so.1.0, which the loader would not find")
    where = result.where
    assert where is not None
    assert (where.kind, where.path, where.found_by) == (
        "libpython",
        "libpython3.11.so.1.0",
        "DT_NEEDED libpython3.11.so.1.0, not found",
    )
    assert str(shared_build.parent / ".." / "lib" / "libpython3.11.so.1.0") in where.tried
    status, document = _cli_json([str(shared_build), "--sysroot", str(root / "sysroot")], capsys)
    assert status == 2
    assert document["files"][0]["where"]["found_by"] == where.found_by  # type: ignore[index]


@pytest.mark.corpus
def test_a_file_that_is_not_cpython() -> None:
    libc = corpus_file("amd64/libc6/usr/lib/x86_64-linux-gnu/libc.so.6")
    result = usdtscan.check_cpython(libc)
    assert result.status == 2
    assert result.error is not None and result.error.startswith("not a CPython executable")
    assert result.reports == []


def test_an_unreadable_file(tmp_path: Path) -> None:
    result = usdtscan.check_cpython(tmp_path / "nothing")
    assert (result.ok, result.status, result.error) == (False, 2, "no such file or directory")
    assert result.where is None
    assert result.version is None
    assert result.missing == []


@pytest.mark.corpus
def test_the_library_itself() -> None:
    result = usdtscan.check_cpython(corpus_file(LIB311_AMD64))
    assert result.ok
    assert result.where is not None and result.where.kind == "libpython"


# -- lint and diff: the CLI renders the functions' results -----------------------------

LINT_FIXTURE = FIXTURE_BIN / "lint" / "x86_64" / "lint"


def _json_of(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, object]:
    status = main(argv)
    return status, json.loads(capsys.readouterr().out)


def _roundtrip(document: object) -> object:
    return json.loads(json.dumps(document))


def test_check_json_is_the_lint_result_rendered(capsys: pytest.CaptureFixture[str]) -> None:
    """For every fixture and corpus file: ``check PATH --json`` is ``usdtscan.lint()``
    rendered, and its exit status is the result's ``status``."""
    paths = [*fixture_binaries(), *corpus_binaries(), LINT_FIXTURE]
    statuses = []
    for path in paths:
        result = usdtscan.lint(path)
        status, document = _json_of(["check", "--json", str(path)], capsys)
        assert status == result.status, path
        assert result.ok == (status == 0)
        expected = {"ok": result.ok, "status": status, "files": [lint_json(result, status)]}
        assert document == _roundtrip(expected), path
        statuses.append(status)
    # The lint fixture is built to fail; every real binary of the corpus passes.
    assert statuses[-1] == 1 and usdtscan.lint(LINT_FIXTURE).errors
    assert set(statuses[:-1]) == {0}


@pytest.mark.corpus
@pytest.mark.parametrize(
    ("old", "new", "allow", "status"),
    [
        (PY311_AMD64, PY314_AMD64, (), 1),  # 3.12 removed the frame markers
        (PY311_AMD64, PY314_AMD64, ("removed:python:*",), 0),
        (PY311_AMD64, PY311_AMD64, (), 0),
        (PY311_AMD64, "/nonexistent", (), 2),
    ],
)
def test_diff_json_is_the_diff_result_rendered(
    old: str, new: str, allow: tuple[str, ...], status: int, capsys: pytest.CaptureFixture[str]
) -> None:
    old_path = corpus_file(old)
    new_path = new if new.startswith("/") else str(corpus_file(new))
    result = usdtscan.diff(old_path, new_path, allow)
    assert (result.status, result.ok) == (status, status == 0)
    flags = [f"--allow={a}" for a in allow]
    cli_status, document = _json_of(["diff", "--json", *flags, str(old_path), new_path], capsys)
    assert cli_status == status
    assert document == _roundtrip(diff_json(result, status))
    if status == 1:
        assert [c.probe for c in result.failures] == [
            "python:function__entry",
            "python:function__return",
            "python:line",
        ]


def test_diff_rejects_a_malformed_allowance() -> None:
    with pytest.raises(ValueError, match="is not"):
        usdtscan.diff(
            FIXTURE_BIN / "x86_64" / "probes-O0", FIXTURE_BIN / "x86_64" / "probes-O2", ["x"]
        )
