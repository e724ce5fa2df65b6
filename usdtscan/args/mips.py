"""MIPS (o32, n32 and n64; either byte order) operands.

Constants are bare (``42``), registers ``$2`` or by name (``$sp``,
``$fp``, ``$a0``), floating point ``$f0``-``$f31``, memory ``D($REG)``:
``16($sp)``.  The names of registers 8-15 differ between o32 (``$t0``-
``$t7``) and n32/n64 (``$a4``-``$a7``, ``$t0``-``$t3``), so the table is
chosen by the file's class.
"""

from __future__ import annotations

import re

from .common import (
    RegisterSpec,
    RegisterTable,
    clean,
    parse_base_memory,
    parse_int,
    prefixed_register,
    render_base_memory,
)
from .location import Constant, Location, Memory, Register, Unparsed

# capstone spells registers by their o32 ABI names, whatever the ABI.
_CAPSTONE = [
    "zero",
    "at",
    "v0",
    "v1",
    "a0",
    "a1",
    "a2",
    "a3",
    "t0",
    "t1",
    "t2",
    "t3",
    "t4",
    "t5",
    "t6",
    "t7",
    "s0",
    "s1",
    "s2",
    "s3",
    "s4",
    "s5",
    "s6",
    "s7",
    "t8",
    "t9",
    "k0",
    "k1",
    "gp",
    "sp",
    "fp",
    "ra",
]
_O32 = _CAPSTONE
# n32 and n64 pass eight arguments in registers: $8-$11 are a4-a7 there,
# and the temporaries t0-t3 move up to $12-$15.
_N64 = [*_O32[:8], "a4", "a5", "a6", "a7", "t0", "t1", "t2", "t3", *_O32[16:]]


def _table(bits: int) -> RegisterTable:
    table: RegisterTable = {}
    names = _N64 if bits == 64 else _O32
    for n in range(32):
        spec = RegisterSpec(f"r{n}", bits, capstone=_CAPSTONE[n])
        table[str(n)] = spec
        table[names[n]] = spec
    table["s8"] = table["30"]
    for n in range(32):
        table[f"f{n}"] = RegisterSpec(f"f{n}", 64 if bits == 64 else 32, 0, "fpr", f"f{n}")
    return table


TABLES = {64: _table(64), 32: _table(32)}

_MEMORY = re.compile(r"(?P<disp>[^()]*)\((?P<base>[^()]*)\)")


def register_table(bits: int) -> RegisterTable:
    return TABLES[64 if bits == 64 else 32]


def _register(text: str, bits: int, operand: str) -> Register | Unparsed:
    return prefixed_register(text, register_table(bits), operand, "MIPS", "$")


def parse(operand: str, bits: int) -> Location:
    text = clean(operand)
    if isinstance(text, Unparsed):
        return text
    if text.startswith("$"):
        return _register(text, bits, operand)
    value = parse_int(text)
    if value is not None:
        return Constant(value)
    memory = parse_base_memory(text, operand, _MEMORY, lambda b: _register(b, bits, operand))
    if memory is not None:
        return memory
    return Unparsed(operand, "not a constant, a $register or D($REG) memory")


def render(location: Location, bits: int) -> str:
    if isinstance(location, Constant):
        return str(location.value)
    if isinstance(location, Register):
        return f"${location.name}"
    if isinstance(location, Memory) and location.base is not None:
        return render_base_memory(location, f"${location.base.name}")
    if isinstance(location, Unparsed):
        return location.text
    return repr(location)
