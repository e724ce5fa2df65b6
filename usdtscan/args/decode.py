"""From tokenized arguments to locations, with the grammar of the file's architecture.

The grammar is chosen by the file's ``e_machine`` and class, never by the
host: an AArch64 library read on x86 decodes as AArch64.  Decoding is pure
(strings in, values out) and never raises; whatever cannot be read becomes
an :class:`~usdtscan.args.location.Unparsed` with the reason, and whatever
is odd but readable (no size, an odd size, a size wider than the register)
is decoded and flagged.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from ..basetypes import Argument, StrEnum
from .architecture import Architecture
from .location import Location, Memory, Register, Symbol, Unparsed
from .registry import architecture, register_bits

if TYPE_CHECKING:
    from ..model import SymbolLookup


class Flag(StrEnum):
    """Machine-readable names of what is odd about an argument."""

    SIZELESS = "sizeless"
    ODD_SIZE = "odd-size"
    WIDER_THAN_REGISTER = "wider-than-register"
    FLOAT = "float"
    UNPARSED = "unparsed"
    UNRESOLVED_SYMBOL = "unresolved-symbol"


@dataclass(frozen=True, slots=True)
class DecodedArgument:
    """One argument: the note's spelling, where it lives, and how wide it is.

    ``size`` and ``signed`` are always set; for a sizeless argument they are
    systemtap's assumption (an unsigned ``long`` of the target: 4 bytes on
    a 32-bit file, 8 on a 64-bit one) and ``assumed_size`` is true.
    """

    argument: Argument
    location: Location
    size: int
    signed: bool
    is_float: bool
    assumed_size: bool
    flags: tuple[Flag, ...] = ()
    warnings: tuple[str, ...] = ()


def grammar(machine: str | int) -> Architecture | None:
    """The architecture (and so the operand grammar) of a name or ``e_machine`` number."""
    return architecture(machine)


@functools.lru_cache(maxsize=8192)
def parse_operand(operand: str, machine: str | int, bits: int) -> Location:
    """One operand string to a location; never raises.

    Cached: locations are immutable, and a large file repeats a few hundred
    operand spellings across thousands of sites."""
    found = architecture(machine)
    if found is None:
        return Unparsed(operand, f"no operand grammar for architecture {machine}")
    try:
        location: Location = found.parse(operand, register_bits(machine, bits))
    except Exception as exc:  # a grammar bug must not stop a scan, nor print a traceback
        return Unparsed(operand, f"operand grammar failed: {type(exc).__name__}: {exc}")
    return location


def decode_argument(
    argument: Argument,
    machine: str | int,
    bits: int,
    *,
    symbols: SymbolLookup | None = None,
    next_pc: int | None = None,
) -> DecodedArgument:
    location = parse_operand(argument.operand, machine, bits)
    flags: list[Flag] = []
    warnings: list[str] = []
    location = _resolve(location, symbols, next_pc, flags, warnings)
    if argument.size is None:
        size, signed, assumed = bits // 8, False, True
        flags.append(Flag.SIZELESS)
        warnings.append(
            f"no size prefix: read as an unsigned {size}-byte value, as systemtap and GDB do"
        )
    else:
        size, signed, assumed = argument.size, bool(argument.signed), False
        if size not in (1, 2, 4, 8):
            flags.append(Flag.ODD_SIZE)
            warnings.append(f"size {size} is not 1, 2, 4 or 8 bytes")
    if argument.is_float:
        flags.append(Flag.FLOAT)
    if isinstance(location, Unparsed):
        flags.append(Flag.UNPARSED)
    if (
        isinstance(location, Register)
        and location.is_integer
        and size * 8 > location.width_bits
        and not assumed
    ):
        flags.append(Flag.WIDER_THAN_REGISTER)
        warnings.append(
            f"{size}-byte argument in the {location.width_bits}-bit register {location.name}: "
            f"the bits above the register's part of {location.canonical} are not the argument's"
        )
    return DecodedArgument(
        argument, location, size, signed, argument.is_float, assumed, tuple(flags), tuple(warnings)
    )


def decode(
    arguments: Iterable[Argument],
    machine: str | int,
    bits: int,
    *,
    symbols: SymbolLookup | None = None,
    next_pc: int | None = None,
) -> tuple[DecodedArgument, ...]:
    """Decode every argument of one site.

    ``symbols`` resolves symbol operands to link-time addresses;
    ``next_pc`` (the address after the site's instruction) resolves
    numeric ``%rip``-relative operands.  Both are optional: without them
    the locations are still exact, only not resolved to addresses.
    """
    return tuple(
        decode_argument(a, machine, bits, symbols=symbols, next_pc=next_pc) for a in arguments
    )


def _resolve(
    location: Location,
    symbols: SymbolLookup | None,
    next_pc: int | None,
    flags: list[Flag],
    warnings: list[str],
) -> Location:
    if isinstance(location, Symbol):
        resolved = _symbol_address(location, symbols)
        if resolved is None:
            flags.append(Flag.UNRESOLVED_SYMBOL)
            return location
        return replace(location, address=resolved)
    if isinstance(location, Memory):
        if location.symbol is not None:
            address = _symbol_address(location.symbol, symbols)
            if address is None:
                flags.append(Flag.UNRESOLVED_SYMBOL)
                return location
            return replace(location, symbol=replace(location.symbol, address=address))
        if (
            location.base is not None
            and location.base.canonical in ("rip", "eip")
            and location.index is None
        ):
            return _rip_relative(location, symbols, next_pc, warnings)
    return location


def _symbol_address(symbol: Symbol, symbols: SymbolLookup | None) -> int | None:
    if symbols is None:
        return None
    base = symbols.address_of(symbol.name)
    return None if base is None else base + symbol.offset


def _rip_relative(
    location: Memory,
    symbols: SymbolLookup | None,
    next_pc: int | None,
    warnings: list[str],
) -> Location:
    """A numeric ``N(%rip)``: the address is the end of the site's instruction plus N."""
    if next_pc is None:
        return location
    address = next_pc + location.displacement
    found = None if symbols is None else symbols.symbol_at(address)
    if found is None:
        warnings.append(f"%rip-relative operand addresses {address:#x}, in no known symbol")
        return location
    name, offset = found
    return Symbol(name, offset, True, address)
