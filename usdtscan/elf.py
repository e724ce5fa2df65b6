"""A small, strict ELF reader: the header, sections, segments and notes.

This is the container layer.  It knows nothing about probes; it hands out
sections, segments and notes, every one bounds-checked against the file so
that a corrupt or hostile file gives a
:class:`~usdtscan.errors.MalformedFileError` naming what could not be read,
never an ``IndexError``, a ``struct.error`` or an allocation the size of a
lying header.  What is built on these lives beside this module: symbol
tables in :mod:`usdtscan.symbols`, the dynamic section in
:mod:`usdtscan.dynamic`, the build ID and debug link in
:mod:`usdtscan.debuginfo`, relocations in :mod:`usdtscan.reloc`.

It reads with :mod:`struct` over the bytes a :class:`~usdtscan.fileio.ByteSource`
returns (``pread`` of the structures asked for, never a map) rather than
through pyelftools: listing probes must start fast and scale to files with
tens of thousands of notes, and pyelftools costs more to import than the
whole listing of a typical binary.  pyelftools is used by the tests as an
independent oracle for this module.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

from .errors import MalformedFileError, NotObjectFileError
from .fileio import ByteSource, BytesReader
from .magic import ELF_MAGIC

# e_ident indices and values
EI_CLASS, EI_DATA = 4, 5
ELFCLASS32, ELFCLASS64 = 1, 2
ELFDATA2LSB, ELFDATA2MSB = 1, 2

SHN_UNDEF = 0
SHN_XINDEX = 0xFFFF
PN_XNUM = 0xFFFF

PF_X, PF_W, PF_R = 1, 2, 4


class ElfType(enum.IntEnum):
    NONE = 0
    REL = 1
    EXEC = 2
    DYN = 3
    CORE = 4


class SectionType(enum.IntEnum):
    NULL = 0
    PROGBITS = 1
    SYMTAB = 2
    STRTAB = 3
    RELA = 4
    DYNAMIC = 6
    NOTE = 7
    NOBITS = 8
    REL = 9
    DYNSYM = 11


class SegmentType(enum.IntEnum):
    LOAD = 1
    DYNAMIC = 2
    NOTE = 4


class Machine(enum.IntEnum):
    """The e_machine values of the architectures we name; others keep their number."""

    SPARC = 2
    I386 = 3
    M68K = 4
    MIPS = 8
    PPC = 20
    PPC64 = 21
    S390 = 22
    ARM = 40
    SPARCV9 = 43
    IA_64 = 50
    X86_64 = 62
    AARCH64 = 183
    RISCV = 243
    LOONGARCH = 258


# The names users know (uname -m / Debian's multiarch stems), by (e_machine, bits).
_MACHINE_NAMES: dict[tuple[int, int], str] = {
    (Machine.I386, 32): "i386",
    (Machine.X86_64, 64): "x86_64",
    (Machine.X86_64, 32): "x32",
    (Machine.AARCH64, 64): "aarch64",
    (Machine.AARCH64, 32): "aarch64_ilp32",
    (Machine.ARM, 32): "arm",
    (Machine.S390, 64): "s390x",
    (Machine.S390, 32): "s390",
    (Machine.PPC64, 64): "ppc64",
    (Machine.PPC, 32): "ppc",
    (Machine.RISCV, 64): "riscv64",
    (Machine.RISCV, 32): "riscv32",
    (Machine.MIPS, 64): "mips64",
    (Machine.MIPS, 32): "mips",
    (Machine.LOONGARCH, 64): "loongarch64",
    (Machine.LOONGARCH, 32): "loongarch32",
    (Machine.SPARCV9, 64): "sparc64",
    (Machine.SPARC, 32): "sparc",
    (Machine.IA_64, 64): "ia64",
    (Machine.M68K, 32): "m68k",
}


# MIPS n32: an ELFCLASS32 file of 64-bit registers (o32 has 32-bit ones).
EF_MIPS_ABI2 = 0x20


def machine_name(e_machine: int, bits: int, e_flags: int = 0) -> str:
    """The conventional architecture name, or ``em_<number>`` for one we do not name.

    usdtscan.args.registry holds, for each name, its registers and grammar."""
    if e_machine == Machine.MIPS and bits == 32 and e_flags & EF_MIPS_ABI2:
        return "mipsn32"
    return _MACHINE_NAMES.get((e_machine, bits), f"em_{e_machine}")


class _Layout(NamedTuple):
    """The struct formats of one (class, byte order), as packaging's _elffile keys them.

    A NamedTuple rather than a dataclass: it is made at import, and a
    dataclass costs 0.4 ms of every start-up.
    """

    header: struct.Struct  # everything after e_ident
    section: struct.Struct
    segment: struct.Struct
    address: struct.Struct
    note: struct.Struct


def _layout(order: str, wide: bool) -> _Layout:
    return _Layout(
        header=struct.Struct(order + ("HHIQQQIHHHHHH" if wide else "HHIIIIIHHHHHH")),
        section=struct.Struct(order + ("IIQQQQIIQQ" if wide else "IIIIIIIIII")),
        segment=struct.Struct(order + ("IIQQQQQQ" if wide else "IIIIIIII")),
        address=struct.Struct(order + ("Q" if wide else "I")),
        note=struct.Struct(order + "III"),
    )


_LAYOUTS: dict[tuple[int, int], _Layout] = {
    (elf_class, data): _layout(order, elf_class == ELFCLASS64)
    for elf_class in (ELFCLASS32, ELFCLASS64)
    for data, order in ((ELFDATA2LSB, "<"), (ELFDATA2MSB, ">"))
}


@dataclass(frozen=True, slots=True)
class Section:
    index: int
    name: str
    type: int
    flags: int
    addr: int
    offset: int
    size: int
    link: int
    info: int
    addralign: int
    entsize: int

    @property
    def has_file_data(self) -> bool:
        return self.type not in (SectionType.NOBITS, SectionType.NULL)

    @property
    def label(self) -> str:
        """How an error message names the section: by name, or by index if it has none."""
        return f"section {self.name or self.index}"


@dataclass(frozen=True, slots=True)
class Segment:
    type: int
    flags: int
    offset: int
    vaddr: int
    filesz: int
    memsz: int

    def contains(self, address: int) -> bool:
        return self.vaddr <= address < self.vaddr + self.memsz


@dataclass(frozen=True, slots=True)
class Note:
    """One ELF note; ``desc`` is a view into the file, ``offset`` the note's file offset."""

    name: bytes
    type: int
    desc: bytes
    offset: int


