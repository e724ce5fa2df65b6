"""x86-64 and i386 operands, in the AT&T syntax GCC and Clang print.

``$IMM`` is a constant, ``%REG`` a register, ``DISP(BASE,INDEX,SCALE)`` memory
(every part optional but the parentheses), and a bare ``DISP`` an absolute
memory reference.  ``DISP`` may be a sum with one symbol: ``32+mp_(%rip)``
is the variable at ``mp_ + 32``, and i386 PIC code prints
``16+mp_@GOTOFF(%eax)``, the variable at ``mp_ + 16`` reached through the
GOT pointer in ``%eax``.
"""

from __future__ import annotations

import re

from .common import RegisterSpec, RegisterTable, clean, lookup, parse_displacement, parse_int
from .location import Constant, Location, Memory, Register, Symbol, Unparsed


def _table(bits: int) -> RegisterTable:
    table: RegisterTable = {}
    wide = "r" if bits == 64 else "e"
    for letter in "abcd":
        canonical = f"{wide}{letter}x"
        if bits == 64:
            table[f"r{letter}x"] = RegisterSpec(canonical, 64)
        table[f"e{letter}x"] = RegisterSpec(canonical, 32)
        table[f"{letter}x"] = RegisterSpec(canonical, 16)
        table[f"{letter}l"] = RegisterSpec(canonical, 8)
        table[f"{letter}h"] = RegisterSpec(canonical, 8, 8)
    for stem in ("si", "di", "bp", "sp"):
        canonical = f"{wide}{stem}"
        if bits == 64:
            table[f"r{stem}"] = RegisterSpec(canonical, 64)
            table[f"{stem}l"] = RegisterSpec(canonical, 8)
        table[f"e{stem}"] = RegisterSpec(canonical, 32)
        table[stem] = RegisterSpec(canonical, 16)
    if bits == 64:
        for n in range(8, 16):
            table[f"r{n}"] = RegisterSpec(f"r{n}", 64)
            table[f"r{n}d"] = RegisterSpec(f"r{n}", 32)
            table[f"r{n}w"] = RegisterSpec(f"r{n}", 16)
            table[f"r{n}b"] = RegisterSpec(f"r{n}", 8)
            table[f"r{n}l"] = RegisterSpec(f"r{n}", 8, capstone=f"r{n}b")
        table["rip"] = RegisterSpec("rip", 64)
    table["eip"] = RegisterSpec(f"{wide}ip", 32)
    for name, spec in list(table.items()):
        if spec.capstone is None:
            table[name] = RegisterSpec(
                spec.canonical, spec.width_bits, spec.bit_offset, spec.register_class, name
            )
    vectors = 32 if bits == 64 else 8
    for n in range(vectors):
        for prefix, width in (("xmm", 128), ("ymm", 256), ("zmm", 512)):
            table[f"{prefix}{n}"] = RegisterSpec(f"zmm{n}", width, 0, "vector", f"{prefix}{n}")
    for n in range(8):
        table[f"mm{n}"] = RegisterSpec(f"st{n}", 64, 0, "vector", f"mm{n}")
        table[f"st({n})"] = RegisterSpec(f"st{n}", 80, 0, "fpr", f"st({n})")
    table["st"] = RegisterSpec("st0", 80, 0, "fpr", "st(0)")
    return table


TABLES = {64: _table(64), 32: _table(32)}

# BASE,INDEX,SCALE inside the parentheses; any part may be empty.
_MEMORY = re.compile(r"(?P<disp>[^()]*)\((?P<inside>[^()]*)\)")
_SEGMENT = re.compile(r"%[cdefgs]s:")


def register_table(bits: int) -> RegisterTable:
    return TABLES[64 if bits == 64 else 32]


