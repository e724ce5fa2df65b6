"""What argument decoding needs from the file, gathered while the file is open.

Decoding itself is pure, but two things only the file knows: the bytes at
each site (to check the ``nop`` and to disassemble around it) and the
addresses of symbols that operands name (``mp_(%rip)``).  Both are copied
out here, after the notes are read and before the file is unmapped.  The
symbol table is only read when some operand names a symbol, so a plain
listing of a large library does not pay for it.
"""

from __future__ import annotations

from dataclasses import replace

from ..elf import ElfFile
from ..errors import MalformedFileError
from ..model import CodeWindow, ScannedFile, Site
from .decode import parse_operand
from .location import Memory, Symbol

# Enough for three instructions either side on fixed-width architectures,
# and for re-synchronising x86 decoding before the site.
BYTES_BEFORE = 32
BYTES_AFTER = 24


def code_window(elf: ElfFile, site: Site) -> CodeWindow | None:
    """The bytes around ``site`` inside its loadable segment, or None."""
    if site.address is None or site.file_offset is None:
        return None
    segment = elf.load_segment_for(site.address)
    if segment is None:
        return None
    start = max(site.address - BYTES_BEFORE, segment.vaddr)
    end = min(site.address + BYTES_AFTER, segment.vaddr + segment.filesz)
    if end <= site.address:
        return None
    try:
        data = elf.read(start - segment.vaddr + segment.offset, end - start, "code at a site")
    except MalformedFileError:
        return None
    return CodeWindow(start, data, site.address - start)


def names_symbol(site: Site, machine: str, bits: int) -> bool:
    """Whether any operand of ``site`` needs the symbol table to resolve."""
    for argument in site.args:
        location = parse_operand(argument.operand, machine, bits)
        if isinstance(location, Symbol):
            return True
        if isinstance(location, Memory) and (
            location.symbol is not None
            or (location.base is not None and location.base.canonical == "rip")
        ):
            return True
    return False


def attach_context(elf: ElfFile, scanned: ScannedFile) -> None:
    """Give each stapsdt site its code window, and the file its symbol index if needed."""
    machine, bits = scanned.machine, scanned.bits
    if machine is None or bits is None:
        return
    needs_symbols = False
    for i, site in enumerate(scanned.sites):
        if site.kind != "stapsdt":
            continue
        window = code_window(elf, site)
        if window is not None:
            scanned.sites[i] = replace(site, code=window)
        if not needs_symbols and names_symbol(site, machine, bits):
            needs_symbols = True
    if needs_symbols:
        try:
            scanned.symbols = elf.symbol_index()
        except MalformedFileError as exc:
            scanned.warnings.append(f"symbol table unreadable, symbol operands unresolved: {exc}")
