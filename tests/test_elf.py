"""usdtscan.elf: the header, sections, segments and notes, on written and real files.

The written files come from tests/dofwriter.py's table-driven ELF writer,
in each class and byte order; the real ones are the fixtures, whose headers
readelf reads independently.
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from usdtscan.elf import ElfFile, Machine, SectionType, SegmentType
from usdtscan.errors import MalformedFileError, NotObjectFileError

from .conftest import FIXTURE_BIN, fixture_binaries
from .dofwriter import (
    PT_LOAD,
    PT_NOTE,
    SHT_NOBITS,
    SHT_NOTE,
    SHT_PROGBITS,
    ElfSection,
    ElfSegment,
    elf_layout,
    elf_note,
    write_elf_file,
)

CLASSES = [
    (64, "little", Machine.X86_64, "x86_64"),
    (64, "big", Machine.S390, "s390x"),
    (32, "little", Machine.ARM, "arm"),
    (32, "big", Machine.MIPS, "mips"),
]


def _sample(bits: int, endian: str, machine: int) -> bytes:
    note = elf_note(b"stapsdt", 3, b"\x01\x02\x03", endian=endian)
    note += elf_note(b"GNU", 1, bytes(range(8)), endian=endian)
    sections = [
        ElfSection(".text", SHT_PROGBITS, b"\x90" * 32, 6, 0x401000, offset=0x1000, align=16),
        ElfSection(".note.stapsdt", SHT_NOTE, note, align=4),
        ElfSection(".bss", SHT_NOBITS, flags=3, addr=0x403000, align=8, size=0x100),
    ]
    segments = [
        ElfSegment(PT_LOAD, 5, 0x1000, 0x401000, 32),
        ElfSegment(PT_NOTE, 4, elf_layout(sections, bits=bits, segments=2)[".note.stapsdt"], 0, 1),
    ]
    return write_elf_file(
        sections, segments, machine=machine, bits=bits, endian=endian, e_type=2, entry=0x401000
    )


@pytest.mark.parametrize(("bits", "endian", "machine", "name"), CLASSES)
def test_header_sections_and_segments_of_each_class(
    bits: int, endian: str, machine: int, name: str
) -> None:
    image = _sample(bits, endian, machine)
    elf = ElfFile("sample", image)
    assert (elf.bits, elf.endian, elf.addr_size) == (bits, endian, bits // 8)
    assert (elf.e_machine, elf.machine, elf.type_name, elf.e_entry) == (
        machine,
        name,
        "EXEC",
        0x401000,
    )
    names = [s.name for s in elf.sections]
    assert names == ["", ".text", ".note.stapsdt", ".bss", ".shstrtab"]
    text = elf.section_by_name(".text")
    assert text is not None and (text.offset, text.addr, text.size) == (0x1000, 0x401000, 32)
    assert elf.section_data(text) == b"\x90" * 32
    bss = elf.sections[3]
    assert bss.type == SectionType.NOBITS and not bss.has_file_data and bss.size == 0x100
    assert elf.section_data(bss) == b""
    load, note = elf.segments
    assert (load.type, load.offset, load.vaddr, load.filesz) == (
        SegmentType.LOAD,
        0x1000,
        0x401000,
        32,
    )
    assert note.type == SegmentType.NOTE
    assert elf.load_segment_for(0x401010) is elf.segments[0]
    assert elf.load_segment_for(0x402000) is None
    (notes,) = elf.note_sections()
    got = [(n.name, n.type, n.desc) for n in elf.notes(notes)]
    assert got == [(b"stapsdt", 3, b"\x01\x02\x03"), (b"GNU", 1, bytes(range(8)))]
    word = bytes(range(bits // 8))
    expected = int.from_bytes(word, "little") if endian == "little" else int.from_bytes(word, "big")
    assert elf.read_address(bytes(range(8)), 0) == expected


def test_notes_are_padded_to_eight_only_in_a_section_aligned_to_eight() -> None:
    """readelf's rule: GNU property notes (8-aligned sections) pad to 8, others to 4."""
    padded = elf_note(b"GNU", 5, b"\xaa" * 4, align=8) + elf_note(b"GNU", 5, b"\xbb" * 4, align=8)
    sections = [ElfSection(".note.gnu.property", SHT_NOTE, padded, 2, align=8)]
    elf = ElfFile("property", write_elf_file(sections))
    notes = list(elf.notes(elf.sections[1]))
    assert [n.desc for n in notes] == [b"\xaa" * 4, b"\xbb" * 4]
    assert notes[1].offset - notes[0].offset == 24  # 12 + 4 ("GNU\0") + 8 (desc padded to 8)


