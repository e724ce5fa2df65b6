"""A bare ``.note.stapsdt`` section (what debuginfod's ``/section/`` serves),
cut out of the real fixture binaries of every architecture: its class and
byte order are found from the notes alone, and its sites are the notes'."""

from __future__ import annotations

from pathlib import Path

import pytest

from usdtscan import scan
from usdtscan.elf import ElfFile
from usdtscan.errors import MalformedFileError
from usdtscan.notesection import WARNING, is_note_section
from usdtscan.scan import scan_data

from .conftest import FIXTURE_BIN, run_usdtscan

ARCHES = ("x86_64", "x86_64-pie", "i386", "aarch64", "armhf", "mips", "mips64el", "ppc64",
          "ppc64le", "riscv64", "s390x")  # fmt: skip


def section_of(path: Path) -> bytes:
    elf = ElfFile(str(path), path.read_bytes())
    section = elf.section_by_name(".note.stapsdt")
    assert section is not None
    return elf.section_data(section)


@pytest.mark.parametrize("arch", ARCHES)
def test_section_alone_gives_the_notes_of_the_binary(arch: str) -> None:
    binary = FIXTURE_BIN / arch / "probes-O2"
    whole = scan(binary)
    bare = scan_data("section", section_of(binary))
    assert (bare.bits, bare.endian) == (whole.bits, whole.endian)
    assert bare.machine is None and bare.elf_type is None and bare.error is None
    assert bare.warnings == [WARNING]

    def note_fields(sites: list) -> list:  # type: ignore[type-arg]
        return [(s.provider, s.name, s.args_raw, s.stapsdt.note) for s in sites]

    assert note_fields(bare.sites) == note_fields(whole.sites)
    assert len(bare.sites) > 10
    # Not prelinked: the notes' own addresses are the adjusted ones.
    assert [(s.address, s.semaphore_address) for s in bare.sites] == [
        (s.address, s.semaphore_address) for s in whole.sites
    ]
    assert all(s.file_offset is None and s.function is None for s in bare.sites)


def test_listing_of_a_section_file_says_what_is_unknown(tmp_path: Path) -> None:
    path = tmp_path / "section-.note.stapsdt"
    path.write_bytes(section_of(FIXTURE_BIN / "s390x" / "probes-O2"))
    result = run_usdtscan(str(path))
    assert result.returncode == 0 and result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"{path}: ?, ELF64 big-endian .note.stapsdt section alone, ")
    assert lines[1] == f"  warning: {WARNING}"


def test_cut_section_is_one_error_line(tmp_path: Path) -> None:
    data = section_of(FIXTURE_BIN / "x86_64" / "probes-O2")
    assert is_note_section(data[:24])
    path = tmp_path / "cut"
    path.write_bytes(data[: len(data) // 2 + 3])
    result = run_usdtscan(str(path), str(FIXTURE_BIN / "x86_64" / "probes-O2"))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"usdtscan: {path}: the note at offset 0x354 runs past the end of the section"
    ]
    assert "probes-O2: x86_64" in result.stdout
    cut = scan_data("cut", data[: len(data) // 2 + 3])
    whole = scan_data("whole", data)
    assert cut.sites == whole.sites[: len(cut.sites)] and 0 < len(cut.sites) < len(whole.sites)
    with pytest.raises(MalformedFileError):
        scan_data("garbage", data[:20] + b"\xff" * 200)


def test_lint_says_a_section_alone_cannot_be_linted(tmp_path: Path) -> None:
    """No machine, segments or code: lint refuses in one line rather than pass it."""
    path = tmp_path / "section-.note.stapsdt"
    path.write_bytes(section_of(FIXTURE_BIN / "x86_64" / "probes-O2"))
    result = run_usdtscan("check", str(path))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"usdtscan: {path}: a bare .note.stapsdt section: lint needs the binary"
    ]
