"""AArch64 operands as GCC prints them for ``sys/sdt.h``.

Constants are bare (``42``; ``#42`` is accepted too), registers bare
(``x19``, ``w3``, ``sp``, ``d0``), and memory is bracketed:
``[x1]``, ``[sp, 36]``, ``[x0, x1]``, ``[x0, x1, lsl 3]`` and the
page-offset form ``[x0, #:lo12:.LANCHOR0]``, which reads the low 12 bits of
a symbol's address added to the page address in ``x0``.
"""

from __future__ import annotations

import re

from .common import RegisterSpec, RegisterTable, clean, lookup, parse_int
from .location import Constant, Location, Memory, Register, Symbol, Unparsed


def _table() -> RegisterTable:
    table: RegisterTable = {}
    for n in range(31):
        capstone_x = {29: "fp", 30: "lr"}.get(n, f"x{n}")
        table[f"x{n}"] = RegisterSpec(f"x{n}", 64, capstone=capstone_x)
        table[f"w{n}"] = RegisterSpec(f"x{n}", 32, capstone=f"w{n}")
    table["fp"] = RegisterSpec("x29", 64, capstone="fp")
    table["lr"] = RegisterSpec("x30", 64, capstone="lr")
    table["sp"] = RegisterSpec("sp", 64, capstone="sp")
    table["wsp"] = RegisterSpec("sp", 32, capstone="wsp")
    table["xzr"] = RegisterSpec("xzr", 64, capstone="xzr")
    table["wzr"] = RegisterSpec("xzr", 32, capstone="wzr")
    for n in range(32):
        for prefix, width in (("q", 128), ("v", 128), ("d", 64), ("s", 32), ("h", 16), ("b", 8)):
            table[f"{prefix}{n}"] = RegisterSpec(f"v{n}", width, 0, "fpr", f"{prefix}{n}")
    return table


TABLE = _table()

_MEMORY = re.compile(
    r"\[\s*(?P<base>\w+)\s*(?:,\s*(?P<second>[^,\]]+?)\s*)?(?:,\s*(?P<third>[^\]]+?)\s*)?\]"
)
_SHIFT = re.compile(r"lsl\s*#?\s*(\d+)", re.IGNORECASE)
_LO12 = re.compile(r"#?\s*:lo12:\s*(?P<name>[A-Za-z_.$][\w.$]*)\s*(?P<offset>[+-]\s*\w+)?")


def register_table(bits: int) -> RegisterTable:
    return TABLE


def _register(name: str, operand: str) -> Register | Unparsed:
    found = lookup(TABLE, name)
    if found is None:
        return Unparsed(operand, f"unknown AArch64 register {name}")
    return found


def parse(operand: str, bits: int) -> Location:
    text = clean(operand)
    if isinstance(text, Unparsed):
        return text
    if text.startswith("["):
        return _memory(text, operand)
    value = parse_int(text[1:] if text.startswith("#") else text)
    if value is not None:
        return Constant(value)
    if re.fullmatch(r"\w+", text):
        return _register(text, operand)
    return Unparsed(operand, "not a constant, a register or a bracketed address")


def _memory(text: str, operand: str) -> Location:
    match = _MEMORY.fullmatch(text)
    if match is None:
        return Unparsed(operand, "malformed bracketed address")
    base = _register(match.group("base"), operand)
    if isinstance(base, Unparsed):
        return base
    second, third = match.group("second"), match.group("third")
    if second is None:
        return Memory(base)
    lo12 = _LO12.fullmatch(second)
    if lo12 is not None:
        if third is not None:
            return Unparsed(operand, "a :lo12: offset takes no shift")
        offset = 0
        if lo12.group("offset"):
            parsed = parse_int(lo12.group("offset").replace(" ", ""))
            if parsed is None:
                return Unparsed(operand, "unreadable offset after the :lo12: symbol")
            offset = parsed
        return Memory(base, offset, symbol=Symbol(lo12.group("name"), 0, False, None, "lo12"))
    number = parse_int(second[1:] if second.startswith("#") else second)
    if number is not None:
        if third is not None:
            return Unparsed(operand, "an immediate offset takes no shift")
        return Memory(base, number)
    index = _register(second, operand)
    if isinstance(index, Unparsed):
        return index
    shift = 0
    if third is not None:
        shifted = _SHIFT.fullmatch(third)
        if shifted is None:
            return Unparsed(operand, f"index extension {third!r} is not supported (only lsl)")
        shift = int(shifted.group(1))
        if shift > 4:
            return Unparsed(operand, f"shift {shift} is out of range for an index")
    return Memory(base, 0, index, 1 << shift, shift)


def render(location: Location, bits: int) -> str:
    if isinstance(location, Constant):
        return str(location.value)
    if isinstance(location, Register):
        return location.name
    if isinstance(location, Memory) and location.base is not None:
        base = location.base.name
        if location.symbol is not None:
            offset = f"{location.displacement:+d}" if location.displacement else ""
            return f"[{base}, #:lo12:{location.symbol.name}{offset}]"
        if location.index is not None:
            shift = f", lsl {location.shift}" if location.shift else ""
            return f"[{base}, {location.index.name}{shift}]"
        if location.displacement:
            return f"[{base}, {location.displacement}]"
        return f"[{base}]"
    if isinstance(location, Unparsed):
        return location.text
    return repr(location)
