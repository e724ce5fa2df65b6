"""The header-only answer for ELF files without probes (usdtscan.sieve).

The sieve may only ever say what the full reader would have said: for
every ELF file of fixtures/, the corpus and the archives, in both note
modes, either it declines or its ScannedFile equals the full scan's.  It
must also decide (not decline) for the ordinary files without probes,
or it saves nothing: those cases are asserted too.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from usdtscan.archive import member_source, read_archive
from usdtscan.fileio import BytesReader, opened
from usdtscan.model import ScannedFile
from usdtscan.scan import scan_data
from usdtscan.sieve import without_probes

from .conftest import CORPUS, FIXTURE_BIN

ARCHIVES = FIXTURE_BIN.parent / "archives"


SYSTEM = Path("/usr/lib/x86_64-linux-gnu")


def _elf_files() -> list[Path]:
    """The fixtures and the corpus (all with probes), and the system's own
    libraries (nearly all without)."""
    roots = [FIXTURE_BIN, ARCHIVES, CORPUS, SYSTEM]
    found = []
    for root in roots:
        if not root.is_dir():
            continue
        for path in sorted(root.rglob("*")):
            if path.is_file() and not path.is_symlink():
                with open(path, "rb") as file:
                    if file.read(4) == b"\x7fELF":
                        found.append(path)
    return found


def _system_archives() -> list[Path]:
    return sorted(SYSTEM.glob("*.a"))[:40]


def _summary(scanned: ScannedFile) -> tuple[object, ...]:
    return (
        scanned.path,
        scanned.format,
        scanned.machine,
        scanned.bits,
        scanned.endian,
        scanned.elf_type,
        scanned.error,
        scanned.sites,
        scanned.other_notes,
        scanned.warnings,
        scanned.function_source,
    )


@pytest.mark.parametrize("walked", [True, False], ids=["walked", "named"])
def test_sieve_agrees_with_the_full_reader(walked: bool) -> None:
    decided = declined = 0
    for path in _elf_files():
        with opened(str(path)) as reader:
            quick = without_probes(reader, sdt_section_only=walked)
            full = scan_data(str(path), reader, None, None, walked)
        if quick is None:
            declined += 1
            continue
        decided += 1
        assert _summary(quick) == _summary(full), path
        assert not full.sites
    # Linked files carry a build ID note: named alone, each has its notes read.
    assert declined > 100, declined
    assert decided > (100 if walked else 0), decided


def _no_notes_object(tmp_path: Path, flags: tuple[str, ...] = ()) -> bytes:
    source = tmp_path / "plain.c"
    source.write_text("int plain(int x) { return x + 1; }\n")
    out = tmp_path / "plain.o"
    subprocess.run(["gcc", "-c", *flags, "-o", str(out), str(source)], check=True)
    return out.read_bytes()


def test_an_object_without_notes_is_decided(tmp_path: Path) -> None:
    data = _no_notes_object(tmp_path)
    quick = without_probes(BytesReader("plain.o", data), sdt_section_only=False)
    assert quick is not None
    assert (quick.format, quick.machine, quick.bits, quick.endian, quick.elf_type) == (
        "elf",
        "x86_64",
        64,
        "little",
        "REL",
    )
    assert quick.sites == [] and quick.error is None


def test_other_notes_decide_only_in_the_walk(tmp_path: Path) -> None:
    # -fcf-protection makes GCC write a .note.gnu.property section: a walked file
    # need not read it (only .note.stapsdt holds probes); a named one reads every note.
    data = _no_notes_object(tmp_path, ("-fcf-protection",))
    assert b".note.gnu.property" in data
    assert without_probes(BytesReader("p.o", data), sdt_section_only=True) is not None
    assert without_probes(BytesReader("p.o", data), sdt_section_only=False) is None


def test_files_with_probes_or_dof_are_left_to_the_reader() -> None:
    for path in (FIXTURE_BIN / "x86_64" / "probes-O2", ARCHIVES / "x86_64" / "sem.o"):
        with opened(str(path)) as reader:
            assert without_probes(reader, sdt_section_only=True) is None
    data = (FIXTURE_BIN / "x86_64" / "probes-O2").read_bytes()
    renamed = data.replace(b".note.stapsdt\0", b".note.stapsdX\0")
    # ...which is no longer a probe section in the walk, but still a note when named.
    assert without_probes(BytesReader("x", renamed), sdt_section_only=True) is not None
    assert without_probes(BytesReader("x", renamed), sdt_section_only=False) is None
    dof = renamed.replace(b".stapsdt.base\0", b".SUNW_dof\0\0\0\0\0")
    assert without_probes(BytesReader("x", dof), sdt_section_only=True) is None


@pytest.mark.parametrize(
    "damage",
    ["cut-header", "cut-sections", "no-sections", "bad-entsize", "names-past-end", "class"],
)
def test_unusual_headers_are_left_to_the_reader(tmp_path: Path, damage: str) -> None:
    data = bytearray(_no_notes_object(tmp_path))
    assert without_probes(BytesReader("p.o", bytes(data)), sdt_section_only=True) is not None
    shoff = int.from_bytes(data[0x28:0x30], "little")
    if damage == "cut-header":
        data = data[:40]
    elif damage == "cut-sections":
        data = data[: shoff + 10]
    elif damage == "no-sections":
        data[0x28:0x30] = bytes(8)
    elif damage == "bad-entsize":
        data[0x3A:0x3C] = (40).to_bytes(2, "little")
    elif damage == "names-past-end":
        shstrndx = int.from_bytes(data[0x3E:0x40], "little")
        row = shoff + 64 * shstrndx
        data[row + 0x20 : row + 0x28] = (1 << 40).to_bytes(8, "little")
    elif damage == "class":
        data[4] = 3
    assert without_probes(BytesReader("p.o", bytes(data)), sdt_section_only=True) is None


def test_sieve_agrees_on_the_system_archives() -> None:
    decided = 0
    for path in _system_archives():
        data = path.read_bytes()
        if data[:8] != b"!<arch>\n":
            continue  # libc.so-style linker scripts named .a
        archive = read_archive(str(path), data)
        source = BytesReader(str(path), data)
        for member in archive.members:
            member_bytes = member_source(archive, source, member)
            if member_bytes.head(4) != b"\x7fELF":
                continue
            for walked in (True, False):
                quick = without_probes(member_bytes, sdt_section_only=walked)
                if quick is not None:
                    decided += 1
                    full = scan_data(member_bytes.path, member_bytes, None, None, walked)
                    assert _summary(quick) == _summary(full), member_bytes.path
    if not decided:
        pytest.skip(f"no static library under {SYSTEM}")


def test_archive_members_are_decided_in_place() -> None:
    path = ARCHIVES / "x86_64" / "libfx.a"
    data = path.read_bytes()
    archive = read_archive(str(path), data)
    source = BytesReader(str(path), data)
    for member in archive.members:
        # Every member of the fixture archive has probes: the sieve must decline each.
        assert without_probes(member_source(archive, source, member), False) is None
