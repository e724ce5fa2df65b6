"""Sections, segments, file offsets and functions, against pyelftools.

pyelftools is an independent ELF reader; here it recomputes what usdtscan
derives from a note (file offset through PT_LOAD, containing function from
.symtab/.dynsym) by its own means, so the two implementations check each
other on every fixture and on the real binaries.
"""

from __future__ import annotations

import bisect
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from usdtscan import scan
from usdtscan.elf import ElfFile

from .conftest import corpus_binaries, fixture_binaries

# The symbol tables of the biggest corpus files (libjvm) take pyelftools
# tens of seconds; they are covered by the readelf tier instead.
SMALL_ENOUGH = 40 * 1024 * 1024
FILES = fixture_binaries() + [p for p in corpus_binaries() if p.stat().st_size < SMALL_ENOUGH]


def _ids(paths: list[Path]) -> list[str]:
    return ["/".join(p.parts[-3:]) for p in paths]


def _ppc64_opd(elf: ELFFile) -> tuple[int, int, bytes] | None:
    if elf["e_machine"] != "EM_PPC64" or (elf["e_flags"] & 3) == 2:
        return None
    opd = elf.get_section_by_name(".opd")
    if opd is None:
        return None
    return elf.get_section_index(".opd"), opd["sh_addr"], opd.data()


def oracle_functions(elf: ELFFile) -> list[tuple[int, int, str]]:
    """(start, size, name) of sized function symbols, .symtab first, else .dynsym."""
    opd = _ppc64_opd(elf)
    order = "little" if elf.little_endian else "big"
    for name in (".symtab", ".dynsym"):
        table = elf.get_section_by_name(name)
        if table is None or table["sh_type"] == "SHT_NOBITS":
            continue
        found = []
        for symbol in table.iter_symbols():
            kind = symbol["st_info"]["type"]
            if kind not in ("STT_FUNC", "STT_LOOS") or symbol["st_shndx"] == "SHN_UNDEF":
                continue
            if not symbol["st_size"]:
                continue
            start = symbol["st_value"]
            if opd is not None and symbol["st_shndx"] == opd[0]:
                at = start - opd[1]
                start = int.from_bytes(opd[2][at : at + 8], order)
            if elf["e_machine"] == "EM_ARM":
                start &= ~1
            found.append((start, symbol["st_size"], symbol.name))
        if found:
            return sorted(found)
    return []


def oracle_offset(elf: ELFFile, address: int) -> int | None:
    for segment in elf.iter_segments():
        header = segment.header
        if header["p_type"] != "PT_LOAD":
            continue
        if header["p_vaddr"] <= address < header["p_vaddr"] + header["p_memsz"]:
            if address - header["p_vaddr"] >= header["p_filesz"]:
                return None
            return int(address - header["p_vaddr"] + header["p_offset"])
    return None


@pytest.mark.parametrize("binary", FILES, ids=_ids(FILES))
def test_sites_against_pyelftools(binary: Path) -> None:
    scanned = scan(binary, debug_dirs=None)  # the file's own symbols, as the oracle reads
    with binary.open("rb") as stream:
        elf = ELFFile(stream)
        relocatable = elf["e_type"] == "ET_REL"
        base_section = elf.get_section_by_name(".stapsdt.base")
        functions = [] if relocatable else oracle_functions(elf)
        starts = [f[0] for f in functions]
        for site in scanned.sites:
            assert site.note is not None
            if relocatable:
                assert site.file_offset is None and site.function is None
                continue
            delta = 0
            if base_section is not None and site.note.base:
                delta = base_section["sh_addr"] - site.note.base
            assert site.address == site.note.pc + delta
            assert site.file_offset == oracle_offset(elf, site.address)
            if site.note.semaphore:
                assert site.semaphore_address == site.note.semaphore + delta
                assert site.semaphore_file_offset == oracle_offset(elf, site.semaphore_address)
            else:
                assert site.semaphore_address is None
            # Every function symbol that contains the site and starts closest below it.
            i = bisect.bisect_right(starts, site.address)
            candidates = [f for f in functions[:i] if f[0] <= site.address < f[0] + f[1]]
            if not candidates:
                assert site.function is None
                continue
            best = max(start for start, _size, _name in candidates)
            names = {name for start, _size, name in candidates if start == best}
            assert site.function is not None
            name, offset = site.function.rsplit("+", 1)
            assert name in names
            assert int(offset, 16) == site.address - best


@pytest.mark.parametrize("binary", FILES, ids=_ids(FILES))
def test_sections_and_segments_against_pyelftools(binary: Path) -> None:
    data = binary.read_bytes()
    ours = ElfFile(str(binary), data)
    with binary.open("rb") as stream:
        elf = ELFFile(stream)
        theirs = [
            (s.name, s["sh_addr"], s["sh_offset"], s["sh_size"], s["sh_addralign"])
            for s in elf.iter_sections()
        ]
        assert [(s.name, s.addr, s.offset, s.size, s.addralign) for s in ours.sections] == theirs
        segments = [
            (g["p_offset"], g["p_vaddr"], g["p_filesz"], g["p_memsz"]) for g in elf.iter_segments()
        ]
        assert [(g.offset, g.vaddr, g.filesz, g.memsz) for g in ours.segments] == segments
        assert ours.bits == elf.elfclass
        assert ours.endian == ("little" if elf.little_endian else "big")
