"""A small, strict ELF reader: header, sections, segments, symbols and notes.

This is the container layer.  It knows nothing about probes; it hands out
sections, segments, notes and function symbols, every one bounds-checked
against the file so that a corrupt or hostile file gives a
:class:`~usdtscan.errors.MalformedFileError` naming what could not be read,
never an ``IndexError`` or an allocation the size of a lying header.

It reads with :mod:`struct` over the bytes a :class:`~usdtscan.fileio.ByteSource`
returns (``pread`` of the structures asked for, never a map) rather than
through pyelftools: listing probes must start fast and scale to files with
tens of thousands of notes, and pyelftools costs more to import than the
whole listing of a typical binary.  pyelftools is used by the tests as an
independent oracle for this module.
"""

from __future__ import annotations

import bisect
import enum
import struct
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from .errors import MalformedFileError, NotObjectFileError
from .fileio import ByteSource, BytesReader
from .magic import ELF_MAGIC

# e_ident indices and values
EI_CLASS, EI_DATA = 4, 5
ELFCLASS32, ELFCLASS64 = 1, 2
ELFDATA2LSB, ELFDATA2MSB = 1, 2

SHN_UNDEF = 0
SHN_LORESERVE = 0xFF00
SHN_XINDEX = 0xFFFF
PN_XNUM = 0xFFFF


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
    NOTE = 7
    NOBITS = 8
    DYNSYM = 11


class SegmentType(enum.IntEnum):
    LOAD = 1
    DYNAMIC = 2
    NOTE = 4


PF_X, PF_W, PF_R = 1, 2, 4

STT_FUNC = 2
NT_GNU_BUILD_ID = 3
STT_GNU_IFUNC = 10
STT_SECTION = 3
STT_FILE = 4


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


def machine_name(e_machine: int, bits: int) -> str:
    """The conventional architecture name, or ``em_<number>`` for one we do not name."""
    return _MACHINE_NAMES.get((e_machine, bits), f"em_{e_machine}")


# Struct formats keyed by (class, byte order), as in packaging's _elffile.
_ORDER = {ELFDATA2LSB: "<", ELFDATA2MSB: ">"}
_EHDR_TAIL = {  # everything after e_ident
    ELFCLASS32: "HHIIIIIHHHHHH",
    ELFCLASS64: "HHIQQQIHHHHHH",
}
_SHDR = {ELFCLASS32: "IIIIIIIIII", ELFCLASS64: "IIQQQQIIQQ"}
_PHDR = {ELFCLASS32: "IIIIIIII", ELFCLASS64: "IIQQQQQQ"}
_SYM = {ELFCLASS32: "IIIBBH", ELFCLASS64: "IBBHQQ"}


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


class FunctionIndex:
    """Function symbols sorted by address, for "which function holds this pc".

    Built from ``.symtab`` when present, else ``.dynsym``, the order GDB and
    readelf users expect.  Names are decoded lazily: a file with 100,000
    symbols and ten probes should not decode 100,000 strings.
    """

    def __init__(self, source: str, entries: list[tuple[int, int, int]], strtab: bytes) -> None:
        entries.sort()
        self.source = source
        self._starts = [e[0] for e in entries]
        self._entries = entries
        self._strtab = strtab

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, address: int) -> tuple[str, int] | None:
        """The (name, offset) of the sized function containing ``address``.

        Several symbols may cover one address (aliases, nested sizes); the
        one starting closest below the address wins, as in GDB.
        """
        i = bisect.bisect_right(self._starts, address) - 1
        while i >= 0:
            start, size, name_offset = self._entries[i]
            if start <= address < start + size:
                return _cstring(self._strtab, name_offset), address - start
            if address - start > 1 << 24:  # no function is this large; stop scanning
                return None
            i -= 1
        return None


class SymbolIndex:
    """Symbols by name and by address, for resolving and naming operand addresses."""

    def __init__(self, entries: list[tuple[int, int, str]]) -> None:
        entries.sort()
        self._starts = [e[0] for e in entries]
        self._entries = entries
        self._by_name: dict[str, int] = {}
        for value, _size, name in entries:
            self._by_name.setdefault(name, value)

    def __len__(self) -> int:
        return len(self._entries)

    def address_of(self, name: str) -> int | None:
        return self._by_name.get(name)

    def symbol_at(self, address: int) -> tuple[str, int] | None:
        """The (name, offset) of the sized symbol covering ``address``, else one starting there."""
        i = bisect.bisect_right(self._starts, address) - 1
        while i >= 0:
            start, size, name = self._entries[i]
            if start <= address < start + size or (start == address and size == 0):
                return name, address - start
            if address - start > 1 << 24:
                return None
            i -= 1
        return None


