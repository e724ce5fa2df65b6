"""Pieces every operand grammar shares: register tables, GAS numbers, symbolic sums.

Each architecture module keeps one table from every spelling the
assembler accepts to a :class:`RegisterSpec`, so that the grammar stays a
few regular expressions and the knowledge of which register is which
lives in data that a test can hold against capstone's register set.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from .location import Constant, Location, Memory, Register, Symbol, Unparsed


@dataclass(frozen=True, slots=True)
class RegisterSpec:
    """What one register spelling means.

    ``capstone`` is capstone's name for the same register (it spells s390
    ``%r2`` as ``2`` and ARM ``r11`` as ``fp``), or None when capstone has
    no model of it.
    """

    canonical: str
    width_bits: int
    bit_offset: int = 0
    register_class: str = "gpr"
    capstone: str | None = None

    def register(self, name: str) -> Register:
        return Register(name, self.canonical, self.width_bits, self.bit_offset, self.register_class)


RegisterTable = dict[str, RegisterSpec]


def numbered(prefix: str, start: int, stop: int) -> list[str]:
    """``a0``..``a7``: the run of ABI register names ``prefix`` + ``start``..``stop - 1``."""
    return [f"{prefix}{n}" for n in range(start, stop)]


def lookup(table: RegisterTable, name: str) -> Register | None:
    spec = table.get(name.lower())
    return None if spec is None else spec.register(name.lower())


def named_register(table: RegisterTable, name: str, operand: str, arch: str) -> Register | Unparsed:
    """The register ``name`` of ``table``, or Unparsed naming the architecture."""
    found = lookup(table, name)
    if found is None:
        return Unparsed(operand, f"unknown {arch} register {name}")
    return found


def prefixed_register(
    text: str, table: RegisterTable, operand: str, arch: str, prefix: str
) -> Register | Unparsed:
    """A register spelled ``PREFIX NAME`` (``%r2`` on s390, ``$sp`` on MIPS and LoongArch)."""
    text = text.strip()
    if not text.startswith(prefix):
        return Unparsed(
            operand, f"{text!r} is not a register ({arch} registers start with {prefix})"
        )
    found = lookup(table, text[len(prefix) :])
    if found is None:
        return Unparsed(operand, f"unknown {arch} register {text}")
    return found


def render_location(
    location: Location,
    constant: str,
    spell: Callable[[Register], str],
    memory: Callable[[Memory, Register], str],
) -> str:
    """The spelling of a location in a dialect without symbols of its own.

    ``constant`` prefixes an immediate (``#`` on ARM, ``i`` on PowerPC),
    ``spell`` writes a register and ``memory`` an operand with a base.
    """
    if isinstance(location, Constant):
        return f"{constant}{location.value}"
    if isinstance(location, Register):
        return spell(location)
    if isinstance(location, Memory) and location.base is not None:
        return memory(location, location.base)
    if isinstance(location, Unparsed):
        return location.text
    return repr(location)


# [BASE], [BASE, SECOND] and [BASE, SECOND, THIRD]: AArch64 and ARM memory.
BRACKETED = re.compile(
    r"\[\s*(?P<base>\w+)\s*(?:,\s*(?P<second>[^,\]]+?)\s*)?(?:,\s*(?P<third>[^\]]+?)\s*)?\]"
    r"(?P<wb>!?)"
)


@dataclass(frozen=True, slots=True)
class IndexShift:
    """How an ARM-family dialect writes a shifted index: ``lsl 3`` or ``lsl #2``."""

    pattern: re.Pattern[str]
    limit: int
    what: str  # "extension" or "shift", as the rejection names the third part
    beyond: str  # the rejection's tail for a shift over the limit
    hash: str  # "#" if the rendered shift carries one


def bracketed_index(
    base: Register,
    second: str,
    third: str | None,
    operand: str,
    register: Callable[[str], Register | Unparsed],
    shift: IndexShift,
) -> Memory | Unparsed:
    """``[BASE, INDEX]`` or ``[BASE, INDEX, lsl N]``: the index register and its shift."""
    index = register(second)
    if isinstance(index, Unparsed):
        return index
    amount = 0
    if third is not None:
        shifted = shift.pattern.fullmatch(third)
        if shifted is None:
            return Unparsed(operand, f"index {shift.what} {third!r} is not supported (only lsl)")
        amount = int(shifted.group(1))
        if amount > shift.limit:
            return Unparsed(operand, f"shift {amount} is out of range{shift.beyond}")
    return Memory(base, 0, index, 1 << amount, amount)


def render_bracketed(location: Memory, base: Register, shift: IndexShift) -> str:
    """The inverse of the bracketed forms (symbols aside)."""
    if location.index is not None:
        lsl = f", lsl {shift.hash}{location.shift}" if location.shift else ""
        return f"[{base.name}, {location.index.name}{lsl}]"
    if location.displacement:
        return f"[{base.name}, {shift.hash}{location.displacement}]"
    return f"[{base.name}]"


# GAS integers: decimal, 0x hex, 0b binary, and a leading 0 is octal.
_INT = re.compile(r"[+-]?(?:0[xX][0-9a-fA-F]+|0[bB][01]+|[0-9]+)")


def parse_int(text: str) -> int | None:
    """A GAS integer literal, or None if ``text`` is not exactly one."""
    text = text.strip()
    if not _INT.fullmatch(text):
        return None
    sign = -1 if text.startswith("-") else 1
    digits = text.lstrip("+-")
    lowered = digits.lower()
    if lowered.startswith("0x"):
        value = int(digits[2:], 16)
    elif lowered.startswith("0b"):
        value = int(digits[2:], 2)
    elif len(digits) > 1 and digits.startswith("0"):
        if any(c in "89" for c in digits):
            return None
        value = int(digits, 8)
    else:
        value = int(digits)
    return sign * value


_FLOAT = re.compile(r"[+-]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?")


def parse_number(text: str) -> int | float | None:
    """An integer, or a float literal (ARM prints ``#3.75e+0`` for a double constant)."""
    value = parse_int(text)
    if value is not None:
        return value
    text = text.strip()
    if _FLOAT.fullmatch(text) and any(c in text for c in ".eE"):
        return float(text)
    return None


# D(BASE): MIPS, PowerPC, RISC-V (and s390's D(X,B), x86's DISP(B,I,S) inside).
DISP_BASE = re.compile(r"(?P<disp>[^()]*)\((?P<base>[^()]*)\)")


def trailing_offset(text: str | None) -> int | None:
    """The ``+ 4`` or ``-8`` after a symbol (blanks allowed): 0 if absent, None if unreadable."""
    if not text:
        return 0
    return parse_int(text.replace(" ", ""))


_RELOC_MEMORY = re.compile(
    r"%(?P<reloc>\w+)\((?P<inner>[^()]*)\)(?P<extra>\s*[+-]\s*\w+)?\((?P<base>[^()]*)\)"
)


def parse_relocated_memory(text: str) -> tuple[Displacement, str] | Unparsed | None:
    """``%lo(sym+4)(BASE)``-style operands (MIPS, RISC-V): the displacement and base text.

    The relocation operator picks part of the symbol's address (``%lo``: the
    low bits, the high part being already in BASE); None if ``text`` is not
    of this form.
    """
    match = _RELOC_MEMORY.fullmatch(text)
    if match is None:
        return None
    inner = parse_displacement(match.group("inner"))
    if isinstance(inner, Unparsed):
        return inner
    extra = trailing_offset(match.group("extra"))
    if extra is None:
        return Unparsed(text, "unreadable offset after the relocation operator")
    if inner.symbol is None:
        return Unparsed(text, "relocation operator without a symbol")
    return Displacement(inner.value + extra, inner.symbol, match.group("reloc")), match.group(
        "base"
    )


def parse_base_memory(
    text: str,
    operand: str,
    memory: re.Pattern[str],
    register: Callable[[str], Register | Unparsed],
) -> Memory | Unparsed | None:
    """``D(BASE)`` memory, or ``%lo(sym)(BASE)`` with a relocation operator (MIPS, RISC-V).

    ``memory`` must name the groups ``disp`` and ``base``; ``register``
    reads the base's spelling.  None if ``text`` is neither form.
    """
    relocated = parse_relocated_memory(text)
    if isinstance(relocated, Unparsed):
        return Unparsed(operand, relocated.reason)
    if relocated is not None:
        displacement, base_text = relocated
    else:
        match = memory.fullmatch(text)
        if match is None:
            return None
        parsed = parse_displacement(match.group("disp"))
        if isinstance(parsed, Unparsed):
            return Unparsed(operand, parsed.reason)
        displacement, base_text = parsed, match.group("base")
    base = register(base_text)
    if isinstance(base, Unparsed):
        return base
    return Memory(base, displacement.value, symbol=displacement.memory_symbol())


def render_base_memory(location: Memory, base: str) -> str:
    """The inverse of :func:`parse_base_memory`, ``base`` spelled by the caller."""
    if location.symbol is not None:
        extra = f"{location.displacement:+d}" if location.displacement else ""
        inner = f"%{location.symbol.relocation}({location.symbol.name}{extra})"
        return f"{inner}({base})"
    return f"{location.displacement}({base})"


_TERM = re.compile(r"\s*([+-])?\s*([^\s+-]+)")
_IDENT = re.compile(r"[A-Za-z_.$][\w.$]*")


@dataclass(frozen=True, slots=True)
class Displacement:
    """A GAS displacement expression: an integer sum, perhaps with one symbol."""

    value: int
    symbol: str | None = None
    relocation: str | None = None

    def memory_symbol(self) -> Symbol | None:
        """The symbol of a memory operand; its number stays in the displacement."""
        if self.symbol is None:
            return None
        return Symbol(self.symbol, 0, False, None, self.relocation)


def parse_displacement(text: str) -> Displacement | Unparsed:
    """Read ``-12``, ``32+mp_``, ``mp_+32``, ``4+4``, ``16+mp_@GOTOFF`` or ``-8+3+1``.

    GCC prints a symbolic displacement as ``[N+]symbol[@RELOC]``; the
    assembler accepts any sum.  At most one symbol, added not subtracted,
    has a meaning we can represent.
    """
    if not text.strip():
        return Displacement(0)
    value = 0
    symbol: str | None = None
    relocation: str | None = None
    position = 0
    first = True
    while position < len(text):
        match = _TERM.match(text, position)
        if match is None or (not first and match.group(1) is None):
            return Unparsed(text, "displacement is not a sum of numbers and a symbol")
        sign, term = match.group(1), match.group(2)
        position = match.end()
        first = False
        number = parse_int(term)
        if number is not None:
            value += -number if sign == "-" else number
            continue
        name, _, reloc = term.partition("@")
        if not _IDENT.fullmatch(name) or (reloc and not re.fullmatch(r"\w+", reloc)):
            return Unparsed(text, f"cannot read {term!r} in the displacement")
        if symbol is not None:
            return Unparsed(text, "displacement names two symbols")
        if sign == "-":
            return Unparsed(text, "displacement subtracts a symbol")
        symbol, relocation = name, reloc or None
    return Displacement(value, symbol, relocation)


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def clean(operand: str) -> str | Unparsed:
    """The operand with outer blanks removed, or Unparsed if it holds control characters."""
    text = operand.strip()
    if not text:
        return Unparsed(operand, "empty operand")
    if _CONTROL.search(text):
        return Unparsed(operand, "operand holds control characters")
    return text
