"""Can libbpf, bcc and GDB read an argument, and if not, why.

The rules restate, as data about our decoded locations, what each tool's
own parser accepts (libbpf ``src/usdt.c`` ``parse_usdt_arg``, bcc
``src/cc/usdt/usdt_args.cc``, GDB ``gdb/stap-probe.c`` and the
``*_stap_*`` hooks of each ``*-tdep.c``); docs/arguments.rst lists them.
libbpf is what bpftrace 0.21 and later use.  Each tool parses only for the
architecture it was built for, so a verdict means "that tool, running on
the file's own architecture".  A verdict with ``ok`` true may still carry
a ``why``: a caveat, not a refusal.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..basetypes import Verdict
from .architecture import BCC, GDB, LIBBPF, PERF, ConsumerRules
from .decode import DecodedArgument, Flag
from .location import Constant, Location, Memory, Register, Symbol, Unparsed, registers_of
from .registry import architecture, reads, register_bits

CONSUMERS = ("libbpf", "bcc", "gdb")
BCC_SYMBOL_FAILS = (
    "bcc parses a symbol operand but then fails to generate the probe's argument "
    "readers, so the whole probe fails to attach"
)

_PLAIN_DISPLACEMENT = re.compile(r"\s*[-+]?\d*\s*\(")

CONSUMER_LABELS = {
    "libbpf": "libbpf (and bpftrace >= 0.24)",
    "bcc": "bcc (and bpftrace < 0.24)",
    "gdb": "GDB",
}


def supports(tool: str, machine: str, bits: int) -> bool:
    """Whether ``tool`` reads USDT arguments of this architecture at all.

    A finding about a binary must not restate a tool's missing port: the
    lint asks this before it reports an argument as unreadable.
    """
    if tool == LIBBPF:
        return reads(LIBBPF, machine) and bits == 64
    return tool in (BCC, GDB) and reads(tool, machine)


def _rules(machine: str) -> ConsumerRules:
    found = architecture(machine)
    return ConsumerRules() if found is None else found.consumers


def _common(decoded: DecodedArgument, machine: str, tool: str) -> Verdict | None:
    if not reads(tool, machine):
        return Verdict(False, f"{tool} has no USDT argument support for {machine}")
    if decoded.is_float:
        return Verdict(False, f"float argument ({decoded.argument.raw}): {tool} reads integers")
    if isinstance(decoded.location, Unparsed):
        return Verdict(False, f"operand not understood: {decoded.location.reason}")
    return None


def _size_problem(decoded: DecodedArgument) -> str | None:
    if decoded.assumed_size:
        return "no size prefix"
    if decoded.size not in (1, 2, 4, 8):
        return f"size {decoded.size} is not 1, 2, 4 or 8"
    return None


def _wide_caveat(decoded: DecodedArgument) -> str | None:
    location = decoded.location
    if isinstance(location, Register) and Flag.WIDER_THAN_REGISTER in decoded.flags:
        return f"reads all of {location.canonical}, beyond the {location.name} the operand names"
    return None


def _has_symbol(location: Location) -> bool:
    return isinstance(location, Symbol) or (isinstance(location, Memory) and bool(location.symbol))


# libbpf 1.7 (kernel commit 758acb9ccfdb, 2025) reads x86 scale-index-base operands.
LIBBPF_SIB = (1, 7)


def libbpf(
    decoded: DecodedArgument,
    machine: str,
    bits: int,
    version: tuple[int, int] | None = None,
    parser_only: bool = False,
) -> Verdict:
    """libbpf's ``parse_usdt_arg``: constants, registers, ``reg+offset`` memory (and x86 SIB).

    ``version`` None means the newest libbpf; ``parser_only`` leaves out the
    refusal of 32-bit ELF files (made before any argument is parsed), for the
    comparison with the parser itself.
    """
    early = _common(decoded, machine, LIBBPF)
    if early is not None:
        return early
    if bits == 32 and not parser_only:
        return Verdict(False, "32-bit file: a 64-bit libbpf refuses 32-bit ELF files")
    size = _size_problem(decoded)
    if size is not None:
        return Verdict(False, f"{size} (libbpf requires a [-]1/2/4/8@ prefix)")
    location = decoded.location
    if _has_symbol(location):
        return Verdict(False, "symbol operands are not supported")
    if isinstance(location, Constant):
        return Verdict(True)
    rules = _rules(machine)
    if isinstance(location, Memory):
        memory = _libbpf_memory(location, decoded.argument.operand.strip(), rules, version)
        if memory is not None:
            return memory
    elif isinstance(location, Register) and location.name not in rules.libbpf_registers:
        return Verdict(False, f"register {location.name} is not in libbpf's table")
    return Verdict(True, _wide_caveat(decoded))


def _libbpf_memory(
    location: Memory, operand: str, rules: ConsumerRules, version: tuple[int, int] | None
) -> Verdict | None:
    """libbpf's verdict on a memory operand; None: read as usual."""
    if location.base is None:
        return Verdict(False, "absolute memory operands are not supported")
    if location.shift:
        return Verdict(False, "shifted index registers are not supported")
    for register in registers_of(location):
        if register.name not in rules.libbpf_registers:
            return Verdict(False, f"register {register.name} is not in libbpf's table")
    if rules.att:
        return _libbpf_att_memory(location, operand, version)
    if location.index is not None:
        return Verdict(False, rules.libbpf_index_refusal)
    if LIBBPF in rules.hash_offset_refused and "#" in operand:
        return Verdict(False, "'#' before the offset is not accepted")
    if rules.libbpf_needs_displacement and not re.match(r"\s*-?\d", operand):
        return Verdict(False, "libbpf requires an explicit displacement before '('")
    return None


