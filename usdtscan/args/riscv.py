"""RISC-V (RV32 and RV64) operands.

Constants are bare (``42``), registers use ABI names (``a0``, ``s0``,
``sp``; ``fp`` is ``s0``) or ``x0``-``x31``, floating-point ``fa0`` or
``f10``, and memory is ``D(REG)``: ``-28(s0)``, ``0(a5)``.
"""

from __future__ import annotations

import re

from ..elf import Machine
from .architecture import KERNEL, LIBBPF, Abi, Architecture, CapstoneMode, ConsumerRules, by_width
from .common import (
    DISP_BASE,
    RegisterSpec,
    RegisterTable,
    clean,
    named_register,
    numbered,
    parse_base_memory,
    parse_int,
    render_base_memory,
    render_location,
)
from .location import Constant, Location, Register, Unparsed

# x0-x31 and f0-f31 by their ABI names, in register order.
ABI = ["zero", "ra", "sp", "gp", "tp", *numbered("t", 0, 3), "s0", "s1", *numbered("a", 0, 8)]
ABI += [*numbered("s", 2, 12), *numbered("t", 3, 7)]
FP_ABI = [*numbered("ft", 0, 8), "fs0", "fs1", *numbered("fa", 0, 8)]
FP_ABI += [*numbered("fs", 2, 12), *numbered("ft", 8, 12)]


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


def _register(name: str, bits: int, operand: str) -> Register | Unparsed:
    return named_register(by_width(TABLES, bits), name.strip(), operand, "RISC-V")


def parse(operand: str, bits: int) -> Location:
    text = clean(operand)
    if isinstance(text, Unparsed):
        return text
    value = parse_int(text)
    if value is not None:
        return Constant(value)
    memory = parse_base_memory(text, operand, DISP_BASE, lambda b: _register(b, bits, operand))
    if memory is not None:
        return memory
    if re.fullmatch(r"\w+", text):
        return _register(text, bits, operand)
    return Unparsed(operand, "not a constant, a register or D(REG) memory")


def render(location: Location, bits: int) -> str:
    return render_location(
        location, "", lambda r: r.name, lambda m, base: render_base_memory(m, base.name)
    )


# The kernel's and libbpf's RISC-V names: the ABI names of x1-x31.
_NAMED = {name: name for name in ("ra", "sp", "gp", "tp")} | {
    f"{kind}{n}": f"{kind}{n}"
    for kind, count in (("a", 8), ("s", 12), ("t", 7))
    for n in range(count)
}

RISCV = Architecture(
    family="riscv",
    abis=(
        Abi(
            "riscv64",
            Machine.RISCV,
            64,
            64,
            frozenset({LIBBPF, KERNEL}),
            (CapstoneMode("riscv64", "RISCV", ("RISCV64", "RISCVC"), byte_order=False),),
        ),
        Abi(
            "riscv32",
            Machine.RISCV,
            32,
            32,
            frozenset({LIBBPF, KERNEL}),
            (CapstoneMode("riscv32", "RISCV", ("RISCV32", "RISCVC"), byte_order=False),),
        ),
    ),
    tables=TABLES,
    parse=parse,
    render=render,
    kernel_registers={64: _NAMED},
    consumers=ConsumerRules(
        libbpf_registers=frozenset(_NAMED),
        hash_offset_refused=frozenset({LIBBPF}),
        libbpf_needs_displacement=True,
    ),
)
