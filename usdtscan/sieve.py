"""Which ELF files of a tree hold no probe, told from their headers alone.

``-r`` over ``/usr/lib`` meets thousands of ELF files and the 24,000
members of its static libraries, and all but a few dozen hold no probe.
For those, the answer (format, machine, class, byte order, type, and no
site) is in the ELF header; that there is nothing more to say is in the
section headers and the section name table.  This module reads just that,
with one precompiled :class:`struct.Struct` per (class, byte order), as
packaging's ``_elffile`` does, and builds no :class:`~usdtscan.elf.ElfFile`.

It only ever says "nothing here": a file with a section that the scan
reads (a note section, or one named ``.SUNW_dof``), and a file with
anything unusual in its headers (extended section numbering, an odd entry
size, a table past the end, a read that fails), is left to the full
reader, which then gives its sites, warnings or error exactly as before.
So the output is the same whichever path a file takes.
"""

from __future__ import annotations

import struct

from .elf import ElfType, SectionType, machine_name
from .errors import UsdtscanError
from .fileio import ByteSource
from .magic import ELF_MAGIC
from .model import FileFormat, ScannedFile

_CLASS_BITS = {1: 32, 2: 64}
_DATA_ORDER = {1: ("<", "little"), 2: (">", "big")}
# Everything after e_ident, and one section header, per (class, byte order).
_HEADER = {
    (bits, order): struct.Struct(order + tail)
    for bits, tail in ((32, "HHIIIIIHHHHHH"), (64, "HHIQQQIHHHHHH"))
    for order in "<>"
}
_SECTION = {
    (bits, order): struct.Struct(order + row)
    for bits, row in ((32, "IIIIIIIIII"), (64, "IIQQQQIIQQ"))
    for order in "<>"
}
# The type of each section header alone.
_TYPE = {
    (bits, order): struct.Struct(order + row)
    for bits, row in ((32, "4xI32x"), (64, "4xI56x"))
    for order in "<>"
}
SHN_XINDEX = 0xFFFF
SDT_SECTION = b".note.stapsdt"
DOF_SECTION = b".SUNW_dof"
_TYPE_NAMES = {member.value: member.name for member in ElfType}


def without_probes(source: ByteSource, sdt_section_only: bool) -> ScannedFile | None:
    """The scan of an ELF file that the full reader would find empty, or None
    when it must look.

    ``sdt_section_only`` is the full reader's walk mode (``-r``): only
    sections named ``.note.stapsdt`` are read there, so other note sections
    do not need it; otherwise every ``SHT_NOTE`` section does.
    """
    try:
        return _without_probes(source, sdt_section_only)
    except (UsdtscanError, struct.error):
        return None  # the full reader says what is wrong, and where


def _without_probes(source: ByteSource, sdt_section_only: bool) -> ScannedFile | None:
    ident = source.head(64)
    bits = _CLASS_BITS.get(ident[4]) if len(ident) >= 16 else None
    data = _DATA_ORDER.get(ident[5]) if len(ident) >= 16 else None
    if ident[:4] != ELF_MAGIC or bits is None or data is None:
        return None
    order, endian = data
    header = _HEADER[bits, order]
    if len(ident) < 16 + header.size:
        return None  # the reader says the header is cut off
    e_type, e_machine, _v, _e, _p, shoff, _f, _h, _pe, _pn, shentsize, shnum, shstrndx = (
        header.unpack_from(ident, 16)
    )
    row = _SECTION[bits, order]
    if not shoff or not shnum or shstrndx == SHN_XINDEX or shentsize != row.size:
        return None  # no sections (the reader looks at the segments), or unusual ones
    if shoff + shnum * row.size > source.size or not 0 < shstrndx < shnum:
        return None
    table = source.read(shoff, shnum * row.size, "section header table")
    names_row = row.unpack_from(table, shstrndx * row.size)
    if names_row[1] == SectionType.NOBITS:
        return None
    names = source.read(names_row[4], names_row[5], "section name table")
    if DOF_SECTION in names:
        return None
    has_notes = (SectionType.NOTE,) in _TYPE[bits, order].iter_unpack(table)
    if has_notes and (not sdt_section_only or SDT_SECTION in names):
        return None
    if source.changed() is not None:
        return None
    return ScannedFile(
        source.path,
        format=FileFormat.ELF,
        machine=machine_name(e_machine, bits),
        bits=bits,
        endian=endian,
        elf_type=_TYPE_NAMES.get(e_type, f"ET_{e_type:#x}"),
    )
