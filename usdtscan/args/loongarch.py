"""LoongArch operands (grammar and register table only: capstone has no LoongArch).

Constants are bare (``42``), registers ``$r0``-``$r31`` or by ABI name
(``$a0``, ``$sp``, ``$fp``), floating point ``$f0``-``$f31`` or ``$fa0``.
GCC prints a memory operand without brackets as ``BASE,OFFSET``:
``$r23,24`` and ``$r23,-80`` are the memory at ``$r23 + 24`` and
``$r23 - 80``; ``BASE,INDEX`` (``$r12,$r13``) is the indexed form.
"""

from __future__ import annotations

from ..elf import Machine
from .architecture import BCC, KERNEL, Abi, Architecture, ConsumerRules, by_width
from .common import (
    RegisterSpec,
    RegisterTable,
    clean,
    numbered,
    parse_int,
    prefixed_register,
    render_location,
)
from .location import Constant, Location, Memory, Register, Unparsed

# $r0-$r31 and $f0-$f31 by their ABI names, in register order.
ABI = ["zero", "ra", "tp", "sp", *numbered("a", 0, 8), *numbered("t", 0, 9), "u0", "fp"]
ABI += numbered("s", 0, 9)
FP_ABI = [*numbered("fa", 0, 8), *numbered("ft", 0, 16), *numbered("fs", 0, 8)]


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


def _register(text: str, bits: int, operand: str) -> Register | Unparsed:
    return prefixed_register(text, by_width(TABLES, bits), operand, "LoongArch", "$")


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
    return render_location(location, "", lambda r: f"${r.name}", _render_memory)


def _render_memory(location: Memory, base: Register) -> str:
    if location.index is not None:
        return f"${base.name},${location.index.name}"
    return f"${base.name},{location.displacement}"


_GPRS = {f"r{n}": f"r{n}" for n in range(32)}

LOONGARCH = Architecture(
    family="loongarch",
    abis=(
        Abi("loongarch64", Machine.LOONGARCH, 64, 64, frozenset({BCC, KERNEL})),
        Abi("loongarch32", Machine.LOONGARCH, 32, 32, frozenset({KERNEL})),
    ),
    tables=TABLES,
    parse=parse,
    render=render,
    kernel_registers={64: _GPRS},
    consumers=ConsumerRules(
        bcc_registers=frozenset({*_GPRS, "sp"}),
        bcc_memory_refusal="bcc expects [base, offset]; the compiler prints base,offset",
    ),
)