def _libbpf_att_memory(
    location: Memory, operand: str, version: tuple[int, int] | None
) -> Verdict | None:
    """libbpf's own x86 parser: one integer displacement, SIB from 1.7, %rip."""
    if not _PLAIN_DISPLACEMENT.match(operand):
        return Verdict(False, "displacement is not a single integer")
    if location.index is not None:
        if version is not None and version < LIBBPF_SIB:
            return Verdict(False, "scale-index-base operands are read from libbpf 1.7 on")
        return Verdict(True)
    if location.base is not None and location.base.canonical == "rip":
        return Verdict(True, "libbpf adds the probe address, not the next instruction's")
    return None


def bcc(decoded: DecodedArgument, machine: str, bits: int, elf_type: str | None) -> Verdict:
    """bcc's per-architecture ``ArgumentParser``s (x86-64, AArch64, ppc64, s390x, LoongArch)."""
    early = _common(decoded, machine, BCC)
    if early is not None:
        return early
    rules = _rules(machine)
    size = _size_problem(decoded)
    if size is not None and not (rules.att and decoded.assumed_size):
        return Verdict(False, f"{size} (bcc needs a 1/2/4/8 byte size)")
    location, operand = decoded.location, decoded.argument.operand.strip()
    if isinstance(location, Constant):
        return Verdict(True)
    if rules.att:
        return _bcc_x86(decoded, location, operand, rules)
    if _has_symbol(location):
        return Verdict(False, "symbol operands are not supported")
    if isinstance(location, Memory) and location.shift:
        return Verdict(False, "shifted index registers are not supported")
    for register in registers_of(location):
        if not register.is_integer or not _bcc_knows(rules, register):
            return Verdict(False, f"register {register.name} is not understood by bcc")
    if isinstance(location, Memory):
        memory = _bcc_memory(location, operand, rules)
        if memory is not None:
            return memory
    return Verdict(True, _wide_caveat(decoded))


def _bcc_memory(location: Memory, operand: str, rules: ConsumerRules) -> Verdict | None:
    """bcc's verdict on a memory operand whose registers it knows; None: read as usual."""
    if rules.bcc_memory_refusal is not None:
        return Verdict(False, rules.bcc_memory_refusal)
    if BCC in rules.hash_offset_refused and "#" in operand:
        return Verdict(False, "'#' before the offset is not accepted")
    if rules.bcc_index_caveat is not None and location.index is not None:
        return Verdict(True, rules.bcc_index_caveat)
    return None


def _bcc_knows(rules: ConsumerRules, register: Register) -> bool:
    if rules.bcc_registers is None:
        return register.register_class == "gpr"
    return register.name in rules.bcc_registers


def _bcc_x86(
    decoded: DecodedArgument, location: Location, operand: str, rules: ConsumerRules
) -> Verdict:
    known = rules.bcc_registers or frozenset()
    if isinstance(location, Register):
        if location.name not in known:
            return Verdict(False, f"register %{location.name} is not in bcc's table")
        return Verdict(True, _wide_caveat(decoded))
    if isinstance(location, Symbol):
        if not location.pc_relative:
            return Verdict(False, "a bare symbol operand is not supported")
        if location.relocation:
            return Verdict(False, f"@{location.relocation} is not supported")
        # bcc 0.26 parses sym(%rip) but then fails to build the probe's argument
        # readers (bcc_usdt_genargs returns NULL) in executables, PIEs and with a
        # pid alike: tests/test_attach.py runs bcc's own trace on fx:globals.
        return Verdict(False, BCC_SYMBOL_FAILS)
    if isinstance(location, Memory):
        if location.symbol is not None:
            return Verdict(False, "symbol displacements need a %rip base in bcc")
        if location.base is None:
            return Verdict(False, "absolute memory operands are not supported")
        if not _PLAIN_DISPLACEMENT.match(operand):
            return Verdict(False, "displacement is not a single integer")
        for register in registers_of(location):
            if register.name not in known:
                return Verdict(False, f"register %{register.name} is not in bcc's table")
        return Verdict(True)
    return Verdict(False, "operand not understood by bcc")


