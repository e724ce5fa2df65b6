"""Readers return what they found; scan.py folds it into the ScannedFile.

Each reader (stapsdt notes, Mach-O, .SUNW_dof) is called on a real fixture
or a file written by tests/dofwriter.py, and what it returns is compared
with what ``usdtscan.scan`` reports for the same file.
"""

from __future__ import annotations

import struct
from pathlib import Path

from usdtscan import scan
from usdtscan.elf import ElfFile
from usdtscan.macho import scan_macho
from usdtscan.model import OtherNote, ReaderResult, ScannedFile
from usdtscan.scan import fold, iter_scan, set_elf_header
from usdtscan.stapsdt import RawNote, drain, iter_raw_notes, iter_sites, scan_elf
from usdtscan.sunw_dof import scan_sunw_dof

from .conftest import FIXTURE_BIN
from .dofwriter import (
    ARM_CODE,
    CPU_ARM64,
    X86_CODE,
    ElfFunction,
    MachFunction,
    Probe,
    Provider,
    arm64_demo_dof,
    make_fat,
    write_dof,
    write_elf,
    write_macho,
    x86_demo_dof,
)

SAMPLE = FIXTURE_BIN / "x86_64" / "probes-O2"


def _elf(path: Path) -> ElfFile:
    return ElfFile(str(path), path.read_bytes())


def _with_note_type(tmp_path: Path, note_type: int) -> Path:
    """SAMPLE with its first stapsdt note's type changed."""
    section = _elf(SAMPLE).section_by_name(".note.stapsdt")
    assert section is not None
    data = bytearray(SAMPLE.read_bytes())
    struct.pack_into("<I", data, section.offset + 8, note_type)
    path = tmp_path / f"type-{note_type}"
    path.write_bytes(bytes(data))
    return path


def _with_third_note_cut(tmp_path: Path) -> Path:
    """SAMPLE whose third note claims a descriptor running past its section."""
    section = _elf(SAMPLE).section_by_name(".note.stapsdt")
    assert section is not None
    data = bytearray(SAMPLE.read_bytes())
    position = section.offset
    for _ in range(2):
        namesz, descsz, _type = struct.unpack_from("<III", data, position)
        position += 12 + (namesz + 3 & ~3) + (descsz + 3 & ~3)
    struct.pack_into("<I", data, position + 4, 0xFFFFFFF0)
    path = tmp_path / "cut"
    path.write_bytes(bytes(data))
    return path


def test_scan_elf_returns_what_scan_reports() -> None:
    result = scan_elf(_elf(SAMPLE))
    scanned = scan(SAMPLE, debug_dirs=None)
    assert len(result.sites) > 3
    assert result.sites == scanned.sites
    assert (result.warnings, result.other_notes, result.error) == ([], [], None)
    assert result.function_source == scanned.function_source == ".symtab"
    assert result.format is None  # ELF's come from the header, set by scan.py


def test_fold_of_the_readers_results_is_the_scanned_file() -> None:
    elf = _elf(SAMPLE)
    folded = ScannedFile(str(SAMPLE))
    set_elf_header(folded, elf)
    fold(folded, scan_elf(elf))
    scanned = scan(SAMPLE, debug_dirs=None)
    assert (folded.format, folded.machine, folded.bits, folded.endian, folded.elf_type) == (
        "elf",
        "x86_64",
        64,
        "little",
        "EXEC",
    )
    assert folded.sites == scanned.sites
    assert (folded.function_source, folded.error) == (scanned.function_source, None)


def test_note_walk_yields_typed_items_in_file_order(tmp_path: Path) -> None:
    """An unknown note type is an OtherNote and then its warning, in place."""
    items = list(iter_raw_notes(_elf(_with_note_type(tmp_path, 7))))
    other, warning, *notes = items
    assert isinstance(other, OtherNote) and other.type == 7
    assert warning == f"note of owner stapsdt with unknown type 7 at file offset {other.offset:#x}"
    assert notes and all(isinstance(n, RawNote) for n in notes)
    assert len(notes) == len(scan(SAMPLE).sites) - 1


