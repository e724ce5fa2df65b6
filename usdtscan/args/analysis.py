"""Decode every stapsdt site of a scanned file, for the renderers.

This is the one place that joins a site's tokens with what the scan kept
from the file (its architecture, class, code bytes and symbol index), so
the text and JSON views agree on every location and verdict.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..basetypes import SiteKind, Verdict
from .consumers import probe_verdicts, verdicts
from .decode import DecodedArgument, decode

if TYPE_CHECKING:
    from ..model import ScannedFile, Site

# sys/sdt.h's nop is one byte on x86; a window that shows otherwise wins.
_X86_NOP_LENGTHS = {b"\x90": 1, b"\x66\x90": 2, b"\x0f\x1f\x00": 3, b"\x0f\x1f\x40\x00": 4}


@dataclass(frozen=True, slots=True)
class SiteArguments:
    """The decoded arguments of one site and each consumer's verdict on each."""

    site: Site
    arguments: tuple[DecodedArgument, ...]
    verdicts: tuple[dict[str, Verdict], ...]


def next_pc(site: Site, machine: str) -> int | None:
    """The address after the site's instruction, for ``%rip``-relative operands."""
    if site.address is None or machine not in ("x86_64", "x32"):
        return None
    window = site.code
    if window is not None:
        data = window.data[window.site_offset :]
        for pattern, length in sorted(_X86_NOP_LENGTHS.items(), key=lambda p: -p[1]):
            if data.startswith(pattern):
                return site.address + length
    return site.address + 1


def analyze_site(site: Site, scanned: ScannedFile) -> SiteArguments | None:
    """None for sites whose arguments are not assembler operands (DOF)."""
    machine, bits = scanned.machine, scanned.bits
    if site.kind != SiteKind.STAPSDT or machine is None or bits is None:
        return None
    decoded = decode(
        site.args, machine, bits, symbols=scanned.symbols, next_pc=next_pc(site, machine)
    )
    return SiteArguments(
        site, decoded, tuple(verdicts(d, machine, bits, scanned.elf_type) for d in decoded)
    )


def analyze_file(scanned: ScannedFile) -> list[SiteArguments | None]:
    """One entry per ``scanned.sites`` entry, in order."""
    return [analyze_site(site, scanned) for site in scanned.sites]


def probe_summary(analyses: list[SiteArguments], scanned: ScannedFile) -> dict[str, Verdict]:
    machine, bits = scanned.machine or "", scanned.bits or 0
    return probe_verdicts([a.arguments for a in analyses], machine, bits, scanned.elf_type)
