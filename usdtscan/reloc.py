"""Absolute relocations of a section in a relocatable object, as readelf applies them.

In an ``ET_REL`` file the stapsdt note fields are zero (RELA) or addends
(REL) until the linker fills them in; readelf shows them with their
relocations applied, section-relative: symbol value plus addend.  Only the
plain 32/64-bit absolute types are applied, those the assembler emits for
the ``.8byte``/``.4byte`` directives of ``sys/sdt.h``; a field under any
other type keeps its stored bytes and the caller gets a warning.
"""

from __future__ import annotations

import struct

from .elf import ELFCLASS32, ElfFile, Machine, Section, SectionType
from .symbols import symbol_rows

RELOCATION_SECTIONS = (SectionType.REL, SectionType.RELA)

# (e_machine) -> {relocation type: width in bytes}
_ABSOLUTE: dict[int, dict[int, int]] = {
    Machine.X86_64: {1: 8, 10: 4, 11: 4},  # R_X86_64_64, _32, _32S
    Machine.I386: {1: 4},  # R_386_32
    Machine.AARCH64: {257: 8, 258: 4},  # R_AARCH64_ABS64, ABS32
    Machine.ARM: {2: 4},  # R_ARM_ABS32
    Machine.S390: {22: 8, 4: 4},  # R_390_64, R_390_32
    Machine.PPC64: {38: 8, 1: 4},  # R_PPC64_ADDR64, ADDR32
    Machine.PPC: {1: 4},  # R_PPC_ADDR32
    Machine.RISCV: {2: 8, 1: 4},  # R_RISCV_64, R_RISCV_32
    Machine.LOONGARCH: {2: 8, 1: 4},  # R_LARCH_64, R_LARCH_32
    Machine.MIPS: {18: 8, 2: 4},  # R_MIPS_64, R_MIPS_32
    Machine.SPARCV9: {32: 8, 3: 4},  # R_SPARC_64, R_SPARC_32
}
_NONE_TYPES = {0}


def _symbol_values(elf: ElfFile, table: Section) -> list[int]:
    """st_value of each symbol of a symbol table, by index."""
    return [value for _name, _info, _other, _shndx, value, _size in symbol_rows(elf, table)]


def _entries(elf: ElfFile, reloc: Section) -> list[tuple[int, int, int, int | None]]:
    """(offset, symbol index, type, addend or None) of each relocation."""
    order = elf.order
    rela = reloc.type == SectionType.RELA
    wide = elf.elf_class != ELFCLASS32
    fmt = order + ("QQ" if wide else "II") + (("q" if wide else "i") if rela else "")
    entsize = struct.calcsize(fmt)
    data = elf.section_data(reloc)
    mips64_le = wide and elf.e_machine == Machine.MIPS and elf.endian == "little"
    out: list[tuple[int, int, int, int | None]] = []
    for fields in struct.iter_unpack(fmt, data[: len(data) - len(data) % entsize]):
        offset, info = fields[0], fields[1]
        addend = fields[2] if rela else None
        if mips64_le:
            # MIPS64 little-endian stores r_info as a 32-bit symbol then 4 type
            # bytes, so as a little-endian u64 it reads byte-swapped halves.
            symbol, kind = info & 0xFFFFFFFF, (info >> 56) & 0xFF
        elif wide:
            symbol, kind = info >> 32, info & 0xFFFFFFFF
        else:
            symbol, kind = info >> 8, info & 0xFF
        out.append((offset, symbol, kind, addend))
    return out


def relocated_section_data(elf: ElfFile, section: Section) -> tuple[bytes, list[str]]:
    """The section's bytes with its absolute relocations applied, and what was not."""
    data = bytearray(elf.section_data(section))
    warnings: list[str] = []
    widths = _ABSOLUTE.get(elf.e_machine, {})
    order = elf.order
    for reloc in elf.sections:
        if reloc.type not in RELOCATION_SECTIONS or reloc.info != section.index:
            continue
        if not 0 < reloc.link < len(elf.sections):
            warnings.append(f"{reloc.name}: no symbol table, relocations not applied")
            continue
        values = _symbol_values(elf, elf.sections[reloc.link])
        skipped = 0
        for offset, symbol, kind, addend in _entries(elf, reloc):
            width = widths.get(kind)
            if kind in _NONE_TYPES:
                continue
            if width is None or symbol >= len(values) or offset + width > len(data):
                skipped += 1
                continue
            fmt = order + ("Q" if width == 8 else "I")
            value = values[symbol]
            value += addend if addend is not None else struct.unpack_from(fmt, data, offset)[0]
            struct.pack_into(fmt, data, offset, value & ((1 << (8 * width)) - 1))
        if skipped:
            warnings.append(f"{reloc.name}: {skipped} relocations of unknown type not applied")
    return bytes(data), warnings