def test_iter_sites_yields_the_sites_then_returns_the_rest(tmp_path: Path) -> None:
    stream = iter_sites(_elf(_with_note_type(tmp_path, 7)))
    first = next(stream)
    result = drain(stream)
    assert [first, *result.sites] == scan(_with_note_type(tmp_path, 7)).sites
    assert result.streamed == 1 + len(result.sites)
    (other,) = result.other_notes
    assert other.type == 7
    assert result.warnings == [
        f"note of owner stapsdt with unknown type 7 at file offset {other.offset:#x}"
    ]


def test_damage_ends_the_sites_and_is_the_results_error(tmp_path: Path) -> None:
    result = scan_elf(_elf(_with_third_note_cut(tmp_path)))
    assert result.error is not None and "past the end of the section" in result.error
    assert result.sites == scan(SAMPLE).sites[:2]


def test_fold_keeps_the_first_error_and_every_warning(tmp_path: Path) -> None:
    damaged = scan_elf(_elf(_with_third_note_cut(tmp_path)))
    unknown = scan_elf(_elf(_with_note_type(tmp_path, 7)))
    scanned = ScannedFile("both")
    fold(scanned, damaged)
    fold(scanned, unknown)
    assert scanned.error == damaged.error
    assert scanned.sites == damaged.sites + unknown.sites
    assert scanned.warnings == unknown.warnings and scanned.other_notes == unknown.other_notes


def test_iter_scan_folds_the_streamed_result(tmp_path: Path) -> None:
    path = _with_third_note_cut(tmp_path)
    scanned = ScannedFile(str(path))
    sites = list(iter_scan(scanned, debug_dirs=None))
    assert sites == scan(SAMPLE).sites[:2]
    assert scanned.sites == []  # streamed: none kept
    assert scanned.error == scan(path).error and scanned.machine == "x86_64"


def test_sunw_dof_reader_returns_its_sites(tmp_path: Path) -> None:
    probes = [Probe("main", "start", ["int"], offsets=[0x10], enabled=[0x4], addr=0x401000)]
    functions = [ElfFunction("main", 0x401000, 0x40)]
    image, _ = write_elf(write_dof([Provider("app", probes)]), functions)
    path = tmp_path / "app"
    path.write_bytes(image)
    result = scan_sunw_dof(_elf(path))
    assert [(s.address, s.function) for s in result.sites] == [
        (0x401010, "main+0x10"),
        (0x401004, "main+0x4"),
    ]
    assert result.sites == scan(path).sites
    assert (result.error, result.warnings) == (None, [])
    assert scan_sunw_dof(_elf(SAMPLE)) == ReaderResult()  # no .SUNW_dof: nothing


def test_macho_reader_returns_slices_and_identity(tmp_path: Path) -> None:
    x86, _, _ = write_macho(X86_CODE, [MachFunction("_myfunc", 0)], x86_demo_dof)
    arm, _, _ = write_macho(
        ARM_CODE, [MachFunction("_myfunc", 0)], arm64_demo_dof, cputype=CPU_ARM64
    )
    fat = make_fat([x86, arm])
    path = tmp_path / "fat"
    path.write_bytes(fat)
    result = scan_macho(str(path), fat)
    assert (result.format, result.machine, result.bits, result.endian) == (
        "macho",
        "fat:x86_64,arm64",
        None,
        None,
    )
    assert [(s.arch, len(s.sites)) for s in result.slices] == [("x86_64", 2), ("arm64", 2)]
    assert result.sites == [site for piece in result.slices for site in piece.sites]
    assert result.sites == scan(path).sites
    arm_only = scan_macho(str(path), fat, "arm64")
    assert (arm_only.machine, arm_only.bits, arm_only.endian) == ("arm64", 64, "little")
    assert result.function_source == "symtab"
