"""s390x (and 31-bit s390) operands.

Constants are bare (``42``), registers ``%r0``-``%r15`` and ``%f0``-``%f15``,
memory ``D(B)`` or ``D(X,B)``: ``180(%r11)``, ``0(%r10,%r2)``.  In the
two-register form the first register is the index and the second the
base, as in the instruction set's ``D2(X2,B2)``; the sum is the same.
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
    CapstoneMode,
    ConsumerRules,
    by_width,
)
from .common import (
    RegisterSpec,
    RegisterTable,
    clean,
    parse_displacement,
    parse_int,
    prefixed_register,
    render_location,
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


def _register(text: str, bits: int, operand: str) -> Register | Unparsed:
    return prefixed_register(text, by_width(TABLES, bits), operand, "s390", "%")


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
    return render_location(location, "", lambda r: f"%{r.name}", _render_memory)


def _render_memory(location: Memory, base: Register) -> str:
    if location.index is not None:
        return f"{location.displacement}(%{location.index.name},%{base.name})"
    return f"{location.displacement}(%{base.name})"


_GPRS = {f"r{n}": f"r{n}" for n in range(16)}

S390 = Architecture(
    family="s390",
    abis=(
        Abi(
            "s390x",
            Machine.S390,
            64,
            64,
            frozenset({LIBBPF, BCC, GDB, KERNEL}),
            (CapstoneMode("s390x", "SYSZ", ("BIG_ENDIAN",), byte_order=False),),
        ),
        Abi(
            "s390",
            Machine.S390,
            32,
            32,
            frozenset({GDB, KERNEL}),
            (CapstoneMode("s390", "SYSZ", ("BIG_ENDIAN",), byte_order=False),),
        ),
    ),
    tables=TABLES,
    parse=parse,
    render=render,
    kernel_registers={64: _GPRS},
    consumers=ConsumerRules(
        libbpf_registers=frozenset(_GPRS),
        hash_offset_refused=frozenset({LIBBPF}),
        libbpf_needs_displacement=True,
        bcc_index_caveat="bcc adds the index register unscaled, as the ISA does",
    ),
)
