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

from ..elf import Machine
from .architecture import (
    BCC,
    GDB,
    KERNEL,
    LIBBPF,
    PERF,
    Abi,
    Architecture,
    CallConvention,
    CapstoneMode,
    ConsumerRules,
    by_width,
)
from .common import (
    Displacement,
    RegisterSpec,
    RegisterTable,
    clean,
    lookup,
    parse_displacement,
    parse_int,
)
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


def _register(text: str, bits: int, operand: str) -> Register | Unparsed:
    if not text.startswith("%"):
        return Unparsed(operand, f"{text!r} is not a register (AT&T registers start with %)")
    name = text[1:].strip()
    found = lookup(by_width(TABLES, bits), name)
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
    return _memory(disp, match.group("inside"), bits, operand)


def _memory(disp: Displacement, inside: str, bits: int, operand: str) -> Location:
    """``DISP(BASE,INDEX,SCALE)``, the displacement already read."""
    parts = [p.strip() for p in inside.split(",")]
    if len(parts) > 3:
        return Unparsed(operand, "more than base, index and scale inside the parentheses")
    base_text, index_text, scale_text = parts + [""] * (3 - len(parts))
    registers: list[Register | None] = []
    for part in (base_text, index_text):
        found = _register(part, bits, operand) if part else None
        if isinstance(found, Unparsed):
            return found
        registers.append(found)
    base, index = registers
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


# The kernel's x86 pt_regs names (arch/x86/kernel/ptrace.c regoffset_table).
_KERNEL_64 = {
    "rax": "ax",
    "rbx": "bx",
    "rcx": "cx",
    "rdx": "dx",
    "rsi": "si",
    "rdi": "di",
    "rbp": "bp",
    "rsp": "sp",
    "rip": "ip",
} | {f"r{n}": f"r{n}" for n in range(8, 16)}
_KERNEL_32 = {f"e{k[1:]}": v for k, v in _KERNEL_64.items() if not k[1:].isdigit()}

# libbpf's x86 reg_map (src/usdt.c); bcc's is the same without %eip.
_LIBBPF_REGISTERS = frozenset(
    {"rip", "eip"}
    | {f"{p}{r}" for r in ("ax", "bx", "cx", "dx") for p in ("r", "e", "")}
    | {f"{r}l" for r in "abcd"}
    | {f"{p}{r}" for r in ("si", "di", "bp", "sp") for p in ("r", "e", "")}
    | {f"{r}l" for r in ("si", "di", "bp", "sp")}
    | {f"r{n}{s}" for n in range(8, 16) for s in ("", "d", "w", "b")}
)

# The System V AMD64 ABI: the first six integer arguments.
_SYSV_CALL_REGISTERS = ("%rdi", "%rsi", "%rdx", "%rcx", "%r8", "%r9")
_X86_64_MODE = CapstoneMode("x86-64", "X86", ("64",), byte_order=False)

X86 = Architecture(
    family="x86",
    abis=(
        Abi(
            "x86_64",
            Machine.X86_64,
            64,
            64,
            frozenset({LIBBPF, BCC, GDB, PERF, KERNEL}),
            (_X86_64_MODE,),
            call=CallConvention(
                ("%rdi", "%rsi", "%rdx", "%rcx", "%r8", "%r9"), "%rsp", 8, att=True
            ),
        ),
        Abi("x32", Machine.X86_64, 32, 64, frozenset({GDB, KERNEL}), (_X86_64_MODE,)),
        Abi(
            "i386",
            Machine.I386,
            32,
            32,
            frozenset({LIBBPF, BCC, GDB, PERF, KERNEL}),
            (CapstoneMode("i386", "X86", ("32",), byte_order=False),),
            call=CallConvention((), "%esp", 4, att=True),
        ),
    ),
    tables=TABLES,
    parse=parse,
    render=render,
    kernel_registers={64: _KERNEL_64, 32: _KERNEL_32},
    consumers=ConsumerRules(
        libbpf_registers=_LIBBPF_REGISTERS,
        bcc_registers=_LIBBPF_REGISTERS - {"eip"},
        att=True,
    ),
)
