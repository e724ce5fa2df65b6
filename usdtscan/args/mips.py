"""MIPS (o32, n32 and n64; either byte order) operands.

Constants are bare (``42``), registers ``$2`` or by name (``$sp``,
``$fp``, ``$a0``), floating point ``$f0``-``$f31``, memory ``D($REG)``:
``16($sp)``.  The names of registers 8-15 differ between o32 (``$t0``-
``$t7``) and n32/n64 (``$a4``-``$a7``, ``$t0``-``$t3``), so the table is
chosen by the ABI's register width: o32 files read the 32-bit o32 table,
n32 and n64 files the 64-bit one.
"""

from __future__ import annotations

from ..elf import EF_MIPS_ABI2, Machine
from .architecture import KERNEL, Abi, Architecture, CapstoneMode, by_width
from .common import (
    DISP_BASE,
    RegisterSpec,
    RegisterTable,
    clean,
    numbered,
    parse_base_memory,
    parse_int,
    prefixed_register,
    render_base_memory,
    render_location,
)
from .location import Constant, Location, Register, Unparsed

# capstone spells registers by their o32 ABI names, whatever the ABI.
_CAPSTONE = ["zero", "at", "v0", "v1", *numbered("a", 0, 4), *numbered("t", 0, 8)]
_CAPSTONE += [*numbered("s", 0, 8), "t8", "t9", "k0", "k1", "gp", "sp", "fp", "ra"]
_O32 = _CAPSTONE
# n32 and n64 pass eight arguments in registers: $8-$11 are a4-a7 there,
# and the temporaries t0-t3 move up to $12-$15 (GDB's mips-tdep.c names
# them so for both ABIs; tests/test_arch_mips.py holds this against GDB).
_N64 = [*_O32[:8], "a4", "a5", "a6", "a7", "t0", "t1", "t2", "t3", *_O32[16:]]


def _table(bits: int) -> RegisterTable:
    """The registers of one width: o32's 32-bit ones, or those of n32 and n64, 64 bits wide."""
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


def _register(text: str, bits: int, operand: str) -> Register | Unparsed:
    return prefixed_register(text, by_width(TABLES, bits), operand, "MIPS", "$")


def parse(operand: str, bits: int) -> Location:
    text = clean(operand)
    if isinstance(text, Unparsed):
        return text
    if text.startswith("$"):
        return _register(text, bits, operand)
    value = parse_int(text)
    if value is not None:
        return Constant(value)
    memory = parse_base_memory(text, operand, DISP_BASE, lambda b: _register(b, bits, operand))
    if memory is not None:
        return memory
    return Unparsed(operand, "not a constant, a $register or D($REG) memory")


def render(location: Location, bits: int) -> str:
    return render_location(
        location, "", lambda r: f"${r.name}", lambda m, base: render_base_memory(m, f"${base.name}")
    )


_MIPS64_MODE = CapstoneMode("mips64", "MIPS", ("MIPS64",))

MIPS = Architecture(
    family="mips",
    abis=(
        Abi("mips64", Machine.MIPS, 64, 64, frozenset({KERNEL}), (_MIPS64_MODE,)),
        Abi(
            "mips",
            Machine.MIPS,
            32,
            32,
            frozenset({KERNEL}),
            (CapstoneMode("mips", "MIPS", ("MIPS32",)),),
        ),
        # n32: 32-bit pointers in a MIPS64 ELFCLASS32 file (EF_MIPS_ABI2),
        # 64-bit registers named as n64 names them.
        Abi("mipsn32", Machine.MIPS, 32, 64, frozenset({KERNEL}), (_MIPS64_MODE,), EF_MIPS_ABI2),
    ),
    tables=TABLES,
    parse=parse,
    render=render,
    kernel_registers={64: {f"r{n}": f"r{n}" for n in range(32)}},
)
