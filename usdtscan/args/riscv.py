"""RISC-V (RV32 and RV64) operands.

Constants are bare (``42``), registers use ABI names (``a0``, ``s0``,
``sp``; ``fp`` is ``s0``) or ``x0``-``x31``, floating-point ``fa0`` or
``f10``, and memory is ``D(REG)``: ``-28(s0)``, ``0(a5)``.
"""

from __future__ import annotations

import re

from .common import (
    RegisterSpec,
    RegisterTable,
    clean,
    lookup,
    parse_base_memory,
    parse_int,
    render_base_memory,
)
from .location import Constant, Location, Memory, Register, Unparsed

ABI = [
    "zero",
    "ra",
    "sp",
    "gp",
    "tp",
    "t0",
    "t1",
    "t2",
    "s0",
    "s1",
    "a0",
    "a1",
    "a2",
    "a3",
    "a4",
    "a5",
    "a6",
    "a7",
    "s2",
    "s3",
    "s4",
    "s5",
    "s6",
    "s7",
    "s8",
    "s9",
    "s10",
    "s11",
    "t3",
    "t4",
    "t5",
    "t6",
]
FP_ABI = [
    "ft0",
    "ft1",
    "ft2",
    "ft3",
    "ft4",
    "ft5",
    "ft6",
    "ft7",
    "fs0",
    "fs1",
    "fa0",
    "fa1",
    "fa2",
    "fa3",
    "fa4",
    "fa5",
    "fa6",
    "fa7",
    "fs2",
    "fs3",
    "fs4",
    "fs5",
    "fs6",
    "fs7",
    "fs8",
    "fs9",
    "fs10",
    "fs11",
    "ft8",
    "ft9",
    "ft10",
    "ft11",
]


def _table(bits: int) -> RegisterTable:
    table: RegisterTable = {}
    for n, name in enumerate(ABI):
        spec = RegisterSpec(name, bits, capstone=name)
        table[name] = spec
        table[f"x{n}"] = spec
    table["fp"] = table["s0"]
    for n, name in enumerate(FP_ABI):
        spec = RegisterSpec(name, 64, 0, "fpr", name)
        table[name] = spec
        table[f"f{n}"] = spec
    return table


TABLES = {64: _table(64), 32: _table(32)}

_MEMORY = re.compile(r"(?P<disp>[^()]*)\((?P<base>[^()]*)\)")


def register_table(bits: int) -> RegisterTable:
    return TABLES[64 if bits == 64 else 32]


def _register(name: str, bits: int, operand: str) -> Register | Unparsed:
    found = lookup(register_table(bits), name.strip())
    if found is None:
        return Unparsed(operand, f"unknown RISC-V register {name.strip()}")
    return found


def parse(operand: str, bits: int) -> Location:
    text = clean(operand)
    if isinstance(text, Unparsed):
        return text
    value = parse_int(text)
    if value is not None:
        return Constant(value)
    memory = parse_base_memory(text, operand, _MEMORY, lambda b: _register(b, bits, operand))
    if memory is not None:
        return memory
    if re.fullmatch(r"\w+", text):
        return _register(text, bits, operand)
    return Unparsed(operand, "not a constant, a register or D(REG) memory")


def render(location: Location, bits: int) -> str:
    if isinstance(location, Constant):
        return str(location.value)
    if isinstance(location, Register):
        return location.name
    if isinstance(location, Memory) and location.base is not None:
        return render_base_memory(location, f"{location.base.name}")
    if isinstance(location, Unparsed):
        return location.text
    return repr(location)
