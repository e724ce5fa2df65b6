"""What the per-architecture grammar tests (tests/test_arch_*.py) share.

Each of those modules holds operand strings read from real notes (the
fixtures of fixtures/build.sh and the Debian corpus) and the location each
must decode to; this module reads a fixture's notes and decodes them the
way the scan does, with the file's own architecture.
"""

from __future__ import annotations

from pathlib import Path

from usdtscan.args.analysis import analyze_file, analyze_site
from usdtscan.args.consumers import verdicts
from usdtscan.args.decode import DecodedArgument, decode, decode_argument
from usdtscan.args.location import Location, Register, Unparsed
from usdtscan.args.tokenize import parse_argument, tokenize
from usdtscan.basetypes import Verdict
from usdtscan.model import Site
from usdtscan.scan import scan
from usdtscan.uprobe import uprobe_event


def reg(name: str, canonical: str, width: int, offset: int = 0, cls: str = "gpr") -> Register:
    return Register(name, canonical, width, offset, cls)


def probe_locations(path: Path, probe: str) -> list[tuple[str, Location]]:
    """(argument as the note spells it, its location) for the first site of ``probe``."""
    scanned = scan(path)
    site = next(s for s in scanned.sites if s.name == probe)
    analysis = analyze_site(site, scanned)
    assert analysis is not None
    return [(a.argument.raw, a.location) for a in analysis.arguments]


def unparsed(path: Path) -> tuple[str | None, list[str]]:
    """The file's machine name, and every argument of its notes that did not decode."""
    scanned = scan(path)
    failed = [
        argument.argument.raw
        for analysis in analyze_file(scanned)
        if analysis is not None
        for argument in analysis.arguments
        if isinstance(argument.location, Unparsed)
    ]
    return scanned.machine, failed


def verdict(raw: str, machine: str, bits: int, elf_type: str = "DYN") -> dict[str, Verdict]:
    decoded = decode_argument(parse_argument(raw), machine, bits)
    return verdicts(decoded, machine, bits, elf_type)


def uprobe_fetches(args: str, machine: str, bits: int) -> tuple[str | None, tuple[str, ...]]:
    """The fetch arguments of a uprobe_events line for one made-up site with ``args``."""
    site = Site(
        provider="my-prov",
        name="ev",
        args_raw=args,
        args=tokenize(args),
        address=0x401040,
        file_offset=0x1040,
        semaphore_address=None,
        semaphore_file_offset=None,
        function=None,
    )
    decoded: tuple[DecodedArgument, ...] = decode(site.args, machine, bits)
    event = uprobe_event(site, decoded, machine, "/x", bits=bits)
    head = "p:my_prov/ev /x:0x1040"
    line = None if event.line is None else event.line.removeprefix(head).lstrip()
    return line, event.unsupported


class HandSymbols:
    """The two symbols that hand-written x86 operands name (``mp_`` and ``g``), as
    a file's symbol table would resolve them (tests of decode and of uprobe)."""

    def address_of(self, name: str) -> int | None:
        return {"mp_": 0x21A000, "g": 0x4000}.get(name)

    def symbol_at(self, address: int) -> tuple[str, int] | None:
        if 0x21A000 <= address < 0x21A100:
            return "mp_", address - 0x21A000
        return None
