"""32-bit ARM operands (ARM and Thumb code alike).

Constants carry ``#`` (``#42``), registers are bare (``r3``, and the
aliases ``sb``, ``sl``, ``fp``, ``ip``, ``sp``, ``lr``, ``pc``), VFP
registers ``s0``-``s31`` and ``d0``-``d31``.  Memory is bracketed:
``[r7]``, ``[r7, #16]``, ``[r0, r4]`` and ``[r0, r4, lsl #2]``.
"""

from __future__ import annotations

import re

from .common import RegisterSpec, RegisterTable, clean, lookup, parse_int, parse_number
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

_MEMORY = re.compile(
    r"\[\s*(?P<base>\w+)\s*(?:,\s*(?P<second>[^,\]]+?)\s*)?(?:,\s*(?P<third>[^\]]+?)\s*)?\](?P<wb>!?)"
)
_SHIFT = re.compile(r"lsl\s*#\s*(\d+)", re.IGNORECASE)


def register_table(bits: int) -> RegisterTable:
    return TABLE


def _register(name: str, operand: str) -> Register | Unparsed:
    found = lookup(TABLE, name)
    if found is None:
        return Unparsed(operand, f"unknown ARM register {name}")
    return found


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
    match = _MEMORY.fullmatch(text)
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
    index = _register(second, operand)
    if isinstance(index, Unparsed):
        return index
    shift = 0
    if third is not None:
        shifted = _SHIFT.fullmatch(third)
        if shifted is None:
            return Unparsed(operand, f"index shift {third!r} is not supported (only lsl)")
        shift = int(shifted.group(1))
        if shift > 31:
            return Unparsed(operand, f"shift {shift} is out of range")
    return Memory(base, 0, index, 1 << shift, shift)


def render(location: Location, bits: int) -> str:
    if isinstance(location, Constant):
        return f"#{location.value}"
    if isinstance(location, Register):
        return location.name
    if isinstance(location, Memory) and location.base is not None:
        base = location.base.name
        if location.index is not None:
            shift = f", lsl #{location.shift}" if location.shift else ""
            return f"[{base}, {location.index.name}{shift}]"
        if location.displacement:
            return f"[{base}, #{location.displacement}]"
        return f"[{base}]"
    if isinstance(location, Unparsed):
        return location.text
    return repr(location)
