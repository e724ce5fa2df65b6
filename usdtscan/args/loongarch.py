"""LoongArch operands (grammar and register table only: capstone has no LoongArch).

Constants are bare (``42``), registers ``$r0``-``$r31`` or by ABI name
(``$a0``, ``$sp``, ``$fp``), floating point ``$f0``-``$f31`` or ``$fa0``.
GCC prints a memory operand without brackets as ``BASE,OFFSET``:
``$r23,24`` and ``$r23,-80`` are the memory at ``$r23 + 24`` and
``$r23 - 80``; ``BASE,INDEX`` (``$r12,$r13``) is the indexed form.
"""

from __future__ import annotations

from .common import RegisterSpec, RegisterTable, clean, parse_int, prefixed_register
from .location import Constant, Location, Memory, Register, Unparsed

ABI = [
    "zero",
    "ra",
    "tp",
    "sp",
    "a0",
    "a1",
    "a2",
    "a3",
    "a4",
    "a5",
    "a6",
    "a7",
    "t0",
    "t1",
    "t2",
    "t3",
    "t4",
    "t5",
    "t6",
    "t7",
    "t8",
    "u0",
    "fp",
    "s0",
    "s1",
    "s2",
    "s3",
    "s4",
    "s5",
    "s6",
    "s7",
    "s8",
]
FP_ABI = [f"fa{n}" for n in range(8)] + [f"ft{n}" for n in range(16)] + [f"fs{n}" for n in range(8)]


def _table(bits: int) -> RegisterTable:
    table: RegisterTable = {}
    for n, name in enumerate(ABI):
        spec = RegisterSpec(f"r{n}", bits)
        table[f"r{n}"] = spec
        table[name] = spec
    table["s9"] = table["r22"]
    table["v0"] = table["r4"]
    table["v1"] = table["r5"]
    for n, name in enumerate(FP_ABI):
        spec = RegisterSpec(f"f{n}", 64, 0, "fpr")
        table[f"f{n}"] = spec
        table[name] = spec
    return table


TABLES = {64: _table(64), 32: _table(32)}


def register_table(bits: int) -> RegisterTable:
    return TABLES[64 if bits == 64 else 32]


def _register(text: str, bits: int, operand: str) -> Register | Unparsed:
    return prefixed_register(text, register_table(bits), operand, "LoongArch", "$")


def parse(operand: str, bits: int) -> Location:
    text = clean(operand)
    if isinstance(text, Unparsed):
        return text
    if "," in text:
        first, _, second = text.partition(",")
        base = _register(first, bits, operand)
        if isinstance(base, Unparsed):
            return base
        second = second.strip()
        if second.startswith("$"):
            index = _register(second, bits, operand)
            if isinstance(index, Unparsed):
                return index
            return Memory(base, 0, index)
        offset = parse_int(second)
        if offset is None:
            return Unparsed(operand, "offset after the base register is not an integer")
        return Memory(base, offset)
    if text.startswith("$"):
        return _register(text, bits, operand)
    value = parse_int(text)
    if value is not None:
        return Constant(value)
    return Unparsed(operand, "not a constant, a $register or BASE,OFFSET memory")


def render(location: Location, bits: int) -> str:
    if isinstance(location, Constant):
        return str(location.value)
    if isinstance(location, Register):
        return f"${location.name}"
    if isinstance(location, Memory) and location.base is not None:
        if location.index is not None:
            return f"${location.base.name},${location.index.name}"
        return f"${location.base.name},{location.displacement}"
    if isinstance(location, Unparsed):
        return location.text
    return repr(location)
