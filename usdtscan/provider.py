"""DTrace provider files (``.d``) against the probes a binary really has.

A provider file declares each probe with C types; ``dtrace -h`` turns it
into macros that pass the call site's expressions through unchanged, so a
note's sizes come from the call site, not from the declaration.  So a
declared probe missing from the binary, or called with another number of
arguments, is an error; a size or sign that disagrees with the declared
type for the file's ABI is a warning (the call site may pass an ``enum`` for
an ``int``, and the tracer then reads what the site passed).

The file is run through the C preprocessor first: provider files carry
their own ``#define`` types (PostgreSQL's ``#define Oid unsigned int``).
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

from .errors import UsdtscanError
from .model import Argument, Probe, ScannedFile, group_sites

# The targets whose plain ``char`` is unsigned (their psABIs).
_UNSIGNED_CHAR = {"aarch64", "aarch64_ilp32", "arm", "ppc", "ppc64", "s390", "s390x"}
_UNSIGNED_CHAR |= {"riscv32", "riscv64"}
# D's own fixed-width and pointer-sized names (the dtrace(1) type system).
_FIXED = {
    "int8_t": (1, True),
    "int16_t": (2, True),
    "int32_t": (4, True),
    "int64_t": (8, True),
    "uint8_t": (1, False),
    "uint16_t": (2, False),
    "uint32_t": (4, False),
    "uint64_t": (8, False),
    "_Bool": (1, False),
    "bool": (1, False),
}
_POINTER_SIZED = {"intptr_t": True, "ssize_t": True, "uintptr_t": False, "size_t": False}
_POINTER_SIZED |= {"ptrdiff_t": True, "off_t": True}
_C_WORDS = {"char", "short", "int", "long", "signed", "unsigned", "float", "double", "void"}
_QUALIFIERS = {"const", "volatile", "restrict", "struct", "union", "enum", "register"}
_PROVIDER = re.compile(r"\bprovider\s+([A-Za-z_]\w*)\s*\{(.*?)\}\s*;", re.S)
_PROBE = re.compile(r"\bprobe\s+([A-Za-z_]\w*)\s*\(([^)]*)\)\s*(?::[^;]*)?;", re.S)


class ProviderFileError(UsdtscanError):
    """The provider file cannot be read, preprocessed or understood."""


@dataclass(frozen=True, slots=True)
class DeclaredProbe:
    provider: str
    name: str
    types: tuple[str, ...]

    @property
    def probe_id(self) -> str:
        return f"{self.provider}:{self.name}"


@dataclass(frozen=True, slots=True)
class ArgumentType:
    """What a declared type is on one ABI: size in bytes, signedness, float-ness.

    ``size`` None: a type this module cannot size (a struct, a typedef the
    file does not define); it is then not compared.
    """

    text: str
    size: int | None
    signed: bool | None
    is_float: bool = False


def preprocess(path: str, cpp: str | None = None) -> str:
    """The file after ``cpp -P -undef``: no host macros (``linux``, ``unix``) leak in."""
    import shutil  # here, not at the top: it imports bz2 and lzma, and lint imports us

    program = cpp or shutil.which("cpp")
    if program is None:
        raise ProviderFileError(path, "the C preprocessor (cpp) is not installed")
    if not os.path.isfile(path):
        raise ProviderFileError(path, "no such provider file")
    try:
        done = subprocess.run(
            [program, "-P", "-undef", "-x", "c", path],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ProviderFileError(path, f"cpp failed: {exc}") from None
    if done.returncode != 0:
        first = (done.stderr.strip().splitlines() or ["no message"])[0]
        raise ProviderFileError(path, f"cpp failed: {first}")
    return done.stdout


def parse(text: str, path: str = "<provider>") -> list[DeclaredProbe]:
    """Every ``probe`` of every ``provider`` block of preprocessed D text."""
    probes = []
    for provider in _PROVIDER.finditer(text):
        for probe in _PROBE.finditer(provider.group(2)):
            arguments = probe.group(2).strip()
            types: tuple[str, ...] = ()
            if arguments and arguments != "void":
                types = tuple(" ".join(a.split()) for a in arguments.split(","))
            probes.append(DeclaredProbe(provider.group(1), probe.group(1), types))
    if not probes:
        raise ProviderFileError(path, "no 'provider NAME { probe ...; };' declaration")
    return probes


def read_provider_file(path: str, cpp: str | None = None) -> list[DeclaredProbe]:
    """The probes a DTrace provider file declares, after ``cpp -P -undef`` (``cpp``
    names another preprocessor); raises :class:`ProviderFileError`."""
    return parse(preprocess(path, cpp), path)


def argument_type(text: str, machine: str, bits: int) -> ArgumentType:
    """The size and sign of a declared C type on ``machine``'s ILP32/LP64 ABI."""
    pointer = bits // 8
    if "*" in text or "[" in text or text.strip() == "string":
        return ArgumentType(text, pointer, False)
    words = _type_words(text)
    if len(words) == 1 and words[0] in _FIXED:
        size, signed = _FIXED[words[0]]
        return ArgumentType(text, size, signed)
    if len(words) == 1 and words[0] in _POINTER_SIZED:
        return ArgumentType(text, pointer, _POINTER_SIZED[words[0]])
    if not words or any(w not in _C_WORDS for w in words):
        return ArgumentType(text, None, None)
    size, signed, is_float = _c_type(words, machine, pointer)
    return ArgumentType(text, size, signed, is_float)


