"""usdtscan.reloc: the absolute relocations readelf applies to an object's sections.

Written by tests/dofwriter.py: RELA (addend in the entry) in a 64-bit
little-endian x86-64 object, REL (addend in place) in a 32-bit big-endian
PowerPC one.  The relocatable fixtures' notes are checked against readelf
in tests/test_readelf_oracle.py.
"""

from __future__ import annotations

import struct

from usdtscan.elf import ElfFile, Machine
from usdtscan.reloc import relocated_section_data

from .dofwriter import (
    SHT_PROGBITS,
    SHT_REL,
    SHT_RELA,
    SHT_STRTAB,
    SHT_SYMTAB,
    STT_OBJECT,
    ElfSection,
    ElfSymbol,
    elf_relocations,
    elf_symbols,
    write_elf_file,
)

R_X86_64_64, R_X86_64_32, R_X86_64_PC32 = 1, 10, 2
R_PPC_ADDR32 = 1


def _object(
    data: bytes,
    relocations: list[tuple[int, int, int, int | None]],
    *,
    machine: int,
    bits: int,
    endian: str,
    link: int = 2,
) -> ElfFile:
    symbols, names = elf_symbols(
        [ElfSymbol("counter", 0x100, 8, kind=STT_OBJECT), ElfSymbol("other", 0x2000, 4)],
        bits=bits,
        endian=endian,
    )
    rela = relocations[0][3] is not None
    kind = SHT_RELA if rela else SHT_REL
    entsize = (3 if rela else 2) * bits // 8
    sections = [
        ElfSection(".data", SHT_PROGBITS, data, 3, align=8),
        ElfSection(
            ".symtab", SHT_SYMTAB, symbols, link=3, info=1, align=8, entsize=len(symbols) // 3
        ),
        ElfSection(".strtab", SHT_STRTAB, names),
        ElfSection(
            ".rela.data" if rela else ".rel.data",
            kind,
            elf_relocations(relocations, bits=bits, endian=endian),
            link=link,
            info=1,
            align=8,
            entsize=entsize,
        ),
    ]
    image = write_elf_file(sections, machine=machine, bits=bits, endian=endian, e_type=1)
    return ElfFile("object.o", image)


def test_rela_adds_symbol_and_addend_and_names_what_it_skips() -> None:
    relocations: list[tuple[int, int, int, int | None]] = [
        (0, 1, R_X86_64_64, 0x10),
        (8, 2, R_X86_64_32, 4),
        (12, 1, R_X86_64_PC32, 0),  # PC-relative: not what sys/sdt.h's directives emit
    ]
    elf = _object(bytes(16), relocations, machine=Machine.X86_64, bits=64, endian="little")
    data, warnings = relocated_section_data(elf, elf.sections[1])
    assert struct.unpack("<QII", data) == (0x110, 0x2004, 0)
    assert warnings == [".rela.data: 1 relocations of unknown type not applied"]


def test_rel_adds_the_addend_stored_in_place() -> None:
    stored = struct.pack(">II", 0x20, 0x7)
    relocations: list[tuple[int, int, int, int | None]] = [(0, 1, R_PPC_ADDR32, None)]
    elf = _object(stored, relocations, machine=Machine.PPC, bits=32, endian="big")
    data, warnings = relocated_section_data(elf, elf.sections[1])
    assert struct.unpack(">II", data) == (0x120, 0x7)
    assert warnings == []


def test_relocations_without_a_symbol_table_are_not_applied() -> None:
    relocations: list[tuple[int, int, int, int | None]] = [(0, 1, R_X86_64_64, 0x10)]
    elf = _object(bytes(8), relocations, machine=Machine.X86_64, bits=64, endian="little", link=0)
    data, warnings = relocated_section_data(elf, elf.sections[1])
    assert data == bytes(8)
    assert warnings == [".rela.data: no symbol table, relocations not applied"]
