"""32-bit ARM operands (ARM and Thumb code alike).

Constants carry ``#`` (``#42``), registers are bare (``r3``, and the
aliases ``sb``, ``sl``, ``fp``, ``ip``, ``sp``, ``lr``, ``pc``), VFP
registers ``s0``-``s31`` and ``d0``-``d31``.  Memory is bracketed:
``[r7]``, ``[r7, #16]``, ``[r0, r4]`` and ``[r0, r4, lsl #2]``.
"""

from __future__ import annotations

import re

from ..elf import Machine
from .architecture import (
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
    parse_number,
    render_bracketed,
    render_location,
)
from .location import Constant, Location, Memory, Register, Unparsed

_ALIASES = {9: "sb", 10: "sl", 11: "fp", 12: "ip", 13: "sp", 14: "lr", 15: "pc"}


def _table() -> RegisterTable:
    table: RegisterTable = {}
    for n in range(16):
        capstone = _ALIASES.get(n, f"r{n}") if n >= 9 else f"r{n}"
        table[f"r{n}"] = RegisterSpec(f"r{n}", 32, capstone=capstone)
        if n in _ALIASES:
            table[_ALIASES[n]] = RegisterSpec(f"r{n}", 32, capstone=_ALIASES[n])
    for n in range(32):
        table[f"s{n}"] = RegisterSpec(f"d{n // 2}", 32, 32 * (n % 2), "fpr", f"s{n}")
        table[f"d{n}"] = RegisterSpec(f"d{n}", 64, 0, "fpr", f"d{n}")
    for n in range(16):
        table[f"q{n}"] = RegisterSpec(f"q{n}", 128, 0, "vector", f"q{n}")
    return table


TABLE = _table()

_SHIFT = IndexShift(re.compile(r"lsl\s*#\s*(\d+)", re.IGNORECASE), 31, "shift", "", "#")


def _register(name: str, operand: str) -> Register | Unparsed:
    return named_register(TABLE, name, operand, "ARM")


def parse(operand: str, bits: int) -> Location:
    text = clean(operand)
    if isinstance(text, Unparsed):
        return text
    if text.startswith("#") or text.startswith("$"):
        value = parse_number(text[1:])
        if value is None:
            return Unparsed(operand, "immediate is not a number")
        return Constant(value)
    if text.startswith("["):
        return _memory(text, operand)
    if re.fullmatch(r"\w+", text):
        if parse_int(text) is not None:
            return Unparsed(operand, "bare number: ARM immediates carry '#'")
        return _register(text, operand)
    return Unparsed(operand, "not an immediate, a register or a bracketed address")


def _memory(text: str, operand: str) -> Location:
    match = BRACKETED.fullmatch(text)
    if match is None:
        return Unparsed(operand, "malformed bracketed address")
    if match.group("wb"):
        return Unparsed(operand, "pre-indexed write-back addressing is not an operand location")
    base = _register(match.group("base"), operand)
    if isinstance(base, Unparsed):
        return base
    second, third = match.group("second"), match.group("third")
    if second is None:
        return Memory(base)
    if second.startswith("#"):
        number = parse_int(second[1:])
        if number is None or third is not None:
            return Unparsed(operand, "malformed immediate offset")
        return Memory(base, number)
    if second.startswith("-"):
        return Unparsed(operand, "subtracted index registers are not supported")
    return bracketed_index(base, second, third, operand, lambda n: _register(n, operand), _SHIFT)


def render(location: Location, bits: int) -> str:
    return render_location(
        location, "#", lambda r: r.name, lambda m, base: render_bracketed(m, base, _SHIFT)
    )


# The kernel's and libbpf's names for r11-r15 are their aliases.
_KERNEL = {f"r{n}": f"r{n}" for n in range(11)} | {
    "r11": "fp",
    "r12": "ip",
    "r13": "sp",
    "r14": "lr",
    "r15": "pc",
}

ARM = Architecture(
    family="arm",
    abis=(
        Abi(
            "arm",
            Machine.ARM,
            32,
            32,
            frozenset({LIBBPF, GDB, KERNEL}),
            (
                CapstoneMode("thumb", "ARM", ("THUMB",)),
                CapstoneMode("arm", "ARM", ("ARM",)),
            ),
            call=CallConvention(("r0", "r1", "r2", "r3"), "sp", 4),
        ),
    ),
    tables={32: TABLE},
    parse=parse,
    render=render,
    kernel_registers={32: _KERNEL},
    consumers=ConsumerRules(
        libbpf_registers=frozenset(_KERNEL.values()),
        libbpf_index_refusal=(
            "libbpf's [reg] pattern matches the base alone, then reads [base] "
            "without the index (and an unset length): a wrong value, no error"
        ),
    ),
)