def _type_words(text: str) -> list[str]:
    """The words that make the type: no qualifiers, no parameter name."""
    words = [w for w in re.findall(r"[A-Za-z_]\w*", text) if w not in _QUALIFIERS]
    if len(words) > 1 and words[-1] not in _C_WORDS and words[-2] in _C_WORDS | set(_FIXED):
        words = words[:-1]  # a parameter name: "int count"
    return words


def _c_type(words: Sequence[str], machine: str, pointer: int) -> tuple[int, bool, bool]:
    """Size, signedness and float-ness of a type spelt in C's own words only."""
    if "float" in words:
        return 4, True, True
    if "double" in words:
        return (16 if words.count("long") else 8), True, True
    unsigned = "unsigned" in words
    if "char" in words:  # plain char's sign is the ABI's
        return 1, "signed" in words or (not unsigned and machine not in _UNSIGNED_CHAR), False
    if "short" in words:
        size = 2
    elif words.count("long") >= 2:
        size = 8
    elif "long" in words:
        size = pointer
    else:
        size = 4  # int, signed, unsigned
    return size, not unsigned, False


@dataclass(frozen=True, slots=True)
class ProviderProblem:
    """One disagreement between the provider file and the binary, for the lint."""

    kind: str  # provider-missing, provider-arg-count, provider-arg-type, provider-undeclared
    probe: str
    message: str


def _shape(types: Sequence[Argument | ArgumentType]) -> str:
    """Sizes as the notes spell them (``-4``, ``8``, ``8f``); ``?`` for an unknown size."""
    return (
        " ".join(
            "?"
            if t.size is None
            else f"{'-' if t.signed else ''}{t.size}{'f' if t.is_float else ''}"
            for t in types
        )
        or "(none)"
    )


def compare(declared: Sequence[DeclaredProbe], scanned: ScannedFile) -> list[ProviderProblem]:
    """What the binary does differently from the declarations (in declaration order)."""
    machine, bits = scanned.machine or "", scanned.bits or 64
    probes = {p.probe_id: p for p in group_sites(scanned.sites)}
    problems: list[ProviderProblem] = []
    for probe in declared:
        problem = _declared_problem(probe, probes.get(probe.probe_id), machine, bits)
        if problem is not None:
            problems.append(problem)
    providers = {d.provider for d in declared}
    names = {d.probe_id for d in declared}
    for probe_id in probes:
        provider = probe_id.partition(":")[0]
        if provider in providers and probe_id not in names:
            problems.append(
                ProviderProblem(
                    "provider-undeclared",
                    probe_id,
                    f"{probe_id} is in the binary but not declared by the provider file",
                )
            )
    return problems


def _declared_problem(
    probe: DeclaredProbe, found: Probe | None, machine: str, bits: int
) -> ProviderProblem | None:
    """How the binary's probe differs from its declaration: absent, another argument
    count, or sizes and signs that the declared types do not have on this ABI."""
    count = len(probe.types)
    if found is None:
        return ProviderProblem(
            "provider-missing",
            probe.probe_id,
            f"{probe.probe_id} ({count} arguments) is declared but not in the binary",
        )
    counts = sorted({len(s.args) for s in found.sites})
    if counts != [count]:
        shown = " or ".join(map(str, counts))
        return ProviderProblem(
            "provider-arg-count",
            probe.probe_id,
            f"{probe.probe_id} is declared with {count} arguments, called with {shown}",
        )
    types = [argument_type(t, machine, bits) for t in probe.types]
    wrong = {
        number
        for site in found.sites
        for number, (argument, expected) in enumerate(zip(site.args, types, strict=True), 1)
        if _disagree(argument, expected)
    }
    if not wrong:
        return None
    numbers = ", ".join(f"arg{n} ({probe.types[n - 1]})" for n in sorted(wrong))
    sites = " | ".join(sorted({_shape(s.args) for s in found.sites}))
    return ProviderProblem(
        "provider-arg-type",
        probe.probe_id,
        f"{probe.probe_id}: {numbers} declared {_shape(types)} for "
        f"{machine} ELF{bits}, called with {sites}",
    )


def _disagree(argument: Argument, expected: ArgumentType) -> bool:
    """The site passes another size, sign or float-ness than declared (unknowns agree)."""
    if expected.size is None or argument.size is None:
        return False
    return (argument.size, bool(argument.signed), argument.is_float) != (
        expected.size,
        bool(expected.signed),
        expected.is_float,
    )