_GDB_DISPLACEMENT = re.compile(r"\s*(?:[-+]?\d+(?:[-+]\d+[-+]\d+)?)?\s*\(")


def gdb(decoded: DecodedArgument, machine: str, bits: int) -> Verdict:
    """GDB's generic SystemTap expression parser with each architecture's special tokens."""
    if not reads(GDB, machine):
        return Verdict(False, f"GDB has no SystemTap argument support for {machine}")
    if decoded.is_float:
        return Verdict(False, "GDB reads 'Nf@' as an expression and rejects it")
    if isinstance(decoded.location, Unparsed):
        return Verdict(False, f"operand not understood: {decoded.location.reason}")
    if not decoded.assumed_size and decoded.size not in (1, 2, 4, 8):
        if decoded.size < 10:
            return Verdict(False, "GDB warns and stops reading this probe's remaining arguments")
        return Verdict(False, f"GDB reads the {decoded.size}@ prefix as an expression")
    location = decoded.location
    if _has_symbol(location):
        return Verdict(False, "symbol operands are not supported")
    if isinstance(location, Memory):
        memory = _gdb_memory(location, decoded.argument.operand.strip(), _rules(machine))
        if memory is not None:
            return memory
    caveat = _wide_caveat(decoded)
    if decoded.assumed_size:
        caveat = f"no size prefix: read as an unsigned {bits}-bit value"
    return Verdict(True, caveat)


def _gdb_memory(location: Memory, operand: str, rules: ConsumerRules) -> Verdict | None:
    """GDB's verdict on a memory operand; None: read as usual."""
    if location.base is None:
        return Verdict(False, "absolute memory operands are not supported")
    if rules.att:
        if not _GDB_DISPLACEMENT.match(operand):
            return Verdict(False, "only one or three displacement terms are understood")
        if location.base.canonical == "rip":
            return Verdict(True, "GDB adds the probe address, not the next instruction's")
    elif location.index is not None:
        return Verdict(False, "index registers are not supported on this architecture")
    return None


# perf probe's x86 arch_sdt_arg_parse_op: a constant is skipped, and any operand
# that is not [+-]DISP(%REG) or %REG is skipped "silently" (a debug message).
_PERF_X86_OPERAND = re.compile(r"^[+-]?[0-9]*\(?%[a-z][a-z0-9]+\)?$")


def perf_converts(decoded: DecodedArgument, machine: str) -> bool:
    """Whether ``perf probe`` keeps the argument in the uprobe event it writes."""
    if not reads(PERF, machine):
        return False
    operand = decoded.argument.operand.strip()
    return not operand.startswith("$") and _PERF_X86_OPERAND.match(operand) is not None


def perf(decoded: DecodedArgument, machine: str, bits: int) -> Verdict:
    """perf probe's SDT conversion (x86; other ports are not modelled)."""
    if not reads(PERF, machine):
        return Verdict(False, f"perf's SDT argument conversion for {machine} is not modelled")
    if not perf_converts(decoded, machine):
        if decoded.argument.operand.strip().startswith("$"):
            return Verdict(False, "perf drops it: uprobe events cannot fetch a constant")
        return Verdict(False, "perf drops it: not a %reg or disp(%reg) operand")
    if decoded.is_float:
        return Verdict(False, "perf reads the float's bits as an unsigned integer")
    return Verdict(True)


VERSIONED = ("libbpf<1.7", "libbpf>=1.7", "bpftrace<0.24", "bpftrace>=0.24", "bcc", "perf", "gdb")
VERSIONED_LABELS = {
    "libbpf<1.7": "libbpf < 1.7",
    "libbpf>=1.7": "libbpf >= 1.7",
    "bpftrace<0.24": "bpftrace < 0.24",
    "bpftrace>=0.24": "bpftrace >= 0.24",
    "bcc": "bcc",
    "perf": "perf probe",
    "gdb": "GDB",
}
# What each range runs: bpftrace before 0.24 parses with bcc, from 0.24 (PR #4217)
# it attaches through libbpf.
_BASE_TOOL = {
    "libbpf<1.7": "libbpf",
    "libbpf>=1.7": "libbpf",
    "bpftrace<0.24": "bcc",
    "bpftrace>=0.24": "libbpf",
    "bcc": "bcc",
    "perf": "perf",
    "gdb": "gdb",
}
# A probe with one such argument fails to attach at all.
WHOLE_PROBE = frozenset({"libbpf<1.7", "libbpf>=1.7", "bpftrace>=0.24"})


