"""usdtscan.dynamic: DT_NEEDED, DT_RPATH, DT_RUNPATH and DT_SONAME as ld.so reads them.

Against pyelftools on every corpus file, and on files written by
tests/dofwriter.py, where the program headers and the section headers can
be made to disagree: the loader believes PT_DYNAMIC and DT_STRTAB.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from usdtscan.dynamic import DynamicTag, dynamic_info
from usdtscan.elf import ElfFile, Machine

from .conftest import CORPUS
from .dofwriter import (
    PT_DYNAMIC,
    PT_LOAD,
    SHT_DYNAMIC,
    SHT_PROGBITS,
    SHT_STRTAB,
    ElfSection,
    ElfSegment,
    elf_layout,
    elf_words,
    write_elf_file,
)

STRINGS = b"\0libc.so.6\0libfoo.so.1\0$ORIGIN/../lib\0/opt/lib\0libbar.so.2\0"
NEEDED_LIBC, NEEDED_FOO, RUNPATH, RPATH, SONAME = (
    STRINGS.index(b"\0" + name + b"\0") + 1
    for name in (b"libc.so.6", b"libfoo.so.1", b"$ORIGIN/../lib", b"/opt/lib", b"libbar.so.2")
)


def _dynamic_file(bits: int, endian: str, *, program_headers: bool) -> bytes:
    """An object whose .dynstr is loaded at 0x10000 + its offset; a decoy "dynstr"
    section of the same length holds other strings, so that reading the wrong
    table shows."""
    entries = [
        (DynamicTag.NEEDED, NEEDED_LIBC),
        (DynamicTag.NEEDED, NEEDED_FOO),
        (DynamicTag.RUNPATH, RUNPATH),
        (DynamicTag.RPATH, RPATH),
        (DynamicTag.SONAME, SONAME),
        (DynamicTag.STRSZ, len(STRINGS)),
        (DynamicTag.STRTAB, 0),  # patched below, once the layout is known
        (DynamicTag.NULL, 0),
        (DynamicTag.NEEDED, NEEDED_FOO),  # after DT_NULL: not an entry
    ]
    decoy = bytes(c if c == 0 else ord("x") for c in STRINGS)
    sections = [
        ElfSection(".strings", SHT_PROGBITS, STRINGS, 2, align=8),
        ElfSection(".dynamic", SHT_DYNAMIC, elf_words([], bits=bits, endian=endian), 3, align=8),
        ElfSection(".dynstr", SHT_STRTAB, decoy, 2),
    ]
    segments = 2 if program_headers else 0
    offsets = elf_layout(sections, bits=bits, segments=segments)
    base = 0x10000
    entries[6] = (DynamicTag.STRTAB, base + offsets[".strings"])
    sections[1].data = elf_words(entries, bits=bits, endian=endian)
    offsets = elf_layout(sections, bits=bits, segments=segments)
    table = sections[1].data
    load = ElfSegment(PT_LOAD, 4, 0, base, offsets[".dynstr"] + len(decoy))
    dynamic = ElfSegment(PT_DYNAMIC, 6, offsets[".dynamic"], base + offsets[".dynamic"], len(table))
    chosen = [load, dynamic] if program_headers else []
    return write_elf_file(sections, chosen, machine=Machine.PPC, bits=bits, endian=endian, e_type=3)


@pytest.mark.parametrize(("bits", "endian"), [(64, "little"), (32, "big")])
def test_the_loader_view_wins_over_section_headers(bits: int, endian: str) -> None:
    info = dynamic_info(ElfFile("lib", _dynamic_file(bits, endian, program_headers=True)))
    assert info is not None
    assert info.needed == ("libc.so.6", "libfoo.so.1")
    assert (info.runpath, info.rpath, info.soname) == ("$ORIGIN/../lib", "/opt/lib", "libbar.so.2")


def test_without_program_headers_the_sections_are_read() -> None:
    """No PT_DYNAMIC (a debug file, an object): .dynamic with .dynstr, as readelf does."""
    info = dynamic_info(ElfFile("lib", _dynamic_file(64, "little", program_headers=False)))
    assert info is not None
    # DT_STRTAB's address is in no segment (there is none), so the strings are .dynstr's.
    assert info.needed == ("xxxxxxxxx", "xxxxxxxxxxx")


def test_a_static_file_has_no_dynamic_info() -> None:
    image = write_elf_file([ElfSection(".text", SHT_PROGBITS, b"\xc3", 6)])
    assert dynamic_info(ElfFile("static", image)) is None


# -- against pyelftools, on the corpus -----------------------------------------------------


def _corpus_elves() -> list[Path]:
    if not CORPUS.is_dir():
        return []
    return sorted(
        p
        for p in CORPUS.rglob("*")
        if p.is_file() and not p.name.endswith(".txt") and ".fetch" not in p.parts
    )


@pytest.mark.corpus
@pytest.mark.parametrize("path", _corpus_elves(), ids=lambda p: str(p.relative_to(CORPUS)))
def test_dynamic_info_matches_pyelftools(path: Path) -> None:
    elftools = pytest.importorskip("elftools.elf.elffile")
    with path.open("rb") as stream:
        oracle = elftools.ELFFile(stream)
        section = oracle.get_section_by_name(".dynamic")
        tags: dict[str, list[str]] = {}
        if section is not None and section.header["sh_type"] != "SHT_NOBITS":
            for tag in section.iter_tags():
                for key, attr in (
                    ("DT_NEEDED", "needed"),
                    ("DT_RPATH", "rpath"),
                    ("DT_RUNPATH", "runpath"),
                    ("DT_SONAME", "soname"),
                ):
                    if tag.entry.d_tag == key:
                        tags.setdefault(attr, []).append(getattr(tag, attr))
    data = path.read_bytes()
    info = dynamic_info(ElfFile(str(path), data))
    if not tags.get("needed") and not tags.get("soname"):
        assert info is None or (not info.needed and info.soname is None)
        return
    assert info is not None
    assert list(info.needed) == tags.get("needed", [])
    assert info.soname == _first(tags, "soname")
    assert info.rpath == _first(tags, "rpath")
    assert info.runpath == _first(tags, "runpath")


def _first(tags: dict[str, list[str]], key: str) -> str | None:
    values = tags.get(key)
    return values[0] if values else None