def cstring(data: bytes, offset: int) -> str:
    """The NUL-terminated string at ``offset`` of a string table; "" past its end."""
    if offset >= len(data):
        return ""
    end = data.find(b"\0", offset)
    if end < 0:
        end = len(data)
    return data[offset:end].decode("utf-8", "backslashreplace")


def _section(index: int, row: tuple[int, ...], names: bytes) -> Section:
    name, s_type, flags, addr, offset, size, link, info, align, entsize = row
    return Section(
        index, cstring(names, name), s_type, flags, addr, offset, size, link, info, align, entsize
    )


def _offsets_of(names: bytes, wanted: bytes) -> set[int]:
    """Every offset of the name table at which the name ``wanted`` starts."""
    offsets = set()
    start = names.find(wanted + b"\0")
    while start >= 0:
        offsets.add(start)
        start = names.find(wanted + b"\0", start + 1)
    if names.endswith(wanted):  # a last name without its NUL
        offsets.add(len(names) - len(wanted))
    return offsets


def _segment(row: tuple[int, ...], wide: bool) -> Segment:
    if wide:
        p_type, p_flags, p_offset, p_vaddr, _paddr, p_filesz, p_memsz, _align = row
    else:
        p_type, p_offset, p_vaddr, _paddr, p_filesz, p_memsz, p_flags, _align = row
    return Segment(p_type, p_flags, p_offset, p_vaddr, p_filesz, p_memsz)


