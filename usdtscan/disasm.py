"""What a disassembler knows better than a regular expression: the instruction at a site.

``sys/sdt.h`` places a ``nop`` at every probe site; the kernel's uprobe
replaces it with a breakpoint.  Checking that the note's address really
holds that ``nop`` catches a stale or mis-adjusted address before anyone
attaches to it.  capstone is imported only here and only when called, so
listing probes never pays for it.  LoongArch, which capstone's PyPI
release does not know, is checked against its one ``nop`` encoding.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .sitecheck import InstructionCheck, nop_encoding

if TYPE_CHECKING:
    from .model import CodeWindow, Site

# andi $r0, $r0, 0: the LoongArch nop, little-endian.
_LOONGARCH_NOP = bytes.fromhex("00004003")


@dataclass(frozen=True, slots=True)
class Instruction:
    address: int
    size: int
    text: str
    data: bytes


def _targets(machine: str, endian: str) -> list[tuple[str, int, int]]:
    """(mode label, capstone arch, capstone mode) to try, most likely first.

    The modes are each ABI's ``capstone`` in usdtscan/args/."""
    import capstone as cs

    from .args.registry import abi

    found = abi(machine)
    if found is None:
        return []
    order = cs.CS_MODE_LITTLE_ENDIAN if endian == "little" else cs.CS_MODE_BIG_ENDIAN
    targets = []
    for target in found.capstone:
        mode = order if target.byte_order else 0
        for name in target.modes:
            mode |= getattr(cs, f"CS_MODE_{name}")
        targets.append((target.label, getattr(cs, f"CS_ARCH_{target.arch}"), mode))
    return targets


@functools.cache
def _decoder(arch: int, mode: int, att: bool = True) -> Any:
    """One capstone handle per (arch, mode, syntax): making one costs more than a disassembly.

    x86 code is shown in AT&T syntax, the one the notes are written in,
    unless ``att`` is false (Mach-O's patched DOF sites read as Apple's tools
    print them)."""
    import capstone as cs

    decoder = cs.Cs(arch, mode)
    if arch == cs.CS_ARCH_X86 and att:
        decoder.syntax = cs.CS_OPT_SYNTAX_ATT
    return decoder


def instructions_text(
    machine: str, endian: str, code: bytes, address: int, att: bool = True
) -> str | None:
    """Every instruction of ``code`` as ``mnemonic operands``, joined by ``"; "``.

    None when capstone is not installed or has no decoder for ``machine``,
    or nothing decodes: a description, never a requirement."""
    try:
        targets = _targets(machine, endian)
    except ImportError:
        return None
    if not targets:
        return None
    _label, arch, mode = targets[0]
    decoder = _decoder(arch, mode, att)
    parts = [f"{i.mnemonic} {i.op_str}".strip() for i in decoder.disasm(code, address)]
    return "; ".join(parts) or None


def is_sdt_nop(machine: str, mnemonic: str, operands: str) -> bool:
    """Whether an instruction is what ``sys/sdt.h``'s ``nop`` assembles to on ``machine``.

    GAS assembles ``nop`` as ``bc 0,0`` on s390, as ``mov r0, r0`` for ARM
    cores without the NOP hint, and as ``c.nop`` when RISC-V compression is on.
    """
    mnemonic = mnemonic.lower()
    if mnemonic in ("nop", "c.nop"):
        return True
    ops = operands.replace(" ", "").lower()
    if machine in ("s390x", "s390"):
        return (mnemonic == "bc" and ops == "0,0") or (mnemonic == "bcr" and ops.startswith("0,"))
    if machine == "arm" and mnemonic in ("mov", "movs"):
        first, _, second = ops.partition(",")
        return first == second and first in ("r0", "r8")
    return False


def check_site(site: Site, machine: str, endian: str) -> InstructionCheck:
    """Disassemble the instruction at ``site`` and say whether it is the expected nop."""
    if site.code is None:
        return InstructionCheck(None, False, reason="no bytes for the site in this file")
    return disassemble_check(site.code, machine, endian)


def disassemble_check(window: CodeWindow, machine: str, endian: str) -> InstructionCheck:
    """What capstone says of the instruction at the window's site (the table's fallback)."""
    data = window.data[window.site_offset :]
    if machine.startswith("loongarch"):
        if data[:4] == _LOONGARCH_NOP:
            return InstructionCheck("nop", True, 4, "loongarch")
        return InstructionCheck(f".word {data[:4].hex()}", False, None, "loongarch", "not the nop")
    targets = _targets(machine, endian)
    if not targets:
        return InstructionCheck(None, False, reason=f"capstone has no decoder for {machine}")
    first: InstructionCheck | None = None
    for mode_name, arch, mode in targets:
        decoder = _decoder(arch, mode)
        instruction = next(decoder.disasm(data, window.address + window.site_offset, 1), None)
        if instruction is None:
            continue
        text = f"{instruction.mnemonic} {instruction.op_str}".strip()
        ok = is_sdt_nop(machine, instruction.mnemonic, instruction.op_str)
        encoding = nop_encoding(window, machine) if ok else None
        check = InstructionCheck(
            text, ok, instruction.size, mode_name, None if ok else "not a nop", encoding
        )
        if ok:
            return check
        if first is None:
            first = check
    return first or InstructionCheck(None, False, reason="the bytes at the site do not decode")


def disassemble_around(
    site: Site, machine: str, endian: str, before: int = 3, after: int = 3
) -> list[Instruction]:
    """A few instructions before and after the site.

    Variable-length x86 cannot be decoded backwards, so decoding starts at
    each byte of the window in turn and keeps the first start that lands
    exactly on the site; fixed-width architectures start on a boundary.
    """
    window = site.code
    if window is None:
        return []
    check = check_site(site, machine, endian)
    targets = [t for t in _targets(machine, endian) if check.mode in (None, t[0])]
    if not targets:
        return []
    _mode, arch, mode = targets[0]
    decoder = _decoder(arch, mode)
    site_address = window.address + window.site_offset
    for start in range(window.site_offset + 1):
        decoded = _decode_from(decoder, window, start)
        addresses = [i.address for i in decoded]
        if site_address in addresses:
            at = addresses.index(site_address)
            return decoded[max(0, at - before) : at + after + 1]
    return []


def _decode_from(decoder: Any, window: CodeWindow, start: int) -> list[Instruction]:
    out: list[Instruction] = []
    for ins in decoder.disasm(window.data[start:], window.address + start):
        text = f"{ins.mnemonic} {ins.op_str}".strip()
        out.append(Instruction(ins.address, ins.size, text, bytes(ins.bytes)))
    return out


def capstone_register_names(machine: str, endian: str) -> frozenset[str]:
    """Every register name capstone knows for ``machine`` (empty if it knows none)."""
    targets = _targets(machine, endian)
    if not targets:
        return frozenset()
    decoder = _decoder(targets[0][1], targets[0][2])
    names: set[str] = set()
    for number in range(1, 1024):
        name = decoder.reg_name(number)
        if name:
            names.add(name)
    return frozenset(names)
