"""``readelf -n`` compatibility: the stapsdt notes exactly as binutils prints them.

Only notes of owner ``stapsdt`` are printed, each section's block headed as
readelf heads it, so that ``usdtscan --format readelf F`` can be diffed
against the stapsdt blocks of ``readelf -n F`` (see tests/oracle.py).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator

from ..model import ScannedFile

_TYPE_NAME = "NT_STAPSDT (SystemTap probe descriptors)"


def _hex(value: int, bits: int) -> str:
    return f"0x{value:0{bits // 4}x}"


def render_file(scanned: ScannedFile) -> str:
    bits = scanned.bits or 64
    entries: list[tuple[int, str, str]] = []  # (note offset, section, text)
    for site in scanned.sites:
        info = site.stapsdt
        if info is None or site.note_offset is None:
            continue
        note = info.note
        text = (
            f"  {'stapsdt':<20} 0x{info.note_size:08x}\t{_TYPE_NAME}\n"
            f"    Provider: {site.provider}\n"
            f"    Name: {site.name}\n"
            f"    Location: {_hex(note.pc, bits)}, Base: {_hex(note.base, bits)}, "
            f"Semaphore: {_hex(note.semaphore, bits)}\n"
            f"    Arguments: {site.args_raw}\n"
        )
        entries.append((site.note_offset, site.section or "", text))
    for other in scanned.other_notes:
        text = f"  {'stapsdt':<20} 0x{other.size:08x}\tUnknown note type: (0x{other.type:08x})\n"
        entries.append((other.offset, other.section, text))
    entries.sort(key=lambda entry: entry[0])
    out: list[str] = []
    current = None
    for _offset, section, text in entries:
        if section != current:
            out.append(f"\nDisplaying notes found in: {section}\n")
            out.append(f"  {'Owner':<20} {'Data size':<10}\tDescription\n")
            current = section
        out.append(text)
    return "".join(out)


def render(files: Iterable[ScannedFile]) -> str:
    """As readelf: a ``File:`` line before each file only when there are several."""
    return "".join(iter_render(files))


def iter_render(files: Iterable[ScannedFile]) -> Iterator[str]:
    """:func:`render` file by file, as the files arrive (``-r``): it looks one file
    ahead, to know whether there are several."""
    remaining = iter(files)
    first = next(remaining, None)
    if first is None:
        return
    second = next(remaining, None)
    if second is None:
        yield render_file(first)
        return
    for scanned in itertools.chain((first, second), remaining):
        yield f"\nFile: {scanned.path}\n" + render_file(scanned)