class ElfFile:
    """An ELF file, parsed on demand from a :class:`~usdtscan.fileio.ByteSource`.

    Only the header is read up front; the section and program header tables
    are read when first asked for, so that a tree walk which wants two
    section names pays for nothing else.  ``data`` may also be the file's
    bytes, for callers that hold them already.
    """

    def __init__(self, path: str, data: bytes | bytearray | memoryview | ByteSource) -> None:
        self.path = path
        if isinstance(data, (bytes, bytearray, memoryview)):
            data = BytesReader(path, data)
        self._source: ByteSource = data
        head = self._source.head(16)
        if head[:4] != ELF_MAGIC:
            raise NotObjectFileError(path, "not an ELF file")
        if len(head) < 16:
            raise MalformedFileError(path, "truncated ELF header", len(head))
        ei_class, ei_data = head[EI_CLASS], head[EI_DATA]
        if ei_class not in (ELFCLASS32, ELFCLASS64):
            raise MalformedFileError(path, f"unknown ELF class {ei_class}", EI_CLASS)
        if ei_data not in (ELFDATA2LSB, ELFDATA2MSB):
            raise MalformedFileError(path, f"unknown ELF data encoding {ei_data}", EI_DATA)
        self.elf_class = ei_class
        self.bits = 32 if ei_class == ELFCLASS32 else 64
        self.endian = "little" if ei_data == ELFDATA2LSB else "big"
        self.order = "<" if ei_data == ELFDATA2LSB else ">"
        self.addr_size = self.bits // 8
        self._layout = _LAYOUTS[ei_class, ei_data]
        self._address = self._layout.address
        (
            self.e_type,
            self.e_machine,
            _version,
            self.e_entry,
            self.e_phoff,
            self.e_shoff,
            self.e_flags,
            _ehsize,
            self.e_phentsize,
            self._e_phnum,
            self.e_shentsize,
            self._e_shnum,
            self._e_shstrndx,
        ) = self.unpack(self._layout.header, 16, "ELF header")
        self.machine = machine_name(self.e_machine, self.bits, self.e_flags)
        self._sections: list[Section] | None = None
        self._section_rows: tuple[list[tuple[int, ...]], bytes] | None = None
        self._segments: list[Segment] | None = None

    @property
    def size(self) -> int:
        return self._source.size

    @property
    def type_name(self) -> str:
        try:
            return ElfType(self.e_type).name
        except ValueError:
            return f"ET_{self.e_type:#x}"

    # -- reads: every one bounds-checked, every failure one MalformedFileError --------

    def read(self, offset: int, size: int, what: str) -> bytes:
        """``size`` bytes at ``offset``, or an error naming ``what`` was cut off."""
        return self._source.read(offset, size, what)

    def unpack(self, layout: struct.Struct, offset: int, what: str) -> tuple[int, ...]:
        """One structure of the file at ``offset``, or an error naming ``what``."""
        if offset < 0 or offset + layout.size > self.size:
            raise MalformedFileError(self.path, f"truncated {what}", offset)
        return unpack_from(self.path, layout, self.read(offset, layout.size, what), 0, what)

    def read_address(self, data: bytes, offset: int) -> int:
        """The address-sized word at ``offset`` of bytes already read from this file."""
        try:  # not through unpack_from: 3 calls a note, 7.2 ms a 20k file there, 4.9 here
            value: int = self._address.unpack_from(data, offset)[0]
        except struct.error:
            raise MalformedFileError(self.path, "truncated address", offset) from None
        return value

    def read_table(
        self, offset: int, count: int, entsize: int, row: struct.Struct, what: str
    ) -> list[tuple[int, ...]]:
        """The ``count`` rows of a table of ``entsize``-byte entries, each unpacked by ``row``."""
        if count and entsize < row.size:
            raise MalformedFileError(self.path, f"{what} entry size {entsize} is below {row.size}")
        if offset < 0 or offset + count * entsize > self.size:
            raise MalformedFileError(
                self.path,
                f"{what} ({count} entries of {entsize} bytes) runs past the end of the file",
                offset,
            )
        table = self.read(offset, count * entsize, what)
        if entsize == row.size:
            return list(row.iter_unpack(table))
        return [unpack_from(self.path, row, table, i * entsize, what) for i in range(count)]

    # -- sections -----------------------------------------------------------

    @property
    def sections(self) -> list[Section]:
        if self._sections is None:
            rows, names = self._rows()
            self._sections = [_section(i, row, names) for i, row in enumerate(rows)]
        return self._sections

    @property
    def section_count(self) -> int:
        return len(self._rows()[0])

    def _rows(self) -> tuple[list[tuple[int, ...]], bytes]:
        """The raw section headers and the section name table, read once.

        A tree walk asks each file for its note sections and two names only,
        so :class:`Section` objects are made for those (``sections`` makes
        them all).
        """
        if self._section_rows is None:
            self._section_rows = self._read_rows()
        return self._section_rows

    def _read_rows(self) -> tuple[list[tuple[int, ...]], bytes]:
        if self.e_shoff == 0:
            return [], b""
        layout = self._layout.section
        shnum, shstrndx = self._e_shnum, self._e_shstrndx
        if shnum == 0 or shstrndx == SHN_XINDEX:
            # Extended numbering: the real values live in section header 0.
            first = self.unpack(layout, self.e_shoff, "section header 0")
            shnum = first[5] if shnum == 0 else shnum
            shstrndx = first[6] if shstrndx == SHN_XINDEX else shstrndx
        rows = self.read_table(
            self.e_shoff, shnum, self.e_shentsize, layout, "section header table"
        )
        names = b""
        if 0 < shstrndx < shnum:
            _n, s_type, _f, _a, s_off, s_size, *_ = rows[shstrndx]
            if s_type != SectionType.NOBITS:
                names = self.read(s_off, s_size, "section name table")
        return rows, names

    def section_by_name(self, name: str) -> Section | None:
        """The first section called ``name``; found by its name's offsets in the
        name table, without decoding every name."""
        if self._sections is not None or not name or "\\" in name:
            return next((s for s in self.sections if s.name == name), None)
        rows, names = self._rows()
        offsets = _offsets_of(names, name.encode())
        return next((_section(i, r, names) for i, r in enumerate(rows) if r[0] in offsets), None)

    def section_data(self, section: Section) -> bytes:
        if not section.has_file_data:
            return b""
        return self.read(section.offset, section.size, section.label)

    def linked_section_data(self, section: Section) -> bytes:
        """The bytes of the section ``sh_link`` names (a symbol table's strings), or b""."""
        sections = self.sections
        if not 0 < section.link < len(sections):
            return b""
        return self.section_data(sections[section.link])

    # -- segments -----------------------------------------------------------

    @property
    def segments(self) -> list[Segment]:
        if self._segments is None:
            self._segments = self._read_segments()
        return self._segments

    def _read_segments(self) -> list[Segment]:
        if self.e_phoff == 0:
            return []
        phnum = self._e_phnum
        if phnum == PN_XNUM and self.sections:
            phnum = self.sections[0].info
        layout, wide = self._layout.segment, self.elf_class == ELFCLASS64
        rows = self.read_table(
            self.e_phoff, phnum, self.e_phentsize, layout, "program header table"
        )
        return [_segment(row, wide) for row in rows]

    def load_segment_for(self, address: int) -> Segment | None:
        for segment in self.segments:
            if segment.type == SegmentType.LOAD and segment.contains(address):
                return segment
        return None

    # -- notes --------------------------------------------------------------

    def note_sections(self) -> list[Section]:
        if self._sections is not None:
            return [s for s in self._sections if s.type == SectionType.NOTE]
        rows, names = self._rows()
        return [_section(i, row, names) for i, row in enumerate(rows) if row[1] == SectionType.NOTE]

    def notes(self, section: Section, data: bytes | None = None) -> Iterator[Note]:
        """The notes of one SHT_NOTE section, in file order.

        Alignment follows readelf: 8-byte padding only in a section aligned to
        8 (GNU property notes), 4 everywhere else.  A note whose sizes run past
        the section ends the walk with an error rather than a guess.  ``data``
        replaces the section's bytes (a relocated copy, for object files).
        """
        if data is None:
            if not section.has_file_data:
                return
            if section.offset < 0 or section.offset + section.size > self.size:
                self.read(section.offset, section.size, section.label)
        yield from _walk_notes(self, section, self._layout.note, _NoteWindow(self, section, data))


