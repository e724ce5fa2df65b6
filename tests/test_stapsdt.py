"""How notes become sites: base adjustment cases, segment checks, odd notes.

Each case is made by patching one field of a real fixture binary, then
checking the arithmetic that libbpf/bcc/GDB apply to it.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from usdtscan import scan
from usdtscan.elf import ElfFile
from usdtscan.model import BaseAdjustment

from .conftest import FIXTURE_BIN

SAMPLE = FIXTURE_BIN / "x86_64" / "probes-O2"


def first_note_desc(path: Path) -> int:
    """File offset of the first stapsdt note's descriptor."""
    elf = ElfFile(str(path), path.read_bytes())
    section = elf.section_by_name(".note.stapsdt")
    assert section is not None
    namesz = struct.unpack_from("<I", path.read_bytes(), section.offset)[0]
    return section.offset + 12 + ((namesz + 3) & ~3)


def patched(tmp_path: Path, offset: int, fmt: str, value: int) -> Path:
    data = bytearray(SAMPLE.read_bytes())
    struct.pack_into(fmt, data, offset, value)
    out = tmp_path / "patched"
    out.write_bytes(bytes(data))
    return out


def test_base_applied_moves_pc_and_semaphore(tmp_path: Path) -> None:
    original = scan(SAMPLE).sites[0]
    assert original.base_adjustment == BaseAdjustment.APPLIED
    assert original.note is not None
    # As if the code had moved 0x1000 up since the note was written (prelink).
    path = patched(tmp_path, first_note_desc(SAMPLE) + 8, "<Q", original.note.base - 0x1000)
    site = scan(path).sites[0]
    assert site.base_adjustment == BaseAdjustment.APPLIED
    assert site.address == original.note.pc + 0x1000
    if original.note.semaphore:
        assert site.semaphore_address == original.note.semaphore + 0x1000


def test_note_base_zero_is_not_adjusted(tmp_path: Path) -> None:
    original = scan(SAMPLE).sites[0]
    path = patched(tmp_path, first_note_desc(SAMPLE) + 8, "<Q", 0)
    site = scan(path).sites[0]
    assert site.base_adjustment == BaseAdjustment.NOTE_BASE_ZERO
    assert original.note is not None and site.address == original.note.pc


def test_missing_base_section_is_said(tmp_path: Path) -> None:
    path = tmp_path / "renamed"
    shutil.copy(SAMPLE, path)
    subprocess.run(
        ["objcopy", "--rename-section", ".stapsdt.base=.stapsdt.gone", str(path)], check=True
    )
    sites = scan(path).sites
    assert sites and all(s.base_adjustment == BaseAdjustment.NO_BASE_SECTION for s in sites)
    assert [s.address for s in sites] == [s.note.pc for s in sites if s.note]


def test_site_outside_executable_segment_is_flagged(tmp_path: Path) -> None:
    elf = ElfFile(str(SAMPLE), SAMPLE.read_bytes())
    data_section = elf.section_by_name(".data")
    assert data_section is not None
    original = scan(SAMPLE).sites[0]
    assert original.note is not None
    delta = original.address - original.note.pc if original.address is not None else 0
    path = patched(tmp_path, first_note_desc(SAMPLE), "<Q", data_section.addr - delta)
    site = scan(path).sites[0]
    assert site.address == data_section.addr
    assert site.file_offset == data_section.offset
    assert any("outside an executable segment" in w for w in site.warnings), site.warnings


def test_unknown_stapsdt_note_type_is_reported(tmp_path: Path) -> None:
    elf = ElfFile(str(SAMPLE), SAMPLE.read_bytes())
    section = elf.section_by_name(".note.stapsdt")
    assert section is not None
    path = patched(tmp_path, section.offset + 8, "<I", 7)
    scanned = scan(path)
    assert len(scanned.sites) == len(scan(SAMPLE).sites) - 1
    (other,) = scanned.other_notes
    assert (other.type, other.offset, other.section) == (7, section.offset, ".note.stapsdt")
    assert any("unknown type 7" in w for w in scanned.warnings)


def test_relocatable_object_says_unrelocated() -> None:
    objects = sorted(FIXTURE_BIN.glob("*/*.o"))
    assert objects, "no object-file fixture"
    scanned = scan(objects[0])
    assert scanned.elf_type == "REL"
    assert scanned.sites
    for site in scanned.sites:
        assert site.base_adjustment == BaseAdjustment.UNRELOCATED
        assert site.file_offset is None and site.function is None
    assert any("unrelocated" in w for w in scanned.warnings)


def test_separate_debug_file_has_no_file_offsets() -> None:
    debug_files = sorted(FIXTURE_BIN.glob("*/*.debug"))
    assert debug_files, "no .debug fixture"
    scanned = scan(debug_files[0])
    assert scanned.sites
    assert all(site.file_offset is None for site in scanned.sites)
    stripped = scan(debug_files[0].with_suffix(".stripped"))
    # Same notes, and the stripped binary has the real offsets.
    assert [s.note for s in stripped.sites] == [s.note for s in scanned.sites]
    assert all(site.file_offset is not None for site in stripped.sites)


@pytest.mark.parametrize("target", ["x86_64", "aarch64", "ppc64", "s390x", "mips", "armhf"])
def test_sites_keep_file_order_and_are_never_merged(target: str) -> None:
    path = FIXTURE_BIN / target / "probes-O2"
    scanned = scan(path)
    offsets = [s.note_offset for s in scanned.sites]
    assert offsets == sorted(offsets)
    # An inlined probe: one probe, several sites with distinct addresses.
    several = [p for p in scanned.probes if len(p.sites) > 1]
    assert several, "fixtures must have an inlined probe with several sites"
    for probe in several:
        assert len({s.address for s in probe.sites}) == len(probe.sites)
