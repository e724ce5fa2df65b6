"""AArch64 operands as GCC prints them for ``sys/sdt.h``.

Constants are bare (``42``; ``#42`` is accepted too), registers bare
(``x19``, ``w3``, ``sp``, ``d0``), and memory is bracketed:
``[x1]``, ``[sp, 36]``, ``[x0, x1]``, ``[x0, x1, lsl 3]`` and the
page-offset form ``[x0, #:lo12:.LANCHOR0]``, which reads the low 12 bits of
a symbol's address added to the page address in ``x0``.
"""

from __future__ import annotations

import re

from ..elf import Machine
from .architecture import (
    BCC,
    GDB,
    KERNEL,
    LIBBPF,
    Abi,
    Architecture,
    CallConvention,
    CapstoneMode,
    ConsumerRules,
)
from .common import (
    BRACKETED,
    IndexShift,
    RegisterSpec,
    RegisterTable,
    bracketed_index,
    clean,
    named_register,
    parse_int,
    render_bracketed,
    render_location,
    trailing_offset,
)
from .location import Constant, Location, Memory, Register, Symbol, Unparsed


def _table() -> RegisterTable:
    table: RegisterTable = {}
    for n in range(31):
        capstone_x = {29: "fp", 30: "lr"}.get(n, f"x{n}")
        table[f"x{n}"] = RegisterSpec(f"x{n}", 64, capstone=capstone_x)
        table[f"w{n}"] = RegisterSpec(f"x{n}", 32, capstone=f"w{n}")
    table["fp"] = RegisterSpec("x29", 64, capstone="fp")
    table["lr"] = RegisterSpec("x30", 64, capstone="lr")
    table["sp"] = RegisterSpec("sp", 64, capstone="sp")
    table["wsp"] = RegisterSpec("sp", 32, capstone="wsp")
    table["xzr"] = RegisterSpec("xzr", 64, capstone="xzr")
    table["wzr"] = RegisterSpec("xzr", 32, capstone="wzr")
    for n in range(32):
        for prefix, width in (("q", 128), ("v", 128), ("d", 64), ("s", 32), ("h", 16), ("b", 8)):
            table[f"{prefix}{n}"] = RegisterSpec(f"v{n}", width, 0, "fpr", f"{prefix}{n}")
    return table


TABLE = _table()

_LO12 = re.compile(r"#?\s*:lo12:\s*(?P<name>[A-Za-z_.$][\w.$]*)\s*(?P<offset>[+-]\s*\w+)?")
_SHIFT = IndexShift(
    re.compile(r"lsl\s*#?\s*(\d+)", re.IGNORECASE), 4, "extension", " for an index", ""
)


def _register(name: str, operand: str) -> Register | Unparsed:
    return named_register(TABLE, name, operand, "AArch64")


def parse(operand: str, bits: int) -> Location:
    text = clean(operand)
    if isinstance(text, Unparsed):
        return text
    if text.startswith("["):
        return _memory(text, operand)
    value = parse_int(text[1:] if text.startswith("#") else text)
    if value is not None:
        return Constant(value)
    if re.fullmatch(r"\w+", text):
        return _register(text, operand)
    return Unparsed(operand, "not a constant, a register or a bracketed address")


def _memory(text: str, operand: str) -> Location:
    match = BRACKETED.fullmatch(text)
    if match is None or match.group("wb"):
        return Unparsed(operand, "malformed bracketed address")
    base = _register(match.group("base"), operand)
    if isinstance(base, Unparsed):
        return base
    second, third = match.group("second"), match.group("third")
    if second is None:
        return Memory(base)
    lo12 = _LO12.fullmatch(second)
    if lo12 is not None:
        if third is not None:
            return Unparsed(operand, "a :lo12: offset takes no shift")
        return _page_offset(base, lo12, operand)
    number = parse_int(second[1:] if second.startswith("#") else second)
    if number is not None:
        if third is not None:
            return Unparsed(operand, "an immediate offset takes no shift")
        return Memory(base, number)
    return bracketed_index(base, second, third, operand, lambda n: _register(n, operand), _SHIFT)


def _page_offset(base: Register, lo12: re.Match[str], operand: str) -> Location:
    """``[BASE, #:lo12:SYMBOL+N]``: the low 12 bits of a symbol's address, plus N."""
    offset = trailing_offset(lo12.group("offset"))
    if offset is None:
        return Unparsed(operand, "unreadable offset after the :lo12: symbol")
    return Memory(base, offset, symbol=Symbol(lo12.group("name"), 0, False, None, "lo12"))


def render(location: Location, bits: int) -> str:
    return render_location(location, "", lambda r: r.name, _render_memory)


def _render_memory(location: Memory, base: Register) -> str:
    if location.symbol is not None:
        offset = f"{location.displacement:+d}" if location.displacement else ""
        return f"[{base.name}, #:lo12:{location.symbol.name}{offset}]"
    return render_bracketed(location, base, _SHIFT)


_X_REGISTERS = frozenset({f"x{n}" for n in range(31)} | {"sp"})
_MODE = CapstoneMode("aarch64", "ARM64", ("ARM",))

AARCH64 = Architecture(
    family="aarch64",
    abis=(
        Abi(
            "aarch64",
            Machine.AARCH64,
            64,
            64,
            frozenset({LIBBPF, BCC, GDB, KERNEL}),
            (_MODE,),
            call=CallConvention(tuple(f"x{i}" for i in range(8)), "sp", 8),
        ),
        # Apple's arm64_32 (watchOS) is this ABI: 32-bit arguments in w registers.
        Abi(
            "aarch64_ilp32",
            Machine.AARCH64,
            32,
            64,
            frozenset(),
            (_MODE,),
            call=CallConvention(tuple(f"w{i}" for i in range(8)), "sp", 4),
        ),
    ),
    tables={64: TABLE},
    parse=parse,
    render=render,
    kernel_registers={64: {name: name for name in _X_REGISTERS}},
    consumers=ConsumerRules(
        libbpf_registers=_X_REGISTERS,
        bcc_registers=_X_REGISTERS,
        hash_offset_refused=frozenset({LIBBPF, BCC}),
    ),
)