def _section(index: int, row: tuple[int, ...], names: bytes) -> Section:
    name, s_type, flags, addr, offset, size, link, info, align, entsize = row
    return Section(
        index, _cstring(names, name), s_type, flags, addr, offset, size, link, info, align, entsize
    )


def _cstring(data: bytes, offset: int) -> str:
    if offset >= len(data):
        return ""
    end = data.find(b"\0", offset)
    if end < 0:
        end = len(data)
    return data[offset:end].decode("utf-8", "backslashreplace")


class ElfFile:
    """An ELF file, parsed on demand from a :class:`~usdtscan.fileio.ByteSource`.

    ``data`` may also be the file's bytes, for
    callers that hold them already.
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
        if ei_class not in _EHDR_TAIL:
            raise MalformedFileError(path, f"unknown ELF class {ei_class}", EI_CLASS)
        if ei_data not in _ORDER:
            raise MalformedFileError(path, f"unknown ELF data encoding {ei_data}", EI_DATA)
        self.elf_class = ei_class
        self.bits = 32 if ei_class == ELFCLASS32 else 64
        self.endian = "little" if ei_data == ELFDATA2LSB else "big"
        self._order = _ORDER[ei_data]
        self.addr_size = self.bits // 8
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
            e_phnum,
            self.e_shentsize,
            e_shnum,
            e_shstrndx,
        ) = self._unpack(_EHDR_TAIL[ei_class], 16, "ELF header")
        self.machine = machine_name(self.e_machine, self.bits)
        self._e_phnum, self._e_shnum, self._e_shstrndx = e_phnum, e_shnum, e_shstrndx
        self._sections: list[Section] | None = None
        self._section_rows: tuple[list[tuple[int, ...]], bytes] | None = None
        self._segments: list[Segment] | None = None

    @property
    def size(self) -> int:
        return self._source.size

    def release(self) -> None:
        """Kept for callers of the mapped reader: nothing is held between reads."""

    # -- raw access ---------------------------------------------------------

    def _unpack(self, fmt: str, offset: int, what: str) -> tuple[int, ...]:
        fmt = self._order + fmt
        size = struct.calcsize(fmt)
        if offset < 0 or offset + size > self.size:
            raise MalformedFileError(self.path, f"truncated {what}", offset)
        return struct.unpack(fmt, self._source.read(offset, size, what))

    def read(self, offset: int, size: int, what: str) -> bytes:
        """``size`` bytes at ``offset``, or an error naming ``what`` was cut off."""
        return self._source.read(offset, size, what)

    def read_address(self, data: bytes, offset: int) -> int:
        fmt = self._order + ("I" if self.addr_size == 4 else "Q")
        value: int = struct.unpack_from(fmt, data, offset)[0]
        return value

    def _table(self, offset: int, count: int, entsize: int, minimum: int, what: str) -> None:
        """Check that a table of ``count`` entries lies inside the file."""
        if count and entsize < minimum:
            raise MalformedFileError(self.path, f"{what} entry size {entsize} is below {minimum}")
        end = offset + count * entsize
        if offset < 0 or end > self.size:
            raise MalformedFileError(
                self.path,
                f"{what} ({count} entries of {entsize} bytes) runs past the end of the file",
                offset,
            )

    # -- sections -----------------------------------------------------------

    @property
    def type_name(self) -> str:
        try:
            return ElfType(self.e_type).name
        except ValueError:
            return f"ET_{self.e_type:#x}"

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
        fmt = _SHDR[self.elf_class]
        shdr_size = struct.calcsize(fmt)
        shnum, shstrndx = self._e_shnum, self._e_shstrndx
        if shnum == 0 or shstrndx == SHN_XINDEX:
            # Extended numbering: the real values live in section header 0.
            first = self._unpack(fmt, self.e_shoff, "section header 0")
            if shnum == 0:
                shnum = first[5]
            if shstrndx == SHN_XINDEX:
                shstrndx = first[6]
        self._table(self.e_shoff, shnum, self.e_shentsize, shdr_size, "section header table")
        table = self.read(self.e_shoff, shnum * self.e_shentsize, "section header table")
        if self.e_shentsize == shdr_size:
            rows = list(struct.iter_unpack(self._order + fmt, table))
        else:
            rows = [
                struct.unpack_from(self._order + fmt, table, i * self.e_shentsize)
                for i in range(shnum)
            ]
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
        wanted = name.encode()
        offsets = set()
        start = names.find(wanted + b"\0")
        while start >= 0:
            offsets.add(start)
            start = names.find(wanted + b"\0", start + 1)
        if names.endswith(wanted):  # a last name without its NUL
            offsets.add(len(names) - len(wanted))
        if not offsets:
            return None
        for i, row in enumerate(rows):
            if row[0] in offsets:
                return _section(i, row, names)
        return None

    def section_data(self, section: Section) -> bytes:
        if not section.has_file_data:
            return b""
        return self.read(section.offset, section.size, f"section {section.name or section.index}")

    # -- segments -----------------------------------------------------------

    @property
    def segments(self) -> list[Segment]:
        if self._segments is None:
            self._segments = self._read_segments()
        return self._segments

    def _read_segments(self) -> list[Segment]:
        if self.e_phoff == 0:
            return []
        fmt = _PHDR[self.elf_class]
        phnum = self._e_phnum
        if phnum == PN_XNUM and self.sections:
            phnum = self.sections[0].info
        self._table(
            self.e_phoff, phnum, self.e_phentsize, struct.calcsize(fmt), "program header table"
        )
        table = self.read(self.e_phoff, phnum * self.e_phentsize, "program header table")
        segments = []
        for i in range(phnum):
            raw = struct.unpack_from(self._order + fmt, table, i * self.e_phentsize)
            if self.elf_class == ELFCLASS32:
                p_type, p_offset, p_vaddr, _paddr, p_filesz, p_memsz, p_flags, _align = raw
            else:
                p_type, p_flags, p_offset, p_vaddr, _paddr, p_filesz, p_memsz, _align = raw
            segments.append(Segment(p_type, p_flags, p_offset, p_vaddr, p_filesz, p_memsz))
        return segments

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

        The section is read in windows of :data:`NOTE_WINDOW` bytes, so that
        the 400,000 notes of a huge binary are not all in memory at once.
        """
        if data is None:
            if not section.has_file_data:
                return
            if section.offset < 0 or section.offset + section.size > self.size:
                self.read(section.offset, section.size, f"section {section.name or section.index}")
            window = _NoteWindow(self, section)
        else:
            window = _NoteWindow(self, section, data)
        total = window.total
        align = 8 if section.addralign == 8 else 4
        position = 0
        header = self._order + "III"
        while position + 12 <= total:
            buffer, base = window.get(position, 12)
            namesz, descsz, n_type = struct.unpack_from(header, buffer, position - base)
            name_start = position + 12
            desc_start = _round_up(name_start + namesz, align)
            end = _round_up(desc_start + descsz, align)
            if desc_start + descsz > total:
                raise MalformedFileError(
                    self.path,
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
                    self.path,
                    f"{total - position} trailing bytes in note section {section.name}",
                    section.offset + position,
                )

    def build_id(self) -> str | None:
        """The GNU build ID as hex, the key of ``/usr/lib/debug/.build-id``."""
        for section in self.note_sections():
            if section.name != ".note.gnu.build-id":
                continue
            try:
                for note in self.notes(section):
                    if note.name == b"GNU" and note.type == NT_GNU_BUILD_ID and note.desc:
                        return note.desc.hex()
            except MalformedFileError:
                return None
        return None

    def debuglink(self) -> str | None:
        """The file name in ``.gnu_debuglink``: where a stripped file's debug file is."""
        section = self.section_by_name(".gnu_debuglink")
        if section is None or not section.has_file_data:
            return None
        data = self.section_data(section)
        end = data.find(b"\0")
        name = data[: end if end >= 0 else len(data)].decode("utf-8", "replace")
        return name if name and "/" not in name else None

    def has_symtab(self) -> bool:
        return any(s.type == SectionType.SYMTAB and s.has_file_data for s in self.sections)

    # -- symbols ------------------------------------------------------------

    def function_index(self, near: Sequence[int] | None = None) -> FunctionIndex | None:
        """Function symbols from ``.symtab``, else ``.dynsym``; None if neither has any.

        With ``near``, only the functions that contain one of those addresses
        are kept: the same answers for them, without sorting every symbol.
        """
        for wanted in (SectionType.SYMTAB, SectionType.DYNSYM):
            for section in self.sections:
                if section.type == wanted and section.has_file_data:
                    index = self._function_index(section, near)
                    if index is not None:
                        return index
        return None

    def _function_index(self, section: Section, near: Sequence[int] | None) -> FunctionIndex | None:
        """The index of one symbol table; None when it has no function symbol at all."""
        fmt = self._order + _SYM[self.elf_class]
        entsize = struct.calcsize(fmt)
        data = self.section_data(section)
        usable = len(data) - len(data) % entsize
        opd = self._ppc64_opd()
        thumb = self.e_machine == Machine.ARM
        wide = self.elf_class != ELFCLASS32
        # The sites, sorted, with a sentinel past every address.
        sites = None if near is None else [*sorted(set(near)), 1 << 64]
        found = 0
        entries: list[tuple[int, int, int]] = []
        for fields in struct.iter_unpack(fmt, data[:usable]):
            if wide:
                name, info, _other, shndx, value, size = fields
            else:
                name, value, size, info, _other, shndx = fields
            if info & 0xF not in (STT_FUNC, STT_GNU_IFUNC) or shndx == SHN_UNDEF or not size:
                continue
            if opd is not None and shndx == opd[0]:
                value = opd[1](value)
                if value is None:
                    continue
            if thumb:
                value &= ~1
            found += 1
            if sites is not None and sites[bisect.bisect_left(sites, value)] >= value + size:
                continue
            entries.append((value, size, name))
        if not found:
            return None
        strtab = b""
        if 0 < section.link < len(self.sections):
            strtab = self.section_data(self.sections[section.link])
        return FunctionIndex(section.name, entries, strtab)

    def _ppc64_opd(self) -> tuple[int, _OpdReader] | None:
        """On 64-bit PowerPC ELFv1, function symbols point at .opd descriptors."""
        if self.e_machine != Machine.PPC64 or (self.e_flags & 3) == 2:
            return None
        opd = self.section_by_name(".opd")
        if opd is None or not opd.has_file_data:
            return None
        return opd.index, _OpdReader(self, opd, self.section_data(opd))

    def symbol_index(self) -> SymbolIndex:
        """Every defined symbol of ``.symtab`` and ``.dynsym``, for argument operands.

        Probe operands name data (``mp_(%rip)``), so unlike
        :meth:`function_index` this keeps objects and untyped symbols too.
        The tables are copied out of the file so that the index outlives it.
        """
        entries: list[tuple[int, int, str]] = []
        for wanted in (SectionType.SYMTAB, SectionType.DYNSYM):
            for section in self.sections:
                if section.type == wanted and section.has_file_data:
                    entries.extend(self._defined_symbols(section))
        return SymbolIndex(entries)

    def _defined_symbols(self, section: Section) -> Iterator[tuple[int, int, str]]:
        fmt = self._order + _SYM[self.elf_class]
        entsize = struct.calcsize(fmt)
        data = self.section_data(section)
        strtab = b""
        if 0 < section.link < len(self.sections):
            strtab = self.section_data(self.sections[section.link])
        usable = len(data) - len(data) % entsize
        thumb = self.e_machine == Machine.ARM
        for fields in struct.iter_unpack(fmt, data[:usable]):
            if self.elf_class == ELFCLASS32:
                name, value, size, info, _other, shndx = fields
            else:
                name, info, _other, shndx, value, size = fields
            kind = info & 0xF
            if shndx == SHN_UNDEF or kind in (STT_SECTION, STT_FILE) or not name:
                continue
            if thumb and kind == STT_FUNC:
                value &= ~1
            yield value, size, _cstring(strtab, name)

    # -- dynamic section and symbol names -----------------------------------

    def dynamic_info(self) -> DynamicInfo | None:
        """DT_NEEDED, DT_RPATH, DT_RUNPATH and DT_SONAME, as the dynamic loader reads them.

        The loader reads ``PT_DYNAMIC`` and finds the strings through
        ``DT_STRTAB``, ignoring section headers, so this does the same and only
        falls back to ``.dynamic``/``.dynstr`` when there is no program header.
        None when the file has no dynamic section with bytes (static, or a
        separate debug file).
        """
        table = self._dynamic_table()
        if table is None:
            return None
        fmt = self._order + ("iI" if self.elf_class == ELFCLASS32 else "qQ")
        entry_size = struct.calcsize(fmt)
        entries: list[tuple[int, int]] = []
        for tag, value in struct.iter_unpack(fmt, table[: len(table) - len(table) % entry_size]):
            if tag == DT_NULL:
                break
            entries.append((tag, value))
        strings = self._dynamic_strings(entries)

        def text(offset: int) -> str:
            return _cstring(strings, offset)

        return DynamicInfo(
            needed=tuple(text(v) for t, v in entries if t == DT_NEEDED),
            rpath=next((text(v) for t, v in entries if t == DT_RPATH), None),
            runpath=next((text(v) for t, v in entries if t == DT_RUNPATH), None),
            soname=next((text(v) for t, v in entries if t == DT_SONAME), None),
        )

    def _dynamic_table(self) -> bytes | None:
        for segment in self.segments:
            if segment.type == SegmentType.DYNAMIC:
                if segment.filesz == 0:
                    return None
                return self.read(segment.offset, segment.filesz, "dynamic segment")
        for section in self.sections:
            if section.type == SHT_DYNAMIC:
                return self.section_data(section) or None
        return None

    def _dynamic_strings(self, entries: list[tuple[int, int]]) -> bytes:
        address = next((v for t, v in entries if t == DT_STRTAB), None)
        size = next((v for t, v in entries if t == DT_STRSZ), None)
        if address is not None and size is not None:
            segment = self.load_segment_for(address)
            if segment is not None and address - segment.vaddr + size <= segment.filesz:
                return self.read(address - segment.vaddr + segment.offset, size, "DT_STRTAB")
        dynstr = self.section_by_name(".dynstr")
        return b"" if dynstr is None else self.section_data(dynstr)

    def defined_symbols(self, names: Iterable[str]) -> set[str]:
        """Which of ``names`` are defined (not merely imported) in ``.dynsym`` or ``.symtab``.

        Names are matched by their string-table offsets rather than by decoding
        every symbol: a libpython has 20,000 symbols and we want a handful.
        """
        wanted = [name.encode() for name in names]
        found: set[str] = set()
        fmt = self._order + _SYM[self.elf_class]
        entsize = struct.calcsize(fmt)
        for section in self.sections:
            if section.type not in (SectionType.SYMTAB, SectionType.DYNSYM):
                continue
            if not section.has_file_data or not 0 < section.link < len(self.sections):
                continue
            strtab = self.section_data(self.sections[section.link])
            offsets: dict[int, str] = {}
            for name in wanted:
                start = strtab.find(name + b"\0")
                while start >= 0:
                    offsets[start] = name.decode()
                    start = strtab.find(name + b"\0", start + 1)
            if not offsets:
                continue
            data = self.section_data(section)
            for fields in struct.iter_unpack(fmt, data[: len(data) - len(data) % entsize]):
                name_offset = fields[0]
                shndx = fields[5] if self.elf_class == ELFCLASS32 else fields[3]
                if name_offset in offsets and shndx != SHN_UNDEF:
                    found.add(offsets[name_offset])
        return found


