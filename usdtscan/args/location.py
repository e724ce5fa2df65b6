"""Where a probe argument lives at the probe site, independent of any assembler dialect.

Every operand string decodes to exactly one of these values, told apart by
``kind`` (a literal type, so a type checker narrows ``Location`` on it).  Each names
precisely which register, memory cell or constant holds the argument, so
that a debugger or an emulator can evaluate it without knowing the
syntax it came from: a :class:`Register` carries the full-width register
and the bit range that the operand names, a :class:`Memory` its base,
index, scale or shift and displacement.  An operand we cannot decode is an
:class:`Unparsed` with the reason, never an exception.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal


@dataclass(frozen=True, slots=True)
class Constant:
    """An immediate: the argument's value is ``value`` itself (a float for float literals)."""

    value: int | float

    kind: ClassVar[Literal["constant"]] = "constant"


@dataclass(frozen=True, slots=True)
class Register:
    """A register, or part of one.

    ``name`` is the register as the operand spells it (without ``%`` or
    ``$``); ``canonical`` the full-width architectural register that holds
    it, which is what ptrace, GDB and the kernel read.  The operand names
    ``width_bits`` bits of ``canonical`` starting at ``bit_offset`` (``%ah``
    is ``rax`` bits 8..15).  ``register_class`` is ``gpr``, ``fpr``
    (floating point) or ``vector``.
    """

    name: str
    canonical: str
    width_bits: int
    bit_offset: int = 0
    register_class: str = "gpr"

    kind: ClassVar[Literal["register"]] = "register"

    @property
    def is_integer(self) -> bool:
        return self.register_class == "gpr"


@dataclass(frozen=True, slots=True)
class Symbol:
    """A link-time symbol plus ``offset``; the argument is the memory at that address.

    ``pc_relative`` says the operand addressed it relative to the program
    counter (x86-64 ``g(%rip)``), which is still the symbol's own address.
    ``relocation`` keeps an assembler operator that changes the meaning of
    the symbol's value (``GOTOFF``: relative to the GOT; ``lo12``: its low
    12 bits).  ``address`` is the resolved link-time address of
    ``name + offset`` when the file's symbol table has the name.
    """

    name: str
    offset: int = 0
    pc_relative: bool = False
    address: int | None = None
    relocation: str | None = None

    kind: ClassVar[Literal["symbol"]] = "symbol"


@dataclass(frozen=True, slots=True)
class Memory:
    """The memory at ``base + index * scale + displacement`` (+ ``symbol``'s value).

    ``base`` is None only for an absolute address.  ARM's ``[r0, r4, lsl
    #2]`` is index ``r4`` with ``shift`` 2 (and so ``scale`` 4); x86's
    ``(%eax,%esi,4)`` has ``scale`` 4 and ``shift`` 0.  ``symbol`` is set
    when the displacement is symbolic (``g@GOTOFF(%ebx)``, AArch64
    ``[x0, #:lo12:sym]``).
    """

    base: Register | None
    displacement: int = 0
    index: Register | None = None
    scale: int = 1
    shift: int = 0
    symbol: Symbol | None = None

    kind: ClassVar[Literal["memory"]] = "memory"


@dataclass(frozen=True, slots=True)
class Unparsed:
    """An operand that did not decode: the text and why."""

    text: str
    reason: str

    kind: ClassVar[Literal["unparsed"]] = "unparsed"


Location = Constant | Register | Memory | Symbol | Unparsed


def registers_of(location: Location) -> tuple[Register, ...]:
    """The registers a location reads, base first."""
    if isinstance(location, Register):
        return (location,)
    if isinstance(location, Memory):
        return tuple(r for r in (location.base, location.index) if r is not None)
    return ()
