"""Decoded arguments in words, for ``usdtscan -v`` and ``-d``.

One line per argument says where it lives in architecture-neutral terms
(``memory at rbp - 12``), how wide it is, and which consumers cannot read
it; ``-d`` adds the instructions around the site.
"""

from __future__ import annotations

from ..model import ScannedFile, Site
from .analysis import analyze_site
from .consumers import Verdict
from .decode import DecodedArgument
from .location import Constant, Location, Memory, Register, Symbol


def describe_register(register: Register) -> str:
    if register.width_bits and register.canonical != register.name:
        high = register.bit_offset + register.width_bits - 1
        return f"{register.name} ({register.canonical} bits {register.bit_offset}..{high})"
    return register.name


def _signed(value: int) -> str:
    return f" - {-value}" if value < 0 else f" + {value}"


def describe_location(location: Location) -> str:
    if isinstance(location, Constant):
        return f"constant {location.value}"
    if isinstance(location, Register):
        return f"register {describe_register(location)}"
    if isinstance(location, Symbol):
        where = f"{location.name}{_signed(location.offset) if location.offset else ''}"
        how = ", pc-relative" if location.pc_relative else ""
        at = "unresolved" if location.address is None else f"{location.address:#x}"
        return f"memory at {where} ({at}{how})"
    if isinstance(location, Memory):
        terms: list[str] = []
        if location.base is not None:
            terms.append(location.base.name)
        if location.index is not None:
            scale = f"*{location.scale}" if location.scale != 1 else ""
            terms.append(f"{location.index.name}{scale}")
        text = " + ".join(terms)
        if location.symbol is not None:
            sym = location.symbol
            name = f"{sym.relocation}({sym.name})" if sym.relocation else sym.name
            text = f"{text} + {name}" if text else name
        if not text:
            text = f"{location.displacement:#x}"
        elif location.displacement:
            text += _signed(location.displacement)
        if location.symbol is not None and location.symbol.address is not None:
            text += f" (symbol at {location.symbol.address:#x})"
        return f"memory at {text}"
    return f"UNPARSED ({location.reason})"


def describe_argument(number: int, decoded: DecodedArgument, verdicts: dict[str, Verdict]) -> str:
    sign = "signed" if decoded.signed else "unsigned"
    shape = f"{decoded.size}-byte {sign}{' float' if decoded.is_float else ''}"
    if decoded.assumed_size:
        shape += " (assumed)"
    refused = [tool for tool, v in verdicts.items() if not v.ok]
    tail = f"; not readable by {', '.join(refused)}" if refused else ""
    return f"        arg{number} -> {describe_location(decoded.location)}, {shape}{tail}"


def site_lines(site: Site, scanned: ScannedFile, disassemble: bool = False) -> list[str]:
    """Extra detail lines for one site in the ``-v`` view."""
    analysis = analyze_site(site, scanned)
    if analysis is None:
        return []
    lines = [
        describe_argument(n, d, v)
        for n, (d, v) in enumerate(zip(analysis.arguments, analysis.verdicts, strict=True), 1)
    ]
    for number, (decoded, verdicts) in enumerate(
        zip(analysis.arguments, analysis.verdicts, strict=True), 1
    ):
        lines.extend(f"        arg{number} warning: {w}" for w in decoded.warnings)
        for tool, verdict in verdicts.items():
            if not verdict.ok:
                lines.append(f"        arg{number} {tool}: {verdict.why}")
    if disassemble:
        lines.extend(_disassembly(site, scanned))
    return lines


def _disassembly(site: Site, scanned: ScannedFile) -> list[str]:
    try:
        from ..disasm import check_site, disassemble_around
    except ImportError:  # pragma: no cover - capstone is an optional dependency
        return ["      disassembly: capstone is not installed"]
    machine, endian = scanned.machine or "", scanned.endian or "little"
    try:
        check = check_site(site, machine, endian)
        around = disassemble_around(site, machine, endian)
    except ImportError:
        return ["      disassembly: capstone is not installed"]
    verdict = "the sdt.h nop" if check.ok else f"NOT the sdt.h nop ({check.reason})"
    lines = [f"      instruction: {check.instruction or '-'} ({verdict})"]
    for ins in around:
        mark = "=>" if ins.address == site.address else "  "
        lines.append(f"      {mark} {ins.address:#x}: {ins.data.hex():<20} {ins.text}")
    return lines
