"""usdtscan.symbols: the one Elf_Sym reader and the indexes built on it.

The row reader is checked against pyelftools on every fixture (32 and 64
bits, both byte orders); the lookup rules (aliases, sizes, imports, the ARM
Thumb bit) on tables written by tests/dofwriter.py in each class.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from usdtscan.elf import ElfFile, Machine
from usdtscan.symbols import (
    AddressIndex,
    defined_symbols,
    function_index,
    has_symtab,
    symbol_index,
    symbol_rows,
    symbol_tables,
)

from .conftest import FIXTURE_BIN, fixture_binaries
from .dofwriter import (
    SHT_DYNSYM,
    SHT_PROGBITS,
    SHT_STRTAB,
    SHT_SYMTAB,
    STB_LOCAL,
    STT_FILE,
    STT_OBJECT,
    STT_SECTION,
    ElfSection,
    ElfSymbol,
    elf_symbols,
    write_elf_file,
)

CLASSES = [(64, "little"), (64, "big"), (32, "little"), (32, "big")]

SYMBOLS = [
    ElfSymbol("wide", 0x1000, 0x40),
    ElfSymbol("alias", 0x1000, 0x10),  # same start, smaller: "wide" is the closest-below match
    ElfSymbol("inner", 0x1020, 0x8),
    ElfSymbol("counter", 0x2000, 0, kind=STT_OBJECT),  # sizeless data
    ElfSymbol("table", 0x2010, 0x20, kind=STT_OBJECT),
    ElfSymbol("imported", 0, 0, shndx=0),  # SHN_UNDEF: a reference, not a definition
    ElfSymbol("file.c", 0, 0, kind=STT_FILE, bind=STB_LOCAL, shndx=0xFFF1),
    ElfSymbol("", 0x1000, 0, kind=STT_SECTION, bind=STB_LOCAL),
]


def _with_symbols(
    symbols: list[ElfSymbol], bits: int, endian: str, *, machine: int = Machine.X86_64
) -> ElfFile:
    table, names = elf_symbols(symbols, bits=bits, endian=endian)
    entsize = len(table) // (len(symbols) + 1)
    sections = [
        ElfSection(".text", SHT_PROGBITS, b"\0" * 16, 6, 0x1000, align=16),
        ElfSection(".symtab", SHT_SYMTAB, table, link=3, info=1, align=8, entsize=entsize),
        ElfSection(".strtab", SHT_STRTAB, names),
    ]
    image = write_elf_file(sections, machine=machine, bits=bits, endian=endian)
    return ElfFile("symbols", image)


@pytest.mark.parametrize(("bits", "endian"), CLASSES)
def test_rows_in_each_class_and_byte_order(bits: int, endian: str) -> None:
    elf = _with_symbols(SYMBOLS, bits, endian)
    (table,) = symbol_tables(elf)
    rows = list(symbol_rows(elf, table))
    assert rows[0] == (0, 0, 0, 0, 0, 0)
    assert rows[1] == (1, 0x12, 0, 1, 0x1000, 0x40)  # "wide" is the first name of .strtab
    assert rows[6][3] == 0  # "imported": shndx SHN_UNDEF
    assert [(r[4], r[5]) for r in rows[1:]] == [(s.value, s.size) for s in SYMBOLS]


@pytest.mark.parametrize(("bits", "endian"), CLASSES)
def test_function_index_rules(bits: int, endian: str) -> None:
    index = function_index(_with_symbols(SYMBOLS, bits, endian))
    assert index is not None and index.source == ".symtab"
    assert len(index) == 3  # functions with a size only
    assert index.lookup(0x1008) == ("wide", 8)
    assert index.lookup(0x1024) == ("inner", 4)
    assert index.lookup(0x1030) == ("wide", 0x30)  # past "inner", still inside "wide"
    assert index.lookup(0x1040) is None
    assert index.lookup(0xFFF) is None
    near = function_index(_with_symbols(SYMBOLS, bits, endian), near=[0x1024])
    assert near is not None and len(near) == 2  # "wide" and "inner" hold 0x1024; "alias" not
    assert near.lookup(0x1024) == ("inner", 4)


@pytest.mark.parametrize(("bits", "endian"), CLASSES)
def test_symbol_index_keeps_data_and_drops_imports(bits: int, endian: str) -> None:
    index = symbol_index(_with_symbols(SYMBOLS, bits, endian))
    assert len(index) == 5  # not the import, the file or the section symbol
    assert index.address_of("counter") == 0x2000
    assert index.address_of("imported") is None
    assert index.symbol_at(0x2000) == ("counter", 0)  # a sizeless symbol names its own address
    assert index.symbol_at(0x2001) is None
    assert index.symbol_at(0x2018) == ("table", 8)


@pytest.mark.parametrize(("bits", "endian"), CLASSES)
def test_defined_symbols_match_names_not_imports(bits: int, endian: str) -> None:
    elf = _with_symbols(SYMBOLS, bits, endian)
    assert defined_symbols(elf, ["wide", "imported", "nosuch", "counter"]) == {"wide", "counter"}


def test_thumb_bit_is_cleared_on_arm() -> None:
    """ARM sets bit 0 of a Thumb function's address; the code starts one byte lower."""
    thumb = [ElfSymbol("thumb_fn", 0x1001, 0x10)]
    elf = _with_symbols(thumb, 32, "little", machine=Machine.ARM)
    index = function_index(elf)
    assert index is not None and index.lookup(0x1000) == ("thumb_fn", 0)
    assert symbol_index(elf).address_of("thumb_fn") == 0x1000
    other = function_index(_with_symbols(thumb, 32, "little", machine=Machine.I386))
    assert other is not None and other.lookup(0x1000) is None


