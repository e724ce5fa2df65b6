"""``usdtscan diff OLD NEW`` on the real corpus pairs the issue names, and on a
fixture with one note doctored per kind of change."""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import pytest

from usdtscan import scan
from usdtscan.cli import main
from usdtscan.diff import diff, parse_allowance

from .conftest import FIXTURE_BIN, corpus_file

PY = {
    "3.11": "amd64/python3.11-minimal/usr/bin/python3.11",
    "3.13": "amd64/python3.13-minimal/usr/bin/python3.13",
    "3.14": "amd64/python3.14-minimal/usr/bin/python3.14",
}
LIBPY = {
    "3.14": "amd64/libpython3.14/usr/lib/x86_64-linux-gnu/libpython3.14.so.1.0",
    "3.15": "amd64/libpython3.15/usr/lib/x86_64-linux-gnu/libpython3.15.so.1.0",
}
LIBVIRT = {
    "amd64": "amd64/libvirt0/usr/lib/x86_64-linux-gnu/libvirt.so.0.9000.0",
    "arm64": "arm64/libvirt0/usr/lib/aarch64-linux-gnu/libvirt.so.0.9000.0",
    "s390x": "s390x/libvirt0/usr/lib/s390x-linux-gnu/libvirt.so.0.9000.0",
}
POSTGRES = {
    arch: f"{arch}/postgresql-15/usr/lib/postgresql/15/bin/postgres"
    for arch in ("amd64", "arm64", "armhf", "s390x")
}
O0, O2 = FIXTURE_BIN / "x86_64" / "probes-O0", FIXTURE_BIN / "x86_64" / "probes-O2"
DESC = 20  # the descriptor of a stapsdt note, after its header and "stapsdt\0"
REMOVED_IN_312 = ["python:function__entry", "python:function__return", "python:line"]


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = main(argv)
    out, err = capsys.readouterr()
    return status, out, err


def _changes(old: Path, new: Path) -> list[tuple[str, str, str | None, str | None]]:
    result = diff(old, new)
    assert result.error is None
    return [(c.kind, c.probe, c.old, c.new) for c in result.changes]


@pytest.mark.corpus
@pytest.mark.parametrize("newer", ["3.13", "3.14"])
def test_python311_against_newer(newer: str, capsys: pytest.CaptureFixture[str]) -> None:
    old, new = corpus_file(PY["3.11"]), corpus_file(PY[newer])
    assert _changes(old, new) == [
        ("removed", probe, "1 site, args 8 8 -4", None) for probe in REMOVED_IN_312
    ]
    status, out, _ = _run(["diff", str(old), str(new)], capsys)
    assert status == 1
    assert out.splitlines()[-1] == "  FAIL: removed " + ", ".join(REMOVED_IN_312)
    status, out, _ = _run(["diff", "--json", str(old), str(new)], capsys)
    document = json.loads(out)
    assert status == 1 and document["status"] == 1 and document["ok"] is False
    assert document["failed"] == REMOVED_IN_312
    assert document["summary"] == {"removed": 3}
    assert (document["old_probes"], document["new_probes"]) == (8, 5)
    assert all(c["breaking"] and not c["allowed"] for c in document["changes"])
    # CPython 3.12 dropped them on purpose: a release gate that knows says so.
    allow = ["--allow", "removed:python:function__*", "--allow", "python:line"]
    status, out, _ = _run(["diff", *allow, str(old), str(new)], capsys)
    assert status == 0
    assert out.splitlines()[-1] == "  OK: no probe removed, no argument changed (3 allowed)"


@pytest.mark.corpus
def test_libpython_314_against_315(capsys: pytest.CaptureFixture[str]) -> None:
    old, new = corpus_file(LIBPY["3.14"]), corpus_file(LIBPY["3.15"])
    assert _changes(old, new) == [
        ("added", "python:function__entry", None, "1 site, args 8 8 -4"),
        ("added", "python:function__return", None, "1 site, args 8 8 -4"),
    ]
    assert _run(["diff", str(old), str(new)], capsys)[0] == 0
    # The other way round, 3.15's function markers disappear.
    assert _run(["diff", str(new), str(old)], capsys)[0] == 1