def test_note_running_past_its_section_is_an_error() -> None:
    lying = struct.pack("<III", 8, 0x1000, 3) + b"stapsdt\0" + b"x" * 8
    elf = ElfFile("lying", write_elf_file([ElfSection(".note.stapsdt", SHT_NOTE, lying, align=4)]))
    with pytest.raises(MalformedFileError, match=r"claims 8\+4096 bytes, past the end"):
        list(elf.notes(elf.sections[1]))


def test_trailing_bytes_in_a_note_section_are_an_error() -> None:
    data = elf_note(b"stapsdt", 3, b"abcd") + b"\x01\x00\x00"
    elf = ElfFile("trailing", write_elf_file([ElfSection(".note.stapsdt", SHT_NOTE, data)]))
    with pytest.raises(
        MalformedFileError, match=r"3 trailing bytes in note section \.note\.stapsdt"
    ):
        list(elf.notes(elf.sections[1]))


def test_extended_section_numbering_reads_the_count_from_section_zero() -> None:
    """e_shnum 0 and e_shstrndx SHN_XINDEX: the values are in section header 0."""
    image = bytearray(write_elf_file([ElfSection(".text", SHT_PROGBITS, b"\xc3")]))
    (shoff,) = struct.unpack_from("<Q", image, 0x28)
    struct.pack_into("<HH", image, 0x3C, 0, 0xFFFF)  # e_shnum, e_shstrndx
    struct.pack_into("<QI", image, shoff + 0x20, 3, 2)  # section 0's sh_size, sh_link
    elf = ElfFile("extended", bytes(image))
    assert [s.name for s in elf.sections] == ["", ".text", ".shstrtab"]


def test_short_reads_are_one_domain_error() -> None:
    image = write_elf_file([ElfSection(".text", SHT_PROGBITS, b"\xc3")])
    with pytest.raises(MalformedFileError, match="truncated address"):
        ElfFile("x", image).read_address(b"\0\0\0", 0)
    with pytest.raises(MalformedFileError, match="truncated ELF header"):
        ElfFile("cut", image[:40])
    cut = ElfFile("cut", image[:-8])  # the section header table loses its last bytes
    with pytest.raises(MalformedFileError, match=r"section header table \(.*\) runs past the end"):
        _ = cut.sections
    with pytest.raises(NotObjectFileError, match="not an ELF file"):
        ElfFile("text", b"#!/bin/sh\n" + bytes(64))


def test_unknown_class_and_byte_order_are_named() -> None:
    image = bytearray(write_elf_file([]))
    image[4] = 3
    with pytest.raises(MalformedFileError, match="unknown ELF class 3"):
        ElfFile("x", bytes(image))
    image[4], image[5] = 2, 7
    with pytest.raises(MalformedFileError, match="unknown ELF data encoding 7"):
        ElfFile("x", bytes(image))


def _readelf_header(path: Path) -> dict[str, str]:
    text = subprocess.run(
        ["readelf", "-hW", str(path)], capture_output=True, text=True, check=True
    ).stdout
    return dict(re.findall(r"^\s+([^:]+):\s+(.*?)\s*$", text, re.MULTILINE))


@pytest.mark.skipif(shutil.which("readelf") is None, reason="readelf not installed")
@pytest.mark.parametrize(
    "binary", fixture_binaries(), ids=lambda p: str(p.relative_to(FIXTURE_BIN))
)
def test_header_matches_readelf(binary: Path) -> None:
    header = _readelf_header(binary)
    elf = ElfFile(str(binary), binary.read_bytes())
    assert header["Class"] == f"ELF{elf.bits}"
    assert header["Data"].startswith(f"2's complement, {elf.endian} endian")
    assert int(header["Entry point address"], 16) == elf.e_entry
    assert int(header["Flags"].split(",")[0], 16) == elf.e_flags
    assert int(header["Number of section headers"]) == len(elf.sections) == elf.section_count
    assert int(header["Number of program headers"]) == len(elf.segments)
    assert header["Type"].split()[0] == elf.type_name
