"""PowerPC (32 and 64-bit, either byte order) operands.

GCC prints registers as bare numbers, so a bare ``9`` is general-purpose
register r9 and never the constant 9: constants carry an ``i`` prefix
(``i42``, from ``sys/sdt.h``'s ``%I`` operand modifier).  With
``-mregnames`` registers read ``%r3``, ``%f1``.  Memory is ``D(RA)``
(``0(10)``, ``-8(%r31)``) or the indexed pair ``RA,RB`` (``9,8``).
"""

from __future__ import annotations

from ..elf import Machine
from .architecture import BCC, GDB, KERNEL, Abi, Architecture, CapstoneMode, by_width
from .common import (
    DISP_BASE,
    RegisterSpec,
    RegisterTable,
    clean,
    lookup,
    parse_displacement,
    parse_int,
    render_location,
)
from .location import Constant, Location, Memory, Register, Unparsed


def _table(bits: int) -> RegisterTable:
    table: RegisterTable = {}
    for n in range(32):
        table[str(n)] = RegisterSpec(f"r{n}", bits, capstone=f"r{n}")
        table[f"r{n}"] = RegisterSpec(f"r{n}", bits, capstone=f"r{n}")
        table[f"f{n}"] = RegisterSpec(f"f{n}", 64, 0, "fpr", f"f{n}")
        table[f"v{n}"] = RegisterSpec(f"v{n}", 128, 0, "vector", f"v{n}")
    return table


TABLES = {64: _table(64), 32: _table(32)}


def _register(text: str, bits: int, operand: str) -> Register | Unparsed:
    name = text.strip()
    if name.startswith("%"):
        name = name[1:]
        if name.isdigit():
            return Unparsed(operand, f"%{name} is not a register name (use %r{name} or {name})")
    elif not name.isdigit():
        return Unparsed(operand, f"{text!r} is not a register (bare numbers or %rN)")
    found = lookup(by_width(TABLES, bits), name)
    if found is None:
        return Unparsed(operand, f"unknown PowerPC register {text.strip()}")
    return found


def parse(operand: str, bits: int) -> Location:
    text = clean(operand)
    if isinstance(text, Unparsed):
        return text
    if text[0] in "iI" and len(text) > 1:
        value = parse_int(text[1:])
        if value is None:
            return Unparsed(operand, "i-prefixed immediate is not an integer")
        return Constant(value)
    if "," in text and "(" not in text:
        first, _, second = text.partition(",")
        base = _register(first, bits, operand)
        if isinstance(base, Unparsed):
            return base
        index = _register(second, bits, operand)
        if isinstance(index, Unparsed):
            return index
        return Memory(base, 0, index)
    match = DISP_BASE.fullmatch(text)
    if match is not None:
        disp = parse_displacement(match.group("disp"))
        if isinstance(disp, Unparsed):
            return Unparsed(operand, disp.reason)
        base = _register(match.group("base"), bits, operand)
        if isinstance(base, Unparsed):
            return base
        return Memory(base, disp.value, symbol=disp.memory_symbol())
    if text.isdigit() or text.startswith("%"):
        return _register(text, bits, operand)
    if parse_int(text) is not None:
        return Unparsed(operand, "negative bare number: neither a register nor an i-constant")
    return Unparsed(operand, "not an i-constant, a register or D(RA) memory")


def render(location: Location, bits: int) -> str:
    return render_location(location, "i", _spell, _render_memory)


def _render_memory(location: Memory, base: Register) -> str:
    if location.index is not None:
        return f"{_spell(base)},{_spell(location.index)}"
    return f"{location.displacement}({_spell(base)})"


def _spell(register: Register) -> str:
    return register.name if register.name.isdigit() else f"%{register.name}"


_GPRS = {f"r{n}": f"r{n}" for n in range(32)}

PPC = Architecture(
    family="ppc",
    abis=(
        Abi(
            "ppc64",
            Machine.PPC64,
            64,
            64,
            frozenset({BCC, GDB, KERNEL}),
            (CapstoneMode("ppc64", "PPC", ("64",)),),
        ),
        Abi(
            "ppc",
            Machine.PPC,
            32,
            32,
            frozenset({GDB, KERNEL}),
            (CapstoneMode("ppc", "PPC", ("32",)),),
        ),
    ),
    tables=TABLES,
    parse=parse,
    render=render,
    kernel_registers={64: _GPRS},
)
