"""Readers for the outputs of the binutils tools that serve as our oracles."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_NOTE = re.compile(
    r"^  stapsdt +0x(?P<size>[0-9a-f]+)\tNT_STAPSDT \(SystemTap probe descriptors\)\n"
    r"    Provider: (?P<provider>.*)\n"
    r"    Name: (?P<name>.*)\n"
    r"    Location: 0x(?P<pc>[0-9a-f]+), Base: 0x(?P<base>[0-9a-f]+), "
    r"Semaphore: 0x(?P<semaphore>[0-9a-f]+)\n"
    r"    Arguments: (?P<args>.*)$",
    re.MULTILINE,
)


@dataclass(frozen=True)
class ReadelfNote:
    provider: str
    name: str
    pc: int
    base: int
    semaphore: int
    args: str
    size: int


def readelf_notes(text: str) -> list[ReadelfNote]:
    """The stapsdt notes in ``readelf -n`` output, in order."""
    return [
        ReadelfNote(
            m["provider"],
            m["name"],
            int(m["pc"], 16),
            int(m["base"], 16),
            int(m["semaphore"], 16),
            m["args"],
            int(m["size"], 16),
        )
        for m in _NOTE.finditer(text)
    ]


def stapsdt_blocks(text: str) -> str:
    """The 'Displaying notes found in' blocks of stapsdt sections, verbatim.

    readelf starts every block with an empty line; the blocks of other note
    sections are dropped, as ``usdtscan --format readelf`` prints only stapsdt.
    """
    marker = "\nDisplaying notes found in: "
    blocks = text.split(marker)[1:]
    kept = []
    for block in blocks:
        section = block.split("\n", 1)[0]
        if "stapsdt" in section:
            kept.append(marker + block.rstrip("\n") + "\n")
    return "".join(kept)


def oracle_text(binary: Path) -> str:
    return binary.with_name(binary.name + ".readelf-n.txt").read_text(errors="replace")
