"""Every architecture usdtscan decodes, and the lookups by name and ``e_machine``.

Adding an architecture is one module ``usdtscan/args/<arch>.py`` that
builds an :class:`~usdtscan.args.architecture.Architecture`, and one line
below.  The name of each ABI must be the one ``usdtscan.elf.machine_name``
gives its files (tests/test_registry.py holds the two together).
"""

from __future__ import annotations

from collections.abc import Mapping

from .aarch64 import AARCH64
from .architecture import KERNEL, Abi, Architecture
from .arm import ARM
from .loongarch import LOONGARCH
from .mips import MIPS
from .ppc import PPC
from .riscv import RISCV
from .s390 import S390
from .x86 import X86

ARCHITECTURES: tuple[Architecture, ...] = (
    X86,
    AARCH64,
    ARM,
    S390,
    PPC,
    RISCV,
    MIPS,
    LOONGARCH,
)

_BY_NAME: dict[str, tuple[Architecture, Abi]] = {
    abi.name: (architecture, abi) for architecture in ARCHITECTURES for abi in architecture.abis
}
_BY_E_MACHINE: dict[int, Architecture] = {
    abi.machine: architecture for architecture in ARCHITECTURES for abi in architecture.abis
}


def architecture(machine: str | int) -> Architecture | None:
    """The architecture of an ABI name (``x32``) or an ``e_machine`` number."""
    if isinstance(machine, int):
        return _BY_E_MACHINE.get(machine)
    found = _BY_NAME.get(machine)
    return None if found is None else found[0]


def abi(name: str) -> Abi | None:
    """The ABI usdtscan calls ``name`` (``x86_64``, ``mipsn32``), if it knows it."""
    found = _BY_NAME.get(name)
    return None if found is None else found[1]


def reads(tool: str, name: str) -> bool:
    """Whether ``tool`` (a reader of :mod:`~usdtscan.args.architecture`) reads this ABI."""
    found = _BY_NAME.get(name)
    return found is not None and tool in found[1].readers


def register_bits(machine: str | int, bits: int) -> int:
    """The width of a general-purpose register, for a file of class ``bits``.

    The ILP32 ABIs of 64-bit machines (x32, n32, AArch64 ILP32) have
    registers wider than their class; on any other the class stands.
    """
    found = _BY_NAME.get(machine) if isinstance(machine, str) else None
    if found is not None and found[1].register_bits > found[1].elf_bits:
        return found[1].register_bits
    return bits


def kernel_registers(name: str) -> Mapping[str, str] | None:
    """Canonical register to the kernel's ``pt_regs`` name, or None if uprobes cannot read it."""
    found = _BY_NAME.get(name)
    if found is None or KERNEL not in found[1].readers:
        return None
    architecture, abi = found
    return architecture.kernel_names(abi.register_bits)
