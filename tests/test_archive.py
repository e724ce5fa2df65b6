"""Static ``ar`` archives (usdtscan.archive), on archives built by real ``ar``.

fixtures/archives/<target>/ holds, per target (one of each class and
byte order), three objects cross-compiled from fixtures/src and the same
three archived by GNU ar (``libfx.a``), LLVM ar in BSD format
(``libfx-bsd.a``) and GNU ar --thin (``libfx-thin.a``); see
fixtures/build-archives.sh.  The oracles are the objects themselves, GNU
``readelf -n`` and ``nm -s`` on the same archives.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

import usdtscan
from usdtscan.archive import read_archive, symbol_index
from usdtscan.cli import main
from usdtscan.errors import MalformedFileError
from usdtscan.scan import scan, scan_each

from .conftest import FIXTURE_BIN

ARCHIVES = FIXTURE_BIN.parent / "archives"
TARGETS = ("x86_64", "s390x", "armhf", "mips")
MEMBERS = ("probes.o", "sem.o", "libprobes-with-a-long-member-name.o")
KINDS = {"libfx.a": "gnu", "libfx-bsd.a": "bsd", "libfx-thin.a": "gnu"}


def _key(scanned: usdtscan.ScannedFile) -> list[tuple[object, ...]]:
    return [
        (s.provider, s.name, s.args_raw, s.address, s.semaphore_address, s.function)
        for s in scanned.sites
    ]


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("archive", sorted(KINDS))
def test_members_are_the_objects(target: str, archive: str) -> None:
    path = ARCHIVES / target / archive
    members = scan_each(path, debug_dirs=None)
    shape = "{}[{}]" if archive == "libfx-thin.a" else "{}({})"
    assert [m.path for m in members] == [shape.format(path, name) for name in MEMBERS]
    for member, name in zip(members, MEMBERS, strict=True):
        alone = scan(ARCHIVES / target / name, debug_dirs=None)
        assert member.error is None
        assert member.member_of is not None
        assert (member.member_of.archive, member.member_of.member) == (str(path), name)
        assert (member.machine, member.bits, member.endian) == (
            alone.machine,
            alone.bits,
            alone.endian,
        )
        assert _key(member) == _key(alone)
        assert member.sites  # each member has probes: a test that can fail
    parsed = read_archive(str(path), path.read_bytes())
    assert parsed.thin == (archive == "libfx-thin.a")
    assert parsed.symbol_table == KINDS[archive]


def _armap(path: Path) -> dict[str, str]:
    """``nm -s``'s "Archive index": symbol -> member."""
    out = subprocess.run(["nm", "-s", str(path)], capture_output=True, text=True).stdout
    index: dict[str, str] = {}
    for line in out.split("Archive index:", 1)[1].split("\n\n", 1)[0].splitlines():
        if " in " in line:
            symbol, _, member = line.rpartition(" in ")
            index.setdefault(symbol, member)
    return index


@pytest.mark.skipif(shutil.which("nm") is None, reason="binutils not installed")
@pytest.mark.parametrize("target", TARGETS)
def test_symbol_index_matches_nm(target: str) -> None:
    gnu = ARCHIVES / target / "libfx.a"
    expected = _armap(gnu)
    assert "main" in expected and len(expected) > 10
    data = gnu.read_bytes()
    assert symbol_index(read_archive(str(gnu), data), data) == expected
    # The BSD table of the same objects names the same symbols and members.
    bsd = ARCHIVES / target / "libfx-bsd.a"
    data = bsd.read_bytes()
    assert symbol_index(read_archive(str(bsd), data), data) == expected