def test_dynsym_serves_when_there_is_no_symtab() -> None:
    table, names = elf_symbols([ElfSymbol("exported", 0x1000, 4)])
    sections = [
        ElfSection(".text", SHT_PROGBITS, b"\0" * 16, 6, 0x1000),
        ElfSection(".dynsym", SHT_DYNSYM, table, link=3, info=1, align=8, entsize=24),
        ElfSection(".dynstr", SHT_STRTAB, names),
    ]
    elf = ElfFile("stripped", write_elf_file(sections))
    assert not has_symtab(elf)
    index = function_index(elf)
    assert index is not None and index.source == ".dynsym"
    assert index.lookup(0x1002) == ("exported", 2)


def test_address_index_sizeless_reach() -> None:
    """Mach-O symbols have no size: the closest one below an address holds it."""
    entries = [(0x100, 0, "a"), (0x200, 0, "b")]
    assert AddressIndex(list(entries), sizeless_reach=True).find(0x1FF) == (0x100, "a")
    assert AddressIndex(list(entries), sizeless_reach=True).find(0xFF) is None
    assert AddressIndex(list(entries)).find(0x1FF) is None
    assert AddressIndex(list(entries)).find(0x200) == (0x200, "b")


def _oracle_rows(path: Path) -> dict[str, list[tuple[str, int, int, int, int]]]:
    """(name, value, size, info, shndx) of every row of every symbol table, by pyelftools."""
    with path.open("rb") as stream:
        elf = ELFFile(stream)
        return {
            section.name: [
                (
                    symbol.name,
                    symbol.entry.st_value,
                    symbol.entry.st_size,
                    _info(symbol.entry.st_info),
                    _shndx(symbol.entry.st_shndx),
                )
                for symbol in section.iter_symbols()  # type: ignore[attr-defined]
            ]
            for section in elf.iter_sections()
            if section["sh_type"] in ("SHT_SYMTAB", "SHT_DYNSYM")
        }


_BINDS = {"STB_LOCAL": 0, "STB_GLOBAL": 1, "STB_WEAK": 2, "STB_GNU_UNIQUE": 10}
_TYPES = {
    "STT_NOTYPE": 0,
    "STT_OBJECT": 1,
    "STT_FUNC": 2,
    "STT_SECTION": 3,
    "STT_FILE": 4,
    "STT_COMMON": 5,
    "STT_TLS": 6,
    "STT_LOOS": 10,
}
_SPECIAL_SECTIONS = {"SHN_UNDEF": 0, "SHN_ABS": 0xFFF1, "SHN_COMMON": 0xFFF2}


def _info(info: object) -> int:
    bind, kind = info["bind"], info["type"]  # type: ignore[index]
    return (_BINDS[bind] if isinstance(bind, str) else bind) << 4 | (
        _TYPES[kind] if isinstance(kind, str) else kind
    )


def _shndx(shndx: object) -> int:
    return _SPECIAL_SECTIONS[shndx] if isinstance(shndx, str) else int(shndx)  # type: ignore[call-overload]


@pytest.mark.parametrize(
    "binary", fixture_binaries(), ids=lambda p: str(p.relative_to(FIXTURE_BIN))
)
def test_rows_match_pyelftools(binary: Path) -> None:
    oracle = _oracle_rows(binary)
    elf = ElfFile(str(binary), binary.read_bytes())
    tables = [s for s in elf.sections if s.name in oracle]
    assert tables, "every fixture has a symbol table"
    for table in tables:
        strtab = elf.linked_section_data(table)
        got = []
        for name, info, _other, shndx, value, size in symbol_rows(elf, table):
            end = strtab.find(b"\0", name)
            got.append((strtab[name:end].decode(), value, size, info, shndx))
        assert got == oracle[table.name], table.name