def unpack_from(
    path: str, layout: struct.Struct, data: bytes, offset: int, what: str
) -> tuple[int, ...]:
    """``layout.unpack_from``, with a short buffer reported as the domain error it is."""
    try:
        return layout.unpack_from(data, offset)
    except struct.error:
        raise MalformedFileError(path, f"truncated {what}", offset) from None


# Note sections are read this many bytes at a time (more for a larger note).
NOTE_WINDOW = 1 << 20


class _NoteWindow:
    """A sliding window over a note section: the bytes from ``base`` on, refilled on demand.

    It keeps the 400,000 notes of a huge binary from being in memory at once.
    """

    def __init__(self, elf: ElfFile, section: Section, data: bytes | None = None) -> None:
        self._elf, self._section = elf, section
        if data is not None:
            self.total, self._buffer = len(data), data
        else:
            self.total, self._buffer = section.size, b""
        self._base = 0

    def get(self, start: int, length: int) -> tuple[bytes, int]:
        """A buffer holding section bytes ``start`` to ``start + length``, and its base."""
        if start - self._base + length > len(self._buffer) or start < self._base:
            size = min(max(length, NOTE_WINDOW), self.total - start)
            offset = self._section.offset + start
            self._buffer = self._elf.read(offset, size, self._section.label)
            self._base = start
        return self._buffer, self._base


def _walk_notes(
    elf: ElfFile, section: Section, header: struct.Struct, window: _NoteWindow
) -> Iterator[Note]:
    total = window.total
    align = 8 if section.addralign == 8 else 4
    position = 0
    while position + 12 <= total:
        buffer, base = window.get(position, 12)
        namesz, descsz, n_type = header.unpack_from(buffer, position - base)
        name_start = position + 12
        desc_start = _round_up(name_start + namesz, align)
        end = _round_up(desc_start + descsz, align)
        if desc_start + descsz > total:
            raise MalformedFileError(
                elf.path,
                f"note in section {section.name} claims {namesz}+{descsz} bytes, "
                f"past the end of the section",
                section.offset + position,
            )
        buffer, base = window.get(position, desc_start + descsz - position)
        name = buffer[name_start - base : name_start - base + namesz]
        if name.endswith(b"\0"):
            name = name[:-1]
        desc = buffer[desc_start - base : desc_start - base + descsz]
        yield Note(name, n_type, desc, section.offset + position)
        position = end
    if position < total:
        buffer, base = window.get(position, total - position)
        if any(buffer[position - base : total - base]):
            raise MalformedFileError(
                elf.path,
                f"{total - position} trailing bytes in note section {section.name}",
                section.offset + position,
            )


def _round_up(value: int, align: int) -> int:
    return (value + align - 1) & ~(align - 1)