@dataclass(frozen=True, slots=True)
class DynamicInfo:
    """What the dynamic loader needs from one object to find its libraries."""

    needed: tuple[str, ...]
    rpath: str | None
    runpath: str | None
    soname: str | None


SHT_DYNAMIC = 6
DT_NULL, DT_NEEDED, DT_STRTAB, DT_STRSZ, DT_SONAME, DT_RPATH, DT_RUNPATH = 0, 1, 5, 10, 14, 15, 29


class _OpdReader:
    """Maps a function descriptor's address to the entry point it holds."""

    def __init__(self, elf: ElfFile, section: Section, data: bytes) -> None:
        self._elf, self._section, self._data = elf, section, data

    def __call__(self, descriptor: int) -> int | None:
        offset = descriptor - self._section.addr
        if offset < 0 or offset + 8 > len(self._data):
            return None
        return self._elf.read_address(self._data, offset)


# Note sections are read this many bytes at a time (more for a larger note).
NOTE_WINDOW = 1 << 20


class _NoteWindow:
    """A sliding window over a note section: the bytes from ``base`` on, refilled on demand."""

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
            what = f"section {self._section.name or self._section.index}"
            self._buffer = self._elf.read(self._section.offset + start, size, what)
            self._base = start
        return self._buffer, self._base


def _round_up(value: int, align: int) -> int:
    return (value + align - 1) & ~(align - 1)
