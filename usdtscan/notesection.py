"""A bare ``.note.stapsdt`` section: the notes without the ELF file around them.

debuginfod serves one section of a file (``/buildid/HEX/section/.note.stapsdt``,
elfutils 0.183 and later), and ``debuginfod-find section HEX .note.stapsdt``
or ``objcopy -O binary --only-section=.note.stapsdt`` write one.  A server
that refuses the whole executable and debug file (``DEBUGINFOD_MAXSIZE``:
elfutils' server answers 406) still serves this section, a few hundred
bytes where the executable is megabytes.

Without the ELF header, the class, the byte order and the machine are not
written anywhere.  The byte order is the one in which the first note's name
size reads 8 (``stapsdt\\0``); the address width (4 or 8) is the one with
which every note splits into three addresses and three strings, provider and
name being identifiers and the note base the same in every note (the
address of ``.stapsdt.base``, one per file).  The machine stays unknown,
so arguments are listed as written, not decoded; without the section
headers the base adjustment cannot be made, and without the program headers
there are no file offsets: addresses are the notes' own.
"""

from __future__ import annotations

import re
import struct

from .args.tokenize import tokenize
from .errors import MalformedFileError
from .fileio import ByteSource
from .model import (
    BaseAdjustment,
    FileFormat,
    NoteValues,
    ReaderResult,
    Site,
    SiteKind,
    StapsdtInfo,
)

OWNER = b"stapsdt\0"
NT_STAPSDT = 3
# sys/sdt.h writes provider and name as C identifiers (``__`` stands for ``-``).
_IDENTIFIER = re.compile(rb"[A-Za-z_][A-Za-z0-9_]*")
# A section is read whole: bound what a hostile file can make us hold.
MAX_SECTION = 256 << 20
WARNING = (
    "a bare .note.stapsdt section, without its ELF file: addresses are the notes' own, "
    "not adjusted by .stapsdt.base; file offsets, functions and the machine are unknown, "
    "so arguments are not decoded"
)


def is_note_section(head: bytes) -> bool:
    """Whether ``head`` (24 bytes) starts a stapsdt note, in either byte order."""
    if len(head) < 20 or head[12:20] != OWNER:
        return False
    return any(struct.unpack_from(order + "3I", head)[::2] == (8, NT_STAPSDT) for order in "<>")


def _notes(data: bytes, order: str) -> tuple[list[tuple[int, bytes]], str | None]:
    """(offset, descriptor) of every note, 4-byte aligned as sys/sdt.h writes them;
    and what is wrong where a cut or corrupt note ends the walk."""
    notes: list[tuple[int, bytes]] = []
    offset = 0
    while offset < len(data):
        if offset + 12 > len(data):
            return notes, f"truncated note header at offset {offset:#x}"
        namesz, descsz, kind = struct.unpack_from(order + "3I", data, offset)
        name_end = offset + 12 + namesz
        desc_start = (name_end + 3) & ~3
        desc_end = desc_start + descsz
        if desc_end > len(data):
            return notes, f"the note at offset {offset:#x} runs past the end of the section"
        if data[offset + 12 : name_end] == OWNER and kind == NT_STAPSDT:
            notes.append((offset, data[desc_start:desc_end]))
        offset = (desc_end + 3) & ~3
    return notes, None


def _split(desc: bytes, width: int, order: str) -> tuple[NoteValues, list[bytes]] | None:
    """Three addresses and three strings, or None if ``width`` does not fit this note."""
    if len(desc) < 3 * width + 3:
        return None
    values = NoteValues(*struct.unpack_from(order + ("3Q" if width == 8 else "3I"), desc))
    strings = desc[3 * width :].split(b"\0")
    if len(strings) < 4 or any(strings[3:]):
        return None
    if not all(_IDENTIFIER.fullmatch(s) for s in strings[:2]):
        return None
    return values, strings[:3]


def _width(notes: list[tuple[int, bytes]], order: str) -> int | None:
    """The address width with which every note splits, one base for all."""
    for width in (8, 4):
        split = [_split(desc, width, order) for _, desc in notes]
        if all(split) and len({s[0].base for s in split if s}) == 1:
            return width
    return None


def _site(offset: int, desc: bytes, width: int, order: str) -> Site:
    split = _split(desc, width, order)
    assert split is not None  # _width checked every note
    values, (provider, name, args) = split
    text = args.decode("utf-8", "backslashreplace")
    return Site(
        provider=provider.decode("ascii"),
        name=name.decode("ascii"),
        args_raw=text,
        args=tokenize(text),
        address=values.pc,
        file_offset=None,
        semaphore_address=values.semaphore or None,
        semaphore_file_offset=None,
        function=None,
        kind=SiteKind.STAPSDT,
        section=".note.stapsdt",
        note_offset=offset,
        stapsdt=StapsdtInfo(values, BaseAdjustment.NO_BASE_SECTION, len(desc)),
    )


def scan_note_section(path: str, source: ByteSource) -> ReaderResult:
    """The sites of a bare ``.note.stapsdt`` section (see the module's docstring)."""
    size = source.size
    if size > MAX_SECTION:
        limit = MAX_SECTION >> 20
        raise MalformedFileError(path, f"note section of {size} bytes, over {limit} MiB")
    data = source.read(0, size, ".note.stapsdt")
    order = "<" if struct.unpack_from("<I", data)[0] == len(OWNER) else ">"
    notes, error = _notes(data, order)
    width = _width(notes, order)
    if width is None:
        raise MalformedFileError(
            path, "stapsdt notes that split with neither 4- nor 8-byte addresses"
        )
    return ReaderResult(
        sites=[_site(offset, desc, width, order) for offset, desc in notes],
        warnings=[WARNING],
        error=error,
        format=FileFormat.ELF,
        machine=None,
        bits=width * 8,
        endian="little" if order == "<" else "big",
    )
