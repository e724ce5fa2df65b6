"""Symbol tables: one typed row reader, and the address index built on it.

Three questions are asked of a file's symbols: which function holds a probe
site (:func:`function_index`), where a named operand lives and what is at an
operand's address (:func:`symbol_index`), and which of a few names a file
defines (:func:`defined_symbols`, for CPython detection).  Relocations need
the value of each symbol by index (:mod:`usdtscan.reloc`).  All of them read
rows through :func:`symbol_rows`, the one place that knows the 32- and
64-bit layouts of ``Elf_Sym`` in either byte order.

:class:`AddressIndex` is the one sorted-by-address lookup: ELF's function
and symbol indexes and the Mach-O symbol table are all one of those.
"""

from __future__ import annotations

import bisect
import enum
import struct
from collections.abc import Iterable, Iterator, Sequence
from operator import itemgetter
from typing import Generic, TypeVar

from .elf import ELFCLASS32, SHN_UNDEF, ElfFile, Machine, Section, SectionType, cstring


class SymbolKind(enum.IntEnum):
    """``ELF_ST_TYPE`` of ``st_info``: what a symbol names."""

    NOTYPE = 0
    OBJECT = 1
    FUNC = 2
    SECTION = 3
    FILE = 4
    GNU_IFUNC = 10


# One ``Elf_Sym``: (name, info, other, shndx, value, size), in Elf64_Sym's
# field order whatever the file's class.  ``name`` is the offset of the
# name in the linked string table.  A plain tuple, not a NamedTuple: making
# one per row doubled the cost of reading a symbol table (measured on a
# libpython).  The 64-bit order, because 64-bit files are the large ones:
# their rows come out of ``iter_unpack`` as they are, and only Elf32_Sym
# rows, which keep value and size first, are put in order (70 ns a row).
SymbolRow = tuple[int, int, int, int, int, int]

_ROW_FORMAT = {ELFCLASS32: "IIIBBH"}
_ROW_FORMAT_64 = "IBBHQQ"
_FROM_32 = itemgetter(0, 3, 4, 5, 1, 2)

# The kinds as plain ints, for the per-row tests: looking a member up on an
# IntEnum class costs five times an int comparison.
_FUNCTION_KINDS = (int(SymbolKind.FUNC), int(SymbolKind.GNU_IFUNC))
_NOT_NAMES = (int(SymbolKind.SECTION), int(SymbolKind.FILE))
_FUNC = int(SymbolKind.FUNC)

# No function is larger than this: a lookup stops scanning down from here.
_LARGEST_FUNCTION = 1 << 24

T = TypeVar("T")


def symbol_rows(elf: ElfFile, table: Section) -> Iterator[SymbolRow]:
    """Every row of the symbol table ``table`` (row 0 included), by index.

    A trailing partial row is ignored, as readelf ignores it.  The rows are
    unpacked in C (``iter_unpack``, ``itemgetter``): a libjvm has tens of thousands.
    """
    data = elf.section_data(table)
    fmt = elf.order + _ROW_FORMAT.get(elf.elf_class, _ROW_FORMAT_64)
    usable = len(data) - len(data) % struct.calcsize(fmt)
    rows: Iterator[SymbolRow] = struct.iter_unpack(fmt, memoryview(data)[:usable])
    if elf.elf_class == ELFCLASS32:
        rows = map(_FROM_32, rows)
    return rows


def symbol_tables(elf: ElfFile) -> list[Section]:
    """``.symtab`` (or each SHT_SYMTAB) with bytes first, then ``.dynsym``: GDB's order."""
    return [
        section
        for wanted in (SectionType.SYMTAB, SectionType.DYNSYM)
        for section in elf.sections
        if section.type == wanted and section.has_file_data
    ]


def has_symtab(elf: ElfFile) -> bool:
    """Whether the file keeps its full symbol table (a stripped one has ``.dynsym`` only)."""
    return any(s.type == SectionType.SYMTAB and s.has_file_data for s in elf.sections)


class AddressIndex(Generic[T]):
    """Entries ``(start, size, payload)`` sorted by address, for "what holds this address".

    Several entries may cover one address (aliases, nested sizes); the one
    starting closest below it wins, as in GDB.  A sized entry covers its
    bytes; one of size 0 covers only its own address, unless
    ``sizeless_reach`` says sizes are unknown (Mach-O), when the closest
    entry at or below an address holds it.
    """

    def __init__(self, entries: list[tuple[int, int, T]], *, sizeless_reach: bool = False) -> None:
        entries.sort()
        self._starts = [entry[0] for entry in entries]
        self._entries = entries
        self._sizeless_reach = sizeless_reach

    def __len__(self) -> int:
        return len(self._entries)

    def find(self, address: int) -> tuple[int, T] | None:
        """The (start, payload) of the entry holding ``address``, else None."""
        i = bisect.bisect_right(self._starts, address) - 1
        while i >= 0:
            start, size, payload = self._entries[i]
            if address < start + size or (size == 0 and (self._sizeless_reach or start == address)):
                return start, payload
            if address - start > _LARGEST_FUNCTION:
                return None
            i -= 1
        return None


class FunctionIndex:
    """Function symbols by address, names decoded only when a lookup finds one.

    A file with 100,000 symbols and ten probes should not decode 100,000
    strings, so the index holds string-table offsets.  ``source`` names the
    table it came from (``.symtab``, ``.dynsym``, ``LC_SYMTAB``).
    """

    def __init__(
        self,
        source: str,
        entries: list[tuple[int, int, int]],
        strtab: bytes,
        *,
        sizeless_reach: bool = False,
    ) -> None:
        self.source = source
        self._index = AddressIndex(entries, sizeless_reach=sizeless_reach)
        self._strtab = strtab

    def __len__(self) -> int:
        return len(self._index)

    def lookup(self, address: int) -> tuple[str, int] | None:
        """The (name, offset) of the function containing ``address``."""
        found = self._index.find(address)
        if found is None:
            return None
        start, name_offset = found
        return cstring(self._strtab, name_offset), address - start


