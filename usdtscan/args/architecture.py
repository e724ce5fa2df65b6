"""What usdtscan knows of one architecture, as one typed value per architecture.

libbpf's ``usdt.c`` keeps each architecture's register table and operand
parser in one block; here each ``usdtscan/args/<arch>.py`` builds one
:class:`Architecture` that holds all of it: the names and ``e_machine`` of
each of its ABIs, its register tables by width, ``parse`` and ``render``,
the kernel's ``pt_regs`` names, capstone's modes, and what libbpf, bcc,
GDB and perf accept of its operands.  :mod:`usdtscan.args.registry` lists
them; nothing else names an architecture's registers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from ..elf import Machine
from .common import RegisterTable
from .location import Location

# The tools whose reading of USDT arguments usdtscan models; "kernel" is the
# uprobe_events fetch-argument syntax.
LIBBPF = "libbpf"
BCC = "bcc"
GDB = "gdb"
PERF = "perf"
KERNEL = "kernel"

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class CapstoneMode:
    """One way capstone can decode the architecture's code.

    ``arch`` and ``modes`` name capstone's ``CS_ARCH_*`` and ``CS_MODE_*``
    constants without their prefix, so that describing a mode does not
    import capstone; ``byte_order`` says the file's byte order is added.
    ``label`` is what the site check reports as the mode.
    """

    label: str
    arch: str
    modes: tuple[str, ...]
    byte_order: bool = True


@dataclass(frozen=True, slots=True)
class CallConvention:
    """Where a call's integer arguments are at the call: DTrace's DOF gives a probe's
    argument types but no locations, since the probe is a call of the function
    ``dtrace -G`` or the Mach-O linker patches.

    ``registers`` hold the first arguments, in order; the rest are in
    ``slot``-byte stack slots above ``stack_pointer``, spelled in the ABI's
    assembler syntax (``att``: ``8(%rsp)``; else ``[sp, 8]``).
    """

    registers: tuple[str, ...]
    stack_pointer: str | None  # None: where the stacked arguments are is not modelled
    slot: int = 0
    att: bool = False

    def location(self, index: int) -> str | None:
        """Where argument ``index`` is, one slot per argument (true of the integer
        and pointer arguments that DTrace probes take)."""
        if index < len(self.registers):
            return self.registers[index]
        if self.stack_pointer is None:
            return None
        displacement = (index - len(self.registers)) * self.slot
        if self.att:
            return f"{displacement}({self.stack_pointer})"
        return f"[{self.stack_pointer}, {displacement}]"


@dataclass(frozen=True, slots=True)
class Abi:
    """One name a file of the architecture goes by, and what reads its arguments.

    ``name`` is the one users know (``uname -m``, Debian's multiarch stem)
    and usdtscan reports; ``elf_bits`` the ELF class and ``register_bits``
    the width of a general-purpose register, which differ for the ILP32
    ABIs of 64-bit machines (x32, n32, AArch64 ILP32).  ``readers`` are the
    tools (:data:`LIBBPF`, :data:`BCC`, :data:`GDB`, :data:`PERF`,
    :data:`KERNEL`) that read USDT arguments of this ABI at all.
    """

    name: str
    machine: Machine
    elf_bits: int
    register_bits: int
    readers: frozenset[str]
    capstone: tuple[CapstoneMode, ...] = ()
    # e_flags bits that tell this ABI from another of the same machine and
    # class (n32's EF_MIPS_ABI2); elf.machine_name applies them.
    e_flags: int = 0
    # Where DOF probe arguments are (the ABIs DTrace runs on); None: not known.
    call: CallConvention | None = None


@dataclass(frozen=True, slots=True)
class ConsumerRules:
    """What libbpf, bcc and GDB accept of this architecture's operands, beyond registers.

    The defaults are the common case; each architecture sets what its
    tools' own parsers do differently (docs/arguments.rst).
    """

    # libbpf's per-architecture register table (names as the operand spells them).
    libbpf_registers: frozenset[str] = frozenset()
    # bcc's register names; None: any general-purpose register of our table.
    bcc_registers: frozenset[str] | None = None
    # AT&T syntax: every tool has an x86 parser of its own (displacements,
    # %rip, scale-index-base operands).
    att: bool = False
    # Tools that refuse '#' before a memory offset.
    hash_offset_refused: frozenset[str] = frozenset()
    # libbpf's pattern needs a number before '(' (s390x, RISC-V).
    libbpf_needs_displacement: bool = False
    libbpf_index_refusal: str = "index registers are not supported on this architecture"
    # Why bcc refuses every memory operand, if it does.
    bcc_memory_refusal: str | None = None
    # bcc's caveat on an indexed memory operand it reads.
    bcc_index_caveat: str | None = None


def by_width(tables: Mapping[int, _T], bits: int) -> _T:
    """The entry for ``bits``; an architecture with one width has one entry for all."""
    found = tables.get(bits)
    if found is not None:
        return found
    return tables[min(tables)]


@dataclass(frozen=True, slots=True)
class Architecture:
    """One architecture: its ABIs, operand grammar, register names and consumers' rules.

    ``tables`` and ``kernel_registers`` are keyed by register width
    (:attr:`Abi.register_bits`): x32 reads the 64-bit table, i386 the
    32-bit one.  ``kernel_registers`` maps a canonical register to the name
    the kernel's ``regs_query_register_offset`` knows it by.
    """

    family: str
    abis: tuple[Abi, ...]
    tables: Mapping[int, RegisterTable]
    parse: Callable[[str, int], Location]
    render: Callable[[Location, int], str]
    kernel_registers: Mapping[int, Mapping[str, str]]
    consumers: ConsumerRules = ConsumerRules()

    def register_table(self, bits: int) -> RegisterTable:
        return by_width(self.tables, bits)

    def kernel_names(self, bits: int) -> Mapping[str, str]:
        return by_width(self.kernel_registers, bits)