@pytest.mark.corpus
@pytest.mark.parametrize(
    ("table", "other"),
    [(LIBVIRT, "arm64"), (LIBVIRT, "s390x"), (POSTGRES, "arm64"), (POSTGRES, "s390x")],
)
def test_one_package_two_64_bit_architectures(
    table: dict[str, str], other: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Same sources, another compiler back end: operands move, the probes do not."""
    old, new = corpus_file(table["amd64"]), corpus_file(table[other])
    changes = _changes(old, new)
    assert changes, "registers and stack slots differ between architectures"
    assert {kind for kind, *_ in changes} == {"locations"}
    assert _run(["diff", str(old), str(new)], capsys)[0] == 0


@pytest.mark.corpus
def test_postgres_64_against_32_bit(capsys: pytest.CaptureFixture[str]) -> None:
    """armhf's pointers are 4 bytes: every pointer argument a script reads changes size."""
    old, new = corpus_file(POSTGRES["amd64"]), corpus_file(POSTGRES["armhf"])
    changes = {probe: (kind, a, b) for kind, probe, a, b in _changes(old, new)}
    assert changes["postgresql:query__start"] == ("arguments", "8", "4")
    assert changes["postgresql:sort__done"] == ("arguments", "-4 -8", "-4 -4")
    assert sum(kind == "arguments" for kind, _a, _b in changes.values()) == 16
    status, out, _ = _run(["diff", str(old), str(new)], capsys)
    assert status == 1
    assert "arguments  postgresql:lwlock__wait__start: 8 -4 | 8 4 -> 4 -4 | 4 4" in out


# -- the fixture: each kind of change made by hand -----------------------------------


def test_optimisation_levels_move_and_relocate() -> None:
    changes = _changes(O0, O2)
    kinds = {kind for kind, *_ in changes}
    assert kinds == {"locations", "moved"}
    assert ("moved", "fx:literals", "p_literals", "main") in changes


CXX_NEW = FIXTURE_BIN / "x86_64-demangle" / "probes-cxx"  # the C++11 std::string ABI
CXX_OLD = FIXTURE_BIN / "x86_64-demangle" / "probes-cxx-oldabi"  # the old one (Ss)


def test_moved_cxx_functions_read_as_the_listing_shows_them(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The two string ABIs put fixture probes in other C++ functions: the text says
    them demangled, as the listing does; the JSON keeps the symbols and adds both
    demangled forms; --no-demangle shows the symbols."""
    status, out, _ = _run(["diff", str(CXX_NEW), str(CXX_OLD)], capsys)
    assert status == 0
    args = "<char, std::char_traits<char>, std::allocator<char> >"
    string, cxx11 = f"std::basic_string{args}", f"std::__cxx11::basic_string{args}"
    assert (
        f"  moved      cxxfixture:name: usdt_fixture::name_length({cxx11} const&)"
        f" -> usdt_fixture::name_length({string} const&)\n"
    ) in out
    assert "_ZN" not in out
    status, out, _ = _run(["diff", "--json", str(CXX_NEW), str(CXX_OLD)], capsys)
    moved = {c["probe"]: c for c in json.loads(out)["changes"]}["cxxfixture:name"]
    assert (
        moved["old"]
        == "_ZN12usdt_fixture11name_lengthERKNSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEEE"
    )
    assert moved["new"] == "_ZN12usdt_fixture11name_lengthERKSs"
    assert moved["new_demangled"] == f"usdt_fixture::name_length({string} const&)"
    status, out, _ = _run(["diff", "--no-demangle", str(CXX_NEW), str(CXX_OLD)], capsys)
    assert "cxxfixture:name: _ZN12usdt_fixture11name_lengthERKNSt7__cxx11" in out
    # C functions are not touched: nothing to demangle, no *_demangled.
    plain = {c.probe: c for c in diff(O0, O2).changes}["fx:literals"]
    assert (plain.old, plain.new, plain.old_demangled) == ("p_literals", "main", None)


def _doctored(tmp_path: Path, probe: str, field: int, data: bytes) -> Path:
    path = tmp_path / "probes-O2"
    shutil.copyfile(O2, path)
    site = next(s for s in scan(path).sites if s.probe_id == probe)
    assert site.note_offset is not None
    with open(path, "r+b") as handle:
        handle.seek(site.note_offset + DESC + field)
        handle.write(data)
    return path


def test_argument_size_and_semaphore_changes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # fx:one's note: pc, base, semaphore, "fx\0", "one\0", "-4@%edi\0".
    path = _doctored(tmp_path, "fx:one", 24 + 3 + 4, b"-8")
    assert _changes(O2, path) == [("arguments", "fx:one", "-4", "-8")]
    status, out, _ = _run(["diff", str(O2), str(path)], capsys)
    assert status == 1
    assert out.splitlines()[-1] == "  FAIL: arguments changed in fx:one"
    assert _run(["diff", "--allow", "arguments:fx:one", str(O2), str(path)], capsys)[0] == 0
    assert _run(["diff", "--allow", "removed:fx:one", str(O2), str(path)], capsys)[0] == 1
    path = _doctored(tmp_path, "fxsem:guarded", 16, struct.pack("<Q", 0))
    assert _changes(O2, path) == [("semaphore", "fxsem:guarded", "semaphore", "no semaphore")]
    assert _run(["diff", str(O2), str(path)], capsys)[0] == 0


def test_trouble_and_usage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = _run(["diff", str(O2), str(tmp_path / "missing")], capsys)
    assert status == 2 and out == ""
    assert err == f"usdtscan: {tmp_path / 'missing'}: no such file or directory\n"
    status, _, err = _run(["diff", "--allow", "nocolon", str(O2), str(O2)], capsys)
    assert status == 2 and "is not [KIND:]PROVIDER:NAME" in err
    assert _run(["diff", str(O2), str(O2)], capsys)[1].endswith(
        "no change\n  OK: no probe removed, no argument changed\n"
    )
    assert parse_allowance("moved:fx:*").kind == "moved"
    assert parse_allowance("fx:*").kind is None