class SymbolIndex:
    """Symbols by name and by address, for resolving and naming operand addresses."""

    def __init__(self, entries: list[tuple[int, int, str]]) -> None:
        entries.sort()
        self._index = AddressIndex(entries)
        # The lowest address of a name defined more than once (a local and a global).
        self._by_name: dict[str, int] = {}
        for value, _size, name in entries:
            self._by_name.setdefault(name, value)

    def __len__(self) -> int:
        return len(self._index)

    def address_of(self, name: str) -> int | None:
        return self._by_name.get(name)

    def symbol_at(self, address: int) -> tuple[str, int] | None:
        """The (name, offset) of the sized symbol covering ``address``, else one starting there."""
        found = self._index.find(address)
        if found is None:
            return None
        start, name = found
        return name, address - start


def function_index(elf: ElfFile, near: Sequence[int] | None = None) -> FunctionIndex | None:
    """Function symbols from ``.symtab``, else ``.dynsym``; None if neither has any.

    With ``near``, only the functions that contain one of those addresses
    are kept: the same answers for them, without sorting every symbol.
    """
    for section in symbol_tables(elf):
        index = _function_index(elf, section, near)
        if index is not None:
            return index
    return None


def _function_index(
    elf: ElfFile, section: Section, near: Sequence[int] | None
) -> FunctionIndex | None:
    """The index of one symbol table; None when it has no function symbol at all."""
    rows = symbol_rows(elf, section)
    opd = _ppc64_opd(elf)
    thumb = elf.e_machine == Machine.ARM
    # The sites, sorted, with a sentinel past every address.
    sites = None if near is None else [*sorted(set(near)), 1 << 64]
    found = 0
    entries: list[tuple[int, int, int]] = []
    for name, info, _other, shndx, value, size in rows:
        if info & 0xF not in _FUNCTION_KINDS or not size:
            continue
        if shndx == SHN_UNDEF:
            continue
        if opd is not None and shndx == opd.index:
            entry = opd.entry(value)
            if entry is None:
                continue
            value = entry
        if thumb:
            value &= ~1
        found += 1
        if sites is not None and sites[bisect.bisect_left(sites, value)] >= value + size:
            continue
        entries.append((value, size, name))
    if not found:
        return None
    return FunctionIndex(section.name, entries, elf.linked_section_data(section))


class _OpdTable:
    """64-bit PowerPC ELFv1 function symbols point at ``.opd`` descriptors, not code."""

    def __init__(self, elf: ElfFile, section: Section) -> None:
        self.index = section.index
        self._elf, self._addr, self._data = elf, section.addr, elf.section_data(section)

    def entry(self, descriptor: int) -> int | None:
        """The entry point a descriptor holds; None for one outside ``.opd``."""
        offset = descriptor - self._addr
        if offset < 0 or offset + 8 > len(self._data):
            return None
        return self._elf.read_address(self._data, offset)


def _ppc64_opd(elf: ElfFile) -> _OpdTable | None:
    if elf.e_machine != Machine.PPC64 or (elf.e_flags & 3) == 2:
        return None
    opd = elf.section_by_name(".opd")
    if opd is None or not opd.has_file_data:
        return None
    return _OpdTable(elf, opd)


def symbol_index(elf: ElfFile) -> SymbolIndex:
    """Every defined symbol of ``.symtab`` and ``.dynsym``, for argument operands.

    Probe operands name data (``mp_(%rip)``), so unlike
    :func:`function_index` this keeps objects and untyped symbols too.
    The names are decoded here so that the index outlives the file.
    """
    entries: list[tuple[int, int, str]] = []
    thumb = elf.e_machine == Machine.ARM
    for section in symbol_tables(elf):
        strtab = elf.linked_section_data(section)
        for name, info, _other, shndx, value, size in symbol_rows(elf, section):
            kind = info & 0xF
            if shndx == SHN_UNDEF or kind in _NOT_NAMES or not name:
                continue
            if thumb and kind == _FUNC:
                value &= ~1
            entries.append((value, size, cstring(strtab, name)))
    return SymbolIndex(entries)


def defined_symbols(elf: ElfFile, names: Iterable[str]) -> set[str]:
    """Which of ``names`` are defined (not merely imported) in ``.dynsym`` or ``.symtab``.

    Names are matched by their string-table offsets rather than by decoding
    every symbol: a libpython exports some 2,200 symbols and we want a handful.
    """
    wanted = [name.encode() for name in names]
    found: set[str] = set()
    for section in symbol_tables(elf):
        offsets = _name_offsets(elf.linked_section_data(section), wanted)
        if not offsets:
            continue
        for name, _info, _other, shndx, _value, _size in symbol_rows(elf, section):
            if name in offsets and shndx != SHN_UNDEF:
                found.add(offsets[name])
    return found


def _name_offsets(strtab: bytes, wanted: list[bytes]) -> dict[int, str]:
    """Every offset of a string table at which one of ``wanted`` starts, with that name."""
    offsets: dict[int, str] = {}
    for name in wanted:
        start = strtab.find(name + b"\0")
        while start >= 0:
            offsets[start] = name.decode()
            start = strtab.find(name + b"\0", start + 1)
    return offsets