def versioned_supports(key: str, machine: str, bits: int) -> bool:
    tool = _BASE_TOOL[key]
    if tool == PERF:
        return reads(PERF, machine)
    return supports(tool, machine, bits)


def versioned_verdicts(
    decoded: DecodedArgument, machine: str, bits: int, elf_type: str | None = None
) -> dict[str, Verdict]:
    """The verdict of each consumer and version range on one argument."""
    older = libbpf(decoded, machine, bits, version=(LIBBPF_SIB[0], LIBBPF_SIB[1] - 1))
    newest = libbpf(decoded, machine, bits)
    by_bcc = bcc(decoded, machine, bits, elf_type)
    result = {
        "libbpf<1.7": older,
        "libbpf>=1.7": newest,
        "bpftrace<0.24": by_bcc,
        "bpftrace>=0.24": newest,
        "bcc": by_bcc,
        "perf": perf(decoded, machine, bits),
        "gdb": gdb(decoded, machine, bits),
    }
    pair = register_pair(decoded, machine, bits)
    if pair is not None:
        result = {k: Verdict(False, pair) if v.ok else v for k, v in result.items()}
    return result


def probe_sentence(keys: Sequence[str], probe_id: str, number: int, why: str) -> str:
    """The whole-probe consequence of argument ``number`` being unreadable by ``keys``
    (consumer ranges of one kind: all of WHOLE_PROBE, or one other)."""
    label = ", ".join(VERSIONED_LABELS[key] for key in keys)
    key = keys[0]
    if key in WHOLE_PROBE:
        return f"{label} will refuse to attach {probe_id}: argument {number}: {why}"
    if key in ("bcc", "bpftrace<0.24"):
        return f"{label} cannot read argument {number} of {probe_id} (nor any after it): {why}"
    if key == "perf" and "perf drops it" in why:
        return f"{label} adds {probe_id} without argument {number}: {why}"
    if key == "perf":
        return f"{label} misreads argument {number} of {probe_id}: {why}"
    return f"{label} cannot evaluate argument {number} of {probe_id}: {why}"


def sentence_class(key: str) -> str:
    """Ranges whose refusals read alike, so that one sentence names them together."""
    if key in WHOLE_PROBE:
        return "attach"
    if key in ("bcc", "bpftrace<0.24"):
        return "bcc"
    return key


def register_pair(decoded: DecodedArgument, machine: str, bits: int) -> str | None:
    """Why an argument wider than a whole register of the target is unreadable, or None.

    On a 32-bit target an 8-byte value lives in two registers and the
    operand names one (``-8@%eax``, ``-8@r2``, ``8@$6``).  Every tool reads
    that register alone and so gets one half of the value (the live tests
    show the low half on i386 and ARM, the high half on big-endian MIPS).
    """
    location = decoded.location
    if (
        isinstance(location, Register)
        and Flag.WIDER_THAN_REGISTER in decoded.flags
        and location.width_bits >= register_bits(machine, bits)
    ):
        return (
            f"{decoded.size}-byte value in a register pair, of which the operand names only "
            f"{location.name}: the tool reads {location.name} alone, one half of the value"
        )
    return None


def verdicts(
    decoded: DecodedArgument, machine: str, bits: int, elf_type: str | None = None
) -> dict[str, Verdict]:
    result = {
        "libbpf": libbpf(decoded, machine, bits),
        "bcc": bcc(decoded, machine, bits, elf_type),
        "gdb": gdb(decoded, machine, bits),
    }
    pair = register_pair(decoded, machine, bits)
    if pair is not None:
        result = {k: Verdict(False, pair) if v.ok else v for k, v in result.items()}
    return result


def probe_verdicts(
    sites: Sequence[Sequence[DecodedArgument]],
    machine: str,
    bits: int,
    elf_type: str | None = None,
) -> dict[str, Verdict]:
    """A probe is readable by a tool when every argument of every site is."""
    result: dict[str, Verdict] = {}
    for tool in CONSUMERS:
        verdict = Verdict(True)
        for site_number, arguments in enumerate(sites, 1):
            for number, argument in enumerate(arguments, 1):
                one = verdicts(argument, machine, bits, elf_type)[tool]
                if not one.ok:
                    where = f"site {site_number} " if len(sites) > 1 else ""
                    verdict = Verdict(False, f"{where}arg{number}: {one.why}")
                    break
            if not verdict.ok:
                break
        result[tool] = verdict
    return result
