"""s390x (and 31-bit s390) operands.

Constants are bare (``42``), registers ``%r0``-``%r15`` and ``%f0``-``%f15``,
memory ``D(B)`` or ``D(X,B)``: ``180(%r11)``, ``0(%r10,%r2)``.  In the
two-register form the first register is the index and the second the
base, as in the instruction set's ``D2(X2,B2)``; the sum is the same.
"""

from __future__ import annotations

import re

from .common import (
    RegisterSpec,
    RegisterTable,
    clean,
    parse_displacement,
    parse_int,
    prefixed_register,
)
from .location import Constant, Location, Memory, Register, Unparsed


def _table(bits: int) -> RegisterTable:
    table: RegisterTable = {}
    for n in range(16):
        table[f"r{n}"] = RegisterSpec(f"r{n}", bits, capstone=str(n))
        table[f"f{n}"] = RegisterSpec(f"f{n}", 64, 0, "fpr", f"f{n}")
        table[f"a{n}"] = RegisterSpec(f"a{n}", 32, 0, "access", f"a{n}")
    for n in range(32):
        table[f"v{n}"] = RegisterSpec(f"v{n}", 128, 0, "vector", f"v{n}")
    return table


TABLES = {64: _table(64), 32: _table(32)}

_MEMORY = re.compile(r"(?P<disp>[^()]*)\((?P<inside>[^()]*)\)")


def register_table(bits: int) -> RegisterTable:
    return TABLES[64 if bits == 64 else 32]


def _register(text: str, bits: int, operand: str) -> Register | Unparsed:
    return prefixed_register(text, register_table(bits), operand, "s390", "%")


def parse(operand: str, bits: int) -> Location:
    text = clean(operand)
    if isinstance(text, Unparsed):
        return text
    if text.startswith("%"):
        return _register(text, bits, operand)
    match = _MEMORY.fullmatch(text)
    if match is None:
        value = parse_int(text)
        if value is not None:
            return Constant(value)
        return Unparsed(operand, "not a constant, a register or D(X,B) memory")
    disp = parse_displacement(match.group("disp"))
    if isinstance(disp, Unparsed):
        return Unparsed(operand, disp.reason)
    parts = [p.strip() for p in match.group("inside").split(",")]
    if len(parts) == 1:
        base = _register(parts[0], bits, operand)
        if isinstance(base, Unparsed):
            return base
        return Memory(base, disp.value, symbol=disp.memory_symbol())
    if len(parts) == 2:
        index = None
        if parts[0]:
            found = _register(parts[0], bits, operand)
            if isinstance(found, Unparsed):
                return found
            index = found
        base = _register(parts[1], bits, operand)
        if isinstance(base, Unparsed):
            return base
        return Memory(base, disp.value, index, symbol=disp.memory_symbol())
    return Unparsed(operand, "more than index and base inside the parentheses")


def render(location: Location, bits: int) -> str:
    if isinstance(location, Constant):
        return str(location.value)
    if isinstance(location, Register):
        return f"%{location.name}"
    if isinstance(location, Memory) and location.base is not None:
        if location.index is not None:
            return f"{location.displacement}(%{location.index.name},%{location.base.name})"
        return f"{location.displacement}(%{location.base.name})"
    if isinstance(location, Unparsed):
        return location.text
    return repr(location)
