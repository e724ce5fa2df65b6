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

from ..analysis import Verdict
from .decode import DecodedArgument, Flag, register_bits
from .location import Constant, Memory, Register, Symbol, Unparsed

CONSUMERS = ("libbpf", "bcc", "gdb")
BCC_SYMBOL_FAILS = (
    "bcc parses a symbol operand but then fails to generate the probe's argument "
    "readers, so the whole probe fails to attach"
)


_LIBBPF_ARCHES = {"x86_64", "i386", "s390x", "aarch64", "riscv64", "riscv32", "arm"}
_BCC_ARCHES = {"x86_64", "i386", "aarch64", "ppc64", "s390x", "loongarch64"}
_GDB_ARCHES = {"x86_64", "x32", "i386", "aarch64", "arm", "s390x", "s390", "ppc64", "ppc"}

_X86_LIBBPF_REGS = (
    {"rip", "eip"}
    | {f"{p}{r}" for r in ("ax", "bx", "cx", "dx") for p in ("r", "e", "")}
    | {f"{r}l" for r in "abcd"}
    | {f"{p}{r}" for r in ("si", "di", "bp", "sp") for p in ("r", "e", "")}
    | {f"{r}l" for r in ("si", "di", "bp", "sp")}
    | {f"r{n}{s}" for n in range(8, 16) for s in ("", "d", "w", "b")}
)
_X86_BCC_REGS = _X86_LIBBPF_REGS - {"eip"}
_ARM_LIBBPF_REGS = {f"r{n}" for n in range(11)} | {"fp", "ip", "sp", "lr", "pc"}
_RISCV_LIBBPF_REGS = (
    {"ra", "sp", "gp", "tp"}
    | {f"a{n}" for n in range(8)}
    | {f"s{n}" for n in range(12)}
    | {f"t{n}" for n in range(7)}
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
    if tool == "libbpf":
        return machine in _LIBBPF_ARCHES and bits == 64
    if tool == "bcc":
        return machine in _BCC_ARCHES
    if tool == "gdb":
        return machine in _GDB_ARCHES
    return False


def _common(decoded: DecodedArgument, arches: set[str], machine: str, tool: str) -> Verdict | None:
    if machine not in arches:
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
    early = _common(decoded, _LIBBPF_ARCHES, machine, "libbpf")
    if early is not None:
        return early
    if bits == 32 and not parser_only:
        return Verdict(False, "32-bit file: a 64-bit libbpf refuses 32-bit ELF files")
    size = _size_problem(decoded)
    if size is not None:
        return Verdict(False, f"{size} (libbpf requires a [-]1/2/4/8@ prefix)")
    location, operand = decoded.location, decoded.argument.operand.strip()
    if isinstance(location, Symbol) or (isinstance(location, Memory) and location.symbol):
        return Verdict(False, "symbol operands are not supported")
    if isinstance(location, Constant):
        return Verdict(True)
    registers = [location] if isinstance(location, Register) else []
    if isinstance(location, Memory):
        if location.base is None:
            return Verdict(False, "absolute memory operands are not supported")
        registers = [r for r in (location.base, location.index) if r is not None]
        if location.shift:
            return Verdict(False, "shifted index registers are not supported")
    allowed = _libbpf_registers(machine)
    for register in registers:
        if register.name not in allowed:
            return Verdict(False, f"register {register.name} is not in libbpf's table")
    if isinstance(location, Memory):
        if machine in ("x86_64", "i386"):
            if not _PLAIN_DISPLACEMENT.match(operand):
                return Verdict(False, "displacement is not a single integer")
            if location.index is not None:
                if version is not None and version < LIBBPF_SIB:
                    return Verdict(False, "scale-index-base operands are read from libbpf 1.7 on")
                return Verdict(True)
            if location.base is not None and location.base.canonical == "rip":
                return Verdict(True, "libbpf adds the probe address, not the next instruction's")
        elif location.index is not None:
            if machine == "arm":
                return Verdict(
                    False,
                    "libbpf's [reg] pattern matches the base alone, then reads [base] "
                    "without the index (and an unset length): a wrong value, no error",
                )
            return Verdict(False, "index registers are not supported on this architecture")
        if machine in ("aarch64", "s390x", "riscv64", "riscv32") and "#" in operand:
            return Verdict(False, "'#' before the offset is not accepted")
        if machine in ("s390x", "riscv64", "riscv32") and not re.match(r"\s*-?\d", operand):
            return Verdict(False, "libbpf requires an explicit displacement before '('")
    return Verdict(True, _wide_caveat(decoded))


def _libbpf_registers(machine: str) -> set[str]:
    if machine in ("x86_64", "i386"):
        return _X86_LIBBPF_REGS
    if machine == "aarch64":
        return {f"x{n}" for n in range(31)} | {"sp"}
    if machine == "arm":
        return _ARM_LIBBPF_REGS
    if machine == "s390x":
        return {f"r{n}" for n in range(16)}
    return _RISCV_LIBBPF_REGS


def bcc(decoded: DecodedArgument, machine: str, bits: int, elf_type: str | None) -> Verdict:
    """bcc's per-architecture ``ArgumentParser``s (x86-64, AArch64, ppc64, s390x, LoongArch)."""
    early = _common(decoded, _BCC_ARCHES, machine, "bcc")
    if early is not None:
        return early
    size = _size_problem(decoded)
    if size is not None and not (machine in ("x86_64", "i386") and decoded.assumed_size):
        return Verdict(False, f"{size} (bcc needs a 1/2/4/8 byte size)")
    location, operand = decoded.location, decoded.argument.operand.strip()
    if isinstance(location, Constant):
        return Verdict(True)
    if machine in ("x86_64", "i386"):
        return _bcc_x86(decoded, location, operand, elf_type)
    if isinstance(location, Symbol) or (isinstance(location, Memory) and location.symbol):
        return Verdict(False, "symbol operands are not supported")
    registers = [location] if isinstance(location, Register) else []
    if isinstance(location, Memory):
        registers = [r for r in (location.base, location.index) if r is not None]
        if location.shift:
            return Verdict(False, "shifted index registers are not supported")
    for register in registers:
        if not register.is_integer or not _bcc_register_ok(machine, register):
            return Verdict(False, f"register {register.name} is not understood by bcc")
    if isinstance(location, Memory):
        if machine == "loongarch64":
            return Verdict(False, "bcc expects [base, offset]; the compiler prints base,offset")
        if machine == "aarch64" and "#" in operand:
            return Verdict(False, "'#' before the offset is not accepted")
        if machine == "s390x" and location.index is not None:
            return Verdict(True, "bcc adds the index register unscaled, as the ISA does")
    return Verdict(True, _wide_caveat(decoded))


def _bcc_register_ok(machine: str, register: Register) -> bool:
    name = register.name
    if machine == "aarch64":
        return name == "sp" or re.fullmatch(r"x\d+", name) is not None
    if machine == "loongarch64":
        return name == "sp" or re.fullmatch(r"r\d+", name) is not None
    return register.register_class == "gpr"


def _bcc_x86(
    decoded: DecodedArgument, location: object, operand: str, elf_type: str | None
) -> Verdict:
    if isinstance(location, Register):
        if location.name not in _X86_BCC_REGS:
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
        for register in (location.base, location.index):
            if register is not None and register.name not in _X86_BCC_REGS:
                return Verdict(False, f"register %{register.name} is not in bcc's table")
        return Verdict(True)
    return Verdict(False, "operand not understood by bcc")


_GDB_DISPLACEMENT = re.compile(r"\s*(?:[-+]?\d+(?:[-+]\d+[-+]\d+)?)?\s*\(")


def gdb(decoded: DecodedArgument, machine: str, bits: int) -> Verdict:
    """GDB's generic SystemTap expression parser with each architecture's special tokens."""
    if machine not in _GDB_ARCHES:
        return Verdict(False, f"GDB has no SystemTap argument support for {machine}")
    if decoded.is_float:
        return Verdict(False, "GDB reads 'Nf@' as an expression and rejects it")
    if isinstance(decoded.location, Unparsed):
        return Verdict(False, f"operand not understood: {decoded.location.reason}")
    if not decoded.assumed_size and decoded.size not in (1, 2, 4, 8):
        if decoded.size < 10:
            return Verdict(False, "GDB warns and stops reading this probe's remaining arguments")
        return Verdict(False, f"GDB reads the {decoded.size}@ prefix as an expression")
    location, operand = decoded.location, decoded.argument.operand.strip()
    if isinstance(location, Symbol) or (isinstance(location, Memory) and location.symbol):
        return Verdict(False, "symbol operands are not supported")
    if isinstance(location, Memory):
        if location.base is None:
            return Verdict(False, "absolute memory operands are not supported")
        if machine in ("x86_64", "x32", "i386"):
            if not _GDB_DISPLACEMENT.match(operand):
                return Verdict(False, "only one or three displacement terms are understood")
            if location.base.canonical == "rip":
                return Verdict(True, "GDB adds the probe address, not the next instruction's")
        elif location.index is not None:
            return Verdict(False, "index registers are not supported on this architecture")
    caveat = _wide_caveat(decoded)
    if decoded.assumed_size:
        caveat = f"no size prefix: read as an unsigned {bits}-bit value"
    return Verdict(True, caveat)


# perf probe's x86 arch_sdt_arg_parse_op: a constant is skipped, and any operand
# that is not [+-]DISP(%REG) or %REG is skipped "silently" (a debug message).
_PERF_X86_OPERAND = re.compile(r"^[+-]?[0-9]*\(?%[a-z][a-z0-9]+\)?$")


def perf_converts(decoded: DecodedArgument, machine: str) -> bool:
    """Whether ``perf probe`` keeps the argument in the uprobe event it writes."""
    if machine not in ("x86_64", "i386"):
        return False
    operand = decoded.argument.operand.strip()
    return not operand.startswith("$") and _PERF_X86_OPERAND.match(operand) is not None


def perf(decoded: DecodedArgument, machine: str, bits: int) -> Verdict:
    """perf probe's SDT conversion (x86; other ports are not modelled)."""
    if machine not in ("x86_64", "i386"):
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
    if tool == "perf":
        return machine in ("x86_64", "i386")
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