@pytest.mark.skipif(shutil.which("readelf") is None, reason="binutils not installed")
@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("archive", ["libfx.a", "libfx-thin.a"])
def test_readelf_format_matches_readelf(
    target: str, archive: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # GNU readelf cannot read BSD archives ("wrong magic bytes"): GNU and thin only.
    path = ARCHIVES / target / archive
    readelf = subprocess.run(["readelf", "-n", str(path)], capture_output=True, text=True)
    assert "File: " in readelf.stdout
    assert main(["--format", "readelf", str(path)]) == 0
    assert capsys.readouterr().out == readelf.stdout


def test_listing_names_members_as_readelf_does(capsys: pytest.CaptureFixture[str]) -> None:
    path = ARCHIVES / "s390x" / "libfx-bsd.a"
    assert main([str(path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{path}: ar archive, 3 object members, 24 sites in 3 members\n")
    assert f"{path}(sem.o): s390x, ELF64 big-endian REL, 3 probes, 3 sites" in out
    assert "  fxsem     libfx-bsd.a(sem.o)" in out


def test_members_without_probes_are_counted_not_listed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plain = tmp_path / "plain.o"
    plain.write_bytes(_no_notes_object(tmp_path))
    archive = tmp_path / "libmixed.a"
    subprocess.run(
        ["ar", "rcs", str(archive), str(ARCHIVES / "x86_64" / "sem.o"), str(plain)], check=True
    )
    assert main([str(archive)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(
        f"{archive}: ar archive, 2 object members, 3 sites in 1 member "
        "(the 1 without probes are not listed)\n"
    )
    assert "plain.o" not in out
    assert main(["--json", str(archive)]) == 0
    document = json.loads(capsys.readouterr().out)
    files = document["files"]
    assert [f["path"] for f in files] == [f"{archive}(sem.o)", f"{archive}(plain.o)"]
    assert files[0]["archive"]["path"] == str(archive)
    assert files[0]["archive"]["member"] == "sem.o"
    import jsonschema

    schema = json.loads((Path(usdtscan.__file__).parent / "usdtscan.schema.json").read_text())
    jsonschema.validate(document, schema)


def _no_notes_object(tmp_path: Path) -> bytes:
    source = tmp_path / "plain.c"
    source.write_text("int plain(int x) { return x + 1; }\n")
    out = tmp_path / "plain-built.o"
    subprocess.run(["gcc", "-c", "-o", str(out), str(source)], check=True)
    return out.read_bytes()


def test_recursive_walk_finds_archives(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copytree(ARCHIVES / "armhf", tmp_path / "tree")
    assert main(["-r", "--json", str(tmp_path / "tree")]) == 0
    paths = [f["path"] for f in json.loads(capsys.readouterr().out)["files"]]
    for archive in KINDS:
        for member in MEMBERS:
            shape = "{}[{}]" if archive == "libfx-thin.a" else "{}({})"
            assert shape.format(tmp_path / "tree" / archive, member) in paths


def test_api_probes_of_an_archive() -> None:
    path = ARCHIVES / "x86_64" / "libfx.a"
    sites = usdtscan.probes(path)
    assert len(sites) == sum(len(scan(ARCHIVES / "x86_64" / m).sites) for m in MEMBERS)
    with pytest.raises(usdtscan.UsdtscanError, match="an ar archive"):
        scan(path)


# -- damaged archives: one line, exit 2, the other files still listed ----------------


def _damaged(tmp_path: Path) -> dict[str, bytes]:
    good = (ARCHIVES / "x86_64" / "libfx.a").read_bytes()
    first = good.index(b"`\n", 8) + 2  # after the symbol table's header
    bad_size = bytearray(good)
    bad_size[8 + 48 : 8 + 58] = b"12x4      "
    return {
        "truncated.a": good[: len(good) // 2],
        "header-cut.a": good[: first + 10],
        "bad-size.a": bytes(bad_size),
        "bad-long-name.a": good.replace(b"/0              ", b"/99999          ", 1),
        "only-magic.a": b"!<arch>\n",
    }


def test_damaged_archives(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    damaged = _damaged(tmp_path)
    for name, data in damaged.items():
        (tmp_path / name).write_bytes(data)
    good = ARCHIVES / "x86_64" / "sem.o"
    paths = [str(tmp_path / name) for name in damaged] + [str(good)]
    status = main(paths)
    captured = capsys.readouterr()
    errors = captured.err.splitlines()
    broken = [n for n in damaged if n != "only-magic.a"]
    assert status == 2
    assert len(errors) == len(broken)
    for name, line in zip(broken, errors, strict=True):
        assert line.startswith(f"usdtscan: {tmp_path / name}: ")
    assert any("runs past the end" in line for line in errors)
    assert any("bad ar member size" in line for line in errors)
    assert any("outside the // table" in line for line in errors)
    assert f"{good}: x86_64, ELF64 little-endian REL, 3 probes" in captured.out
    for data in damaged.values():
        with pytest.raises(MalformedFileError) if data != b"!<arch>\n" else _nothing():
            read_archive("x.a", data)


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *args: object) -> None:
        return None


def test_thin_archive_with_a_missing_member(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("libfx-thin.a", *MEMBERS):
        shutil.copy(ARCHIVES / "armhf" / name, tmp_path / name)
    (tmp_path / "sem.o").unlink()
    assert main([str(tmp_path / "libfx-thin.a")]) == 2
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        f"usdtscan: {tmp_path / 'libfx-thin.a'}[sem.o]: thin archive member "
        f"{tmp_path / 'sem.o'}: No such file or directory"
    ]
    assert f"{tmp_path / 'libfx-thin.a'}[probes.o]: arm, ELF32" in captured.out


def test_parallel_walk_returns_members(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # -j workers pickle their results back: a member's symbol reader must survive that.
    for number in range(10):
        shutil.copy(ARCHIVES / "x86_64" / "libfx.a", tmp_path / f"lib{number}.a")
    assert main(["-r", "-j", "2", "--json", str(tmp_path)]) == 0
    files = json.loads(capsys.readouterr().out)["files"]
    assert len(files) == 30
    assert all(f["error"] is None for f in files)


# -- usdtscan check on a static library: each member is linted ----------------------


def test_check_lints_each_member_as_the_object_alone(capsys: pytest.CaptureFixture[str]) -> None:
    from usdtscan.fileio import MEMBERS_IN_MEMORY

    path = ARCHIVES / "x86_64" / "libfx.a"
    assert main(["check", str(path)]) == 0
    together = capsys.readouterr().out
    assert "scan_each()" not in together
    for name in MEMBERS:
        alone_path = ARCHIVES / "x86_64" / name
        assert main(["check", str(alone_path)]) == 0
        alone = capsys.readouterr().out
        assert alone.startswith(f"{alone_path}: x86_64 ELF64, ")
        assert alone.replace(str(alone_path), f"{path}({name})") in together
    assert not MEMBERS_IN_MEMORY  # each member's bytes are released after its lint
    assert main(["check", "--json", str(path)]) == 0
    files = json.loads(capsys.readouterr().out)["files"]
    assert [f["path"] for f in files] == [f"{path}({name})" for name in MEMBERS]


def test_check_on_a_thin_archive_with_a_missing_member(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("libfx-thin.a", *MEMBERS):
        shutil.copy(ARCHIVES / "armhf" / name, tmp_path / name)
    (tmp_path / "sem.o").unlink()
    assert main(["check", str(tmp_path / "libfx-thin.a")]) == 2
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        f"usdtscan: {tmp_path / 'libfx-thin.a'}[sem.o]: thin archive member "
        f"{tmp_path / 'sem.o'}: No such file or directory"
    ]
    assert f"{tmp_path / 'libfx-thin.a'}[probes.o]: arm ELF32" in captured.out


def test_check_on_a_damaged_archive_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    damaged = tmp_path / "bad-size.a"
    damaged.write_bytes(_damaged(tmp_path)["bad-size.a"])
    assert main(["check", str(damaged)]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"usdtscan: {damaged}: bad ar member size")