def _register(text: str, bits: int, operand: str) -> Register | Unparsed:
    if not text.startswith("%"):
        return Unparsed(operand, f"{text!r} is not a register (AT&T registers start with %)")
    name = text[1:].strip()
    found = lookup(register_table(bits), name)
    if found is None:
        where = "x86-64" if bits == 64 else "i386"
        return Unparsed(operand, f"unknown {where} register %{name}")
    return found


def parse(operand: str, bits: int) -> Location:
    text = clean(operand)
    if isinstance(text, Unparsed):
        return text
    if _SEGMENT.match(text):
        return Unparsed(operand, "segment-override operands are not supported")
    if text.startswith("$"):
        value = parse_int(text[1:])
        if value is None:
            return Unparsed(
                operand, "immediate is not an integer (symbolic immediates unsupported)"
            )
        return Constant(value)
    if text.startswith("%"):
        return _register(text, bits, operand)
    match = _MEMORY.fullmatch(text)
    if match is None:
        if "(" in text or ")" in text:
            return Unparsed(operand, "unbalanced or nested parentheses")
        return _absolute(text, operand)
    disp = parse_displacement(match.group("disp"))
    if isinstance(disp, Unparsed):
        return Unparsed(operand, disp.reason)
    parts = [p.strip() for p in match.group("inside").split(",")]
    if len(parts) > 3:
        return Unparsed(operand, "more than base, index and scale inside the parentheses")
    parts += [""] * (3 - len(parts))
    base_text, index_text, scale_text = parts
    base: Register | None = None
    if base_text:
        found = _register(base_text, bits, operand)
        if isinstance(found, Unparsed):
            return found
        base = found
    index: Register | None = None
    if index_text:
        found = _register(index_text, bits, operand)
        if isinstance(found, Unparsed):
            return found
        index = found
    scale = 1
    if scale_text:
        parsed = parse_int(scale_text)
        if parsed not in (1, 2, 4, 8):
            return Unparsed(operand, f"scale {scale_text} is not 1, 2, 4 or 8")
        scale = parsed
        if index is None:
            return Unparsed(operand, "scale without an index register")
    if base is None and index is None:
        return Unparsed(operand, "parentheses with no register")
    if base is not None and base.canonical == "rip":
        if index is not None:
            return Unparsed(operand, "%rip cannot take an index register")
        if disp.symbol is not None:
            return Symbol(disp.symbol, disp.value, True, None, disp.relocation)
    return Memory(base, disp.value, index, scale, 0, disp.memory_symbol())


def _absolute(text: str, operand: str) -> Location:
    disp = parse_displacement(text)
    if isinstance(disp, Unparsed):
        return Unparsed(operand, disp.reason)
    if disp.symbol is None:
        # A bare number is an absolute address in AT&T syntax, not a constant.
        return Memory(None, disp.value)
    return Symbol(disp.symbol, disp.value, False, None, disp.relocation)


def render(location: Location, bits: int) -> str:
    """The AT&T spelling of a location (the inverse of :func:`parse`)."""
    if isinstance(location, Constant):
        return f"${location.value}"
    if isinstance(location, Register):
        return f"%{location.name}"
    if isinstance(location, Symbol):
        disp = _symbolic(location.name, location.offset, location.relocation)
        return f"{disp}(%rip)" if location.pc_relative else disp
    if isinstance(location, Memory):
        if location.symbol is not None:
            sym = location.symbol
            disp = _symbolic(sym.name, location.displacement, sym.relocation)
        else:
            disp = str(location.displacement) if location.displacement else ""
        if location.base is None and location.index is None:
            return disp or "0"
        inside = "" if location.base is None else f"%{location.base.name}"
        if location.index is not None:
            inside += f",%{location.index.name}"
            if location.scale != 1:
                inside += f",{location.scale}"
        return f"{disp}({inside})"
    return location.text


def _symbolic(name: str, offset: int, relocation: str | None) -> str:
    suffix = f"@{relocation}" if relocation else ""
    if offset:
        return f"{offset}+{name}{suffix}"
    return f"{name}{suffix}"
