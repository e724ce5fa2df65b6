"""The dynamic section: what the loader needs to find an object's libraries.

``usdtscan --deps`` and CPython detection (an ``--enable-shared`` python
keeps its probes in the libpython it names) read DT_NEEDED, DT_RPATH,
DT_RUNPATH and DT_SONAME here; :mod:`usdtscan.ldso` resolves them.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

from .elf import ELFCLASS32, ElfFile, SectionType, SegmentType, cstring


class DynamicTag(enum.IntEnum):
    """The ``d_tag`` values read here (``elf.h``'s ``DT_*``)."""

    NULL = 0
    NEEDED = 1
    STRTAB = 5
    STRSZ = 10
    SONAME = 14
    RPATH = 15
    RUNPATH = 29


# Elf32_Dyn / Elf64_Dyn: a signed tag and a word.
_ENTRY_FORMAT = {ELFCLASS32: "iI"}
_ENTRY_FORMAT_64 = "qQ"


@dataclass(frozen=True, slots=True)
class DynamicInfo:
    """What the dynamic loader needs from one object to find its libraries."""

    needed: tuple[str, ...]
    rpath: str | None
    runpath: str | None
    soname: str | None


def dynamic_info(elf: ElfFile) -> DynamicInfo | None:
    """DT_NEEDED, DT_RPATH, DT_RUNPATH and DT_SONAME, as the dynamic loader reads them.

    The loader reads ``PT_DYNAMIC`` and finds the strings through
    ``DT_STRTAB``, ignoring section headers, so this does the same and only
    falls back to ``.dynamic``/``.dynstr`` when there is no program header.
    None when the file has no dynamic section with bytes (static, or a
    separate debug file).
    """
    table = _dynamic_table(elf)
    if table is None:
        return None
    entries = _entries(elf, table)
    strings = _dynamic_strings(elf, entries)

    def text(offset: int) -> str:
        return cstring(strings, offset)

    def first(tag: DynamicTag) -> str | None:
        return next((text(v) for t, v in entries if t == tag), None)

    return DynamicInfo(
        needed=tuple(text(v) for t, v in entries if t == DynamicTag.NEEDED),
        rpath=first(DynamicTag.RPATH),
        runpath=first(DynamicTag.RUNPATH),
        soname=first(DynamicTag.SONAME),
    )


def _entries(elf: ElfFile, table: bytes) -> list[tuple[int, int]]:
    """The (tag, value) entries up to DT_NULL; a trailing partial entry is ignored."""
    fmt = elf.order + _ENTRY_FORMAT.get(elf.elf_class, _ENTRY_FORMAT_64)
    usable = len(table) - len(table) % struct.calcsize(fmt)
    entries: list[tuple[int, int]] = []
    for tag, value in struct.iter_unpack(fmt, table[:usable]):
        if tag == DynamicTag.NULL:
            break
        entries.append((tag, value))
    return entries


def _dynamic_table(elf: ElfFile) -> bytes | None:
    for segment in elf.segments:
        if segment.type == SegmentType.DYNAMIC:
            if segment.filesz == 0:
                return None
            return elf.read(segment.offset, segment.filesz, "dynamic segment")
    for section in elf.sections:
        if section.type == SectionType.DYNAMIC:
            return elf.section_data(section) or None
    return None


def _dynamic_strings(elf: ElfFile, entries: list[tuple[int, int]]) -> bytes:
    address = next((v for t, v in entries if t == DynamicTag.STRTAB), None)
    size = next((v for t, v in entries if t == DynamicTag.STRSZ), None)
    if address is not None and size is not None:
        segment = elf.load_segment_for(address)
        if segment is not None and address - segment.vaddr + size <= segment.filesz:
            return elf.read(address - segment.vaddr + segment.offset, size, "DT_STRTAB")
    dynstr = elf.section_by_name(".dynstr")
    return b"" if dynstr is None else elf.section_data(dynstr)
