"""Is the instruction at a site the ``nop`` that ``sys/sdt.h`` emits?

``sys/sdt.h`` places one ``nop`` at every probe site and the kernel's uprobe
replaces it with a breakpoint; a site whose bytes are something else has a
stale or mis-adjusted address.  Each architecture's assembler turns that
``nop`` into one of very few encodings, so the check is a table lookup:
:data:`SDT_NOPS` lists them, with the text capstone gives each.  Only bytes
the table does not know go to capstone (:mod:`usdtscan.disasm`), so a
listing never imports it for an ordinary file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .model import CodeWindow


@dataclass(frozen=True, slots=True)
class InstructionCheck:
    """The instruction at a site and whether it is the ``nop`` that ``sys/sdt.h`` emits.

    ``instruction`` is None when the file holds no bytes for the site or
    they do not decode; ``mode`` names the decoder that matched (``thumb``
    or ``arm`` on 32-bit ARM); ``reason`` says why ``ok`` is false.
    """

    instruction: str | None
    ok: bool
    size: int | None = None
    mode: str | None = None
    reason: str | None = None
    encoding: str | None = None
    """On x86, which probe nop: ``nop``, ``nop; nop5`` or ``nop; nop10`` (see nop_encoding)."""


_NOP5 = bytes.fromhex("0f1f440000")
_NOP10 = bytes.fromhex("662e0f1f840000000000")
X86_NOP_ENCODINGS = ("nop", "nop; nop5", "nop; nop10")


def nop_encoding(window: CodeWindow | None, machine: str) -> str | None:
    """``nop``, ``nop; nop5`` or ``nop; nop10`` for an x86 site, None if it is no nop.

    sys/sdt.h emits one ``nop``; libbpf's usdt.h followed it with a 5-byte
    nop (so that the kernel can turn the uprobe into a call; Feb-May 2026,
    reverted for the red zone), then since July 2026 with a 10-byte one.
    The note's pc points at the first ``nop`` in every form.
    """
    if window is None or machine not in ("x86_64", "x32", "i386"):
        return None
    at = window.site_offset
    if not window.data.startswith(b"\x90", at):
        return None
    if window.data.startswith(_NOP10, at + 1):
        return "nop; nop10"
    if window.data.startswith(_NOP5, at + 1):
        return "nop; nop5"
    return "nop"


_X86_64 = ((b"\x90", "nop", "x86-64"),)
_MIPS = ((b"\x00\x00\x00\x00", "nop", "mips"),)
_MIPS64 = ((b"\x00\x00\x00\x00", "nop", "mips64"),)

# (machine, byte order) -> (encoding, capstone's text for it, decoder mode).
# GAS assembles sdt.h's ``nop`` as: x86 0x90; AArch64 ``hint #0``; Thumb-2
# ``nop.n`` or, for cores without the hint, ``movs r0, r0`` (0x0000); ARM
# ``nop`` or ``mov r0, r0``; s390 ``bc 0,0``; PowerPC ``ori 0,0,0``; RISC-V
# ``c.nop`` (compressed) or ``addi x0,x0,0``; MIPS ``sll $0,$0,0``;
# LoongArch ``andi $r0,$r0,0``.  Thumb is tried before ARM, as the disassembler
# fallback does, so a 0x0000 prefix is Thumb's ``movs``.
SDT_NOPS: dict[tuple[str, str], tuple[tuple[bytes, str, str], ...]] = {
    ("x86_64", "little"): _X86_64,
    ("x32", "little"): _X86_64,
    ("i386", "little"): ((b"\x90", "nop", "i386"),),
    ("aarch64", "little"): ((bytes.fromhex("1f2003d5"), "nop", "aarch64"),),
    ("arm", "little"): (
        (bytes.fromhex("00bf"), "nop", "thumb"),
        (bytes.fromhex("0000"), "movs r0, r0", "thumb"),
        (bytes.fromhex("00f020e3"), "nop", "arm"),
    ),
    ("s390x", "big"): ((bytes.fromhex("47000000"), "bc 0, 0", "s390x"),),
    ("s390", "big"): ((bytes.fromhex("47000000"), "bc 0, 0", "s390"),),
    ("ppc64", "big"): ((bytes.fromhex("60000000"), "nop", "ppc64"),),
    ("ppc64", "little"): ((bytes.fromhex("00000060"), "nop", "ppc64"),),
    ("ppc", "big"): ((bytes.fromhex("60000000"), "nop", "ppc"),),
    ("riscv64", "little"): (
        (bytes.fromhex("0100"), "c.nop", "riscv64"),
        (bytes.fromhex("13000000"), "nop", "riscv64"),
    ),
    ("riscv32", "little"): (
        (bytes.fromhex("0100"), "c.nop", "riscv32"),
        (bytes.fromhex("13000000"), "nop", "riscv32"),
    ),
    ("mips", "big"): _MIPS,
    ("mips", "little"): _MIPS,
    ("mips64", "big"): _MIPS64,
    ("mips64", "little"): _MIPS64,
    ("loongarch64", "little"): ((bytes.fromhex("00004003"), "nop", "loongarch"),),
    ("loongarch32", "little"): ((bytes.fromhex("00004003"), "nop", "loongarch"),),
}


def check_by_table(window: CodeWindow | None, machine: str, endian: str) -> InstructionCheck | None:
    """Check the bytes at a site by the table alone; None when it does not know them.

    The caller (:func:`usdtscan.analysis.check_site_bytes`) then asks capstone,
    which is imported only for those bytes, and never by this module: that keeps
    ``disasm``, which builds on this table, from being imported back.
    """
    if window is None:
        return InstructionCheck(None, False, reason="no bytes for the site in this file")
    at = window.site_offset
    for pattern, text, mode in SDT_NOPS.get((machine, endian), ()):
        if window.data.startswith(pattern, at):
            encoding = nop_encoding(window, machine)
            return InstructionCheck(text, True, len(pattern), mode, encoding=encoding)
    return None
