"""How to name each probe for each tracer: the one home of every tool's spelling and quoting.

Users lose time on the step after listing: perf wants ``sdt_PROVIDER:NAME``
after ``perf buildid-cache --add``, bcc wants an absolute path
(bcc#3863), libbpf wants ``SEC("usdt/PATH:PROVIDER:NAME")``.  Each rule
below is what the real tool accepted or refused in tests/test_attach.py
(bpftrace 0.17, bcc 0.26, libbpf 1.1, perf 6.1, SystemTap 4.8, GDB 13):

* bpftrace splits its attach point on ``:`` even inside quotes, so a path
  holding one cannot be named; other unusual paths are double-quoted.
* bcc's ``trace`` splits its probe on ``:`` and ends it at a blank or ``(``;
  a name that two providers of the file share needs ``u:PATH:PROVIDER:NAME``;
  a probe with a semaphore is enabled only for a process (``-p PID``); a
  symbol operand fails the whole probe, where a float is merely unreadable.
* libbpf's section parser is ``sscanf("usdt/%m[^:]:%m[^:]:%m[^:]")``, and
  libbpf parses every argument when it attaches: one it cannot read makes
  the whole probe fail (the consumer verdicts of :mod:`usdtscan.args.consumers`).
* ``perf buildid-cache --add`` refuses a file without a build ID, and perf
  probe adds no ``sdt_`` event of a file where one provider or name is not
  a C identifier (:mod:`usdtscan.names`).
* Tools that attach through uprobes need a linked file (not ``ET_REL``) with
  the site in a loadable segment, and an ELF file: DOF in Mach-O is DTrace's.

With a PID the specs become the commands that trace that one process; a
process in another mount namespace (a container) is reached through
``/proc/PID/root``.
"""

from __future__ import annotations

import functools
import os
import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .args.location import Memory, Symbol
from .basetypes import SiteKind
from .names import bpftrace_field

if TYPE_CHECKING:
    from .analysis import ProbeReport, SiteReport
    from .model import ScannedFile

TOOLS = ("bpftrace", "bcc", "libbpf", "perf", "stap", "gdb")
DOF_TOOL = "dtrace"
#: The consumer verdict (usdtscan.args.consumers) of the libbpf releases that read
#: less than the newest: a caveat on the libbpf spec where only they fail.
OLD_LIBBPF = "libbpf<1.7"


@dataclass(frozen=True, slots=True)
class AttachSpec:
    """What to paste into one tool for one probe, or why that tool cannot attach.

    ``spec`` is None exactly when the tool cannot attach; ``why`` then says
    why.  With a spec, ``why`` is a caveat (a semaphore that needs a PID).
    """

    tool: str
    spec: str | None
    why: str | None = None

    @property
    def ok(self) -> bool:
        return self.spec is not None


@dataclass(frozen=True, slots=True)
class AttachTarget:
    """The file as the tools must name it, and the process, if one is traced.

    ``path`` is absolute; ``has_build_id`` is None when it is not known.
    """

    path: str
    pid: int | None = None
    has_build_id: bool | None = None


# The file's path is quoted again for every probe of the file: the quoting of
# each field is cached (a few hundred, so names that come once cost little).
@functools.lru_cache(maxsize=256)
def stap_string(text: str) -> str:
    """A SystemTap string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def c_string(text: str) -> str:
    """A C string literal: backslash, quote and every non-printable byte escaped."""
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return f'"{text}"'  # the common case, without the walk over every byte
    out = []
    for byte in text.encode("utf-8", "surrogateescape"):
        char = chr(byte)
        if char in '"\\':
            out.append("\\" + char)
        elif 0x20 <= byte < 0x7F:
            out.append(char)
        else:
            out.append(f"\\{byte:03o}")
    return '"' + "".join(out) + '"'


def bpftrace_probe(path: str, provider: str, name: str) -> AttachSpec:
    parts = [bpftrace_field(path), bpftrace_field(provider), bpftrace_field(name)]
    if None in parts:
        return AttachSpec(
            "bpftrace",
            None,
            "bpftrace splits the attach point on ':' (even quoted) and cannot name "
            "this path or name; attach through a symlink without ':' or '\"'",
        )
    return AttachSpec("bpftrace", "usdt:" + ":".join(p for p in parts if p is not None))


def bcc_probe(path: str, provider: str, name: str, name_shared: bool) -> AttachSpec:
    blocked = [c for c in ":() \t\n" if c in path]
    if blocked or any(c in provider + name for c in ":() \t\n"):
        return AttachSpec(
            "bcc",
            None,
            "bcc's trace and argdist split the probe on ':' and end it at a blank or '(': "
            "attach through a symlink with a plain path",
        )
    probe = f"{provider}:{name}" if name_shared else name
    return AttachSpec("bcc", f"u:{path}:{probe}")


def libbpf_section(path: str, provider: str, name: str) -> AttachSpec:
    if any(":" in part for part in (path, provider, name)):
        return AttachSpec(
            "libbpf",
            None,
            "libbpf's SEC(\"usdt/PATH:PROVIDER:NAME\") parser splits on ':'; call "
            "bpf_program__attach_usdt() with the path instead",
        )
    return AttachSpec("libbpf", f"SEC({c_string(f'usdt/{path}:{provider}:{name}')})")


def perf_commands(path: str, provider: str, name: str) -> str:
    quoted = shlex.quote(path)
    return (
        f"perf buildid-cache --add {quoted} && "
        f"perf probe -x {quoted} {shlex.quote(f'sdt_{provider}:{name}')}"
    )


def stap_probe(path: str, provider: str, name: str, name_shared: bool) -> str:
    where = f"process({stap_string(path)})"
    if name_shared:
        where += f".provider({stap_string(provider)})"
    return f"{where}.mark({stap_string(name)})"


def gdb_command(provider: str, name: str) -> str:
    return f"break -probe-stap {provider}:{name}"


def dtrace_probe(provider: str, module: str, name: str, pid: int | None) -> str:
    """DTrace names a USDT provider per process: ``PROVIDERPID``; ``*`` matches every one."""
    return f"{provider}{'*' if pid is None else pid}:{module}::{name}"


# -- when no tool can attach ----------------------------------------------------------


_DOF_IN_ELF = "a DOF probe (.SUNW_dof): this tool reads only .note.stapsdt notes"


def _structural_refusal(probe: ProbeFacts, scanned: ScannedFile) -> str | None:
    """Why no uprobe-based tool can attach to any site of the probe, or None."""
    if scanned.member_of is not None:
        return "a member of a package or image: extract it, then attach to the file"
    if scanned.format == "macho":
        return "a Mach-O file: only DTrace (on macOS) attaches to its DOF probes"
    if scanned.format != "elf":
        return "not an ELF file"
    if scanned.elf_type == "REL":
        return (
            "an unlinked object file (ET_REL): its probes can be attached once it is "
            "linked into an executable or shared library"
        )
    if SiteKind.STAPSDT not in probe.kinds:
        return _DOF_IN_ELF
    if not probe.has_offset:
        return (
            "no loadable segment holds the site (a separate debug file?): attach to the "
            "binary the notes describe"
        )
    return None


class ProbeFacts:
    """What the specs need to know of a probe's sites, gathered one site at a time
    (a streamed ``--json`` keeps no sites): their kinds, whether one has a file
    offset or a semaphore, and the first argument that stops a tool attaching.

    libbpf parses every argument of every site when it attaches, so any
    argument it refuses fails the attach.  bcc skips arguments it cannot
    parse (floats) but fails the whole probe on a symbol operand; that is
    tested on x86-64, where bcc's parser accepts symbol operands (elsewhere
    it rejects them while parsing, as it does floats).
    """

    __slots__ = ("has_offset", "kinds", "name", "provider", "refusals", "semaphore", "sites")

    def __init__(self, provider: str, name: str) -> None:
        self.provider = provider
        self.name = name
        self.kinds: set[SiteKind] = set()
        self.has_offset = False
        self.semaphore = False
        self.refusals: dict[str, str] = {}
        self.sites = 0

    @classmethod
    def of(cls, probe: ProbeReport, machine: str | None) -> ProbeFacts:
        facts = cls(probe.provider, probe.name)
        for site in probe.sites:
            facts.add(site, machine)
        return facts

    @classmethod
    def plain(cls, provider: str, name: str, sites: int) -> ProbeFacts:
        """The facts of ``sites`` stapsdt sites that are all :attr:`is_plain`: what a
        streamed file, which keeps facts only for the other probes, assumes."""
        facts = cls(provider, name)
        if sites:
            facts.kinds.add(SiteKind.STAPSDT)
            facts.has_offset = True
        facts.sites = sites
        return facts

    @property
    def is_plain(self) -> bool:
        """Stapsdt sites with a file offset and no semaphore, every argument readable
        by libbpf and bcc: the facts of nearly every probe, known from its site count."""
        return (
            self.kinds == {SiteKind.STAPSDT}
            and self.has_offset
            and not self.semaphore
            and not self.refusals
        )

    def add(self, report: SiteReport, machine: str | None) -> None:
        site = report.site
        self.sites += 1
        self.kinds.add(site.kind)
        self.has_offset = self.has_offset or site.file_offset is not None
        self.semaphore = self.semaphore or site.semaphore_address is not None
        if site.kind != SiteKind.STAPSDT:
            return
        where = f"site {self.sites} "
        for number, argument in enumerate(report.arguments or (), 1):
            libbpf = argument.verdicts.get("libbpf")
            if libbpf is not None and not libbpf.ok and "libbpf" not in self.refusals:
                self.refusals["libbpf"] = (
                    "libbpf fails the whole attach when it cannot parse an argument: "
                    f"{where}arg{number}: {libbpf.why}"
                )
            elif libbpf is not None and libbpf.ok and OLD_LIBBPF not in self.refusals:
                # The newest libbpf reads it; one before 1.7 may not (scale-index-base).
                old = argument.versioned.get(OLD_LIBBPF)
                if old is not None and not old.ok:
                    self.refusals[OLD_LIBBPF] = (
                        "libbpf before 1.7 fails the whole attach on this probe: "
                        f"{where}arg{number}: {old.why}"
                    )
            location = argument.location
            # A float fails bcc's parse first (4f@g_flt(%rip)), and is skipped.
            symbolic = isinstance(location, Symbol) or (
                isinstance(location, Memory) and location.symbol is not None
            )
            if symbolic and not argument.is_float and "bcc" not in self.refusals:
                if not _bcc_reads_att(machine):
                    continue
                from .args.consumers import BCC_SYMBOL_FAILS

                self.refusals["bcc"] = f"{where}arg{number} ({argument.raw}): {BCC_SYMBOL_FAILS}"

    def reasons(self) -> dict[str, str]:
        """Tool to why an argument stops it; ``site N`` is said only of a probe with many."""
        if self.sites != 1:
            return dict(self.refusals)
        return {tool: why.replace("site 1 arg", "arg", 1) for tool, why in self.refusals.items()}


def _bcc_reads_att(machine: str | None) -> bool:
    """Whether bcc reads this ABI's arguments with its x86 (AT&T) parser, the one
    that accepts symbol operands and then fails the probe on them."""
    from .args.architecture import BCC
    from .args.registry import architecture, reads

    found = architecture(machine) if machine else None
    return found is not None and found.consumers.att and reads(BCC, machine or "")


# -- the specs ---------------------------------------------------------------------------


def probe_specs(
    probe: ProbeFacts,
    scanned: ScannedFile,
    target: AttachTarget,
    shared_names: frozenset[str] = frozenset(),
    perf_refusal: str | None = None,
) -> tuple[AttachSpec, ...]:
    """Every tool's spec for one probe of ``scanned``; ``shared_names`` are the probe
    names that more than one provider of the file uses; ``perf_refusal`` says why
    perf can add no event of the file (:func:`usdtscan.names.perf_file_refusal`)."""
    dtrace = _dtrace_spec(probe, target) if probe.kinds - {SiteKind.STAPSDT} else None
    refusal = _structural_refusal(probe, scanned)
    if refusal is not None:
        specs = tuple(
            _gdb_dof(probe, scanned, target.pid)
            if tool == "gdb" and refusal == _DOF_IN_ELF
            else AttachSpec(tool, None, refusal)
            for tool in TOOLS
        )
        return specs if dtrace is None else (*specs, dtrace)
    path, provider, name = target.path, probe.provider, probe.name
    shared = name in shared_names
    semaphore = probe.semaphore
    refused = probe.reasons()
    linked = [
        _bpftrace(path, provider, name, target.pid, semaphore, _through_libbpf(refused)),
        AttachSpec("bcc", None, refused["bcc"])
        if "bcc" in refused
        else _bcc(path, provider, name, shared, target.pid, semaphore),
        AttachSpec("libbpf", None, refused["libbpf"])
        if "libbpf" in refused
        else _libbpf(probe, target, refused.get(OLD_LIBBPF)),
        _perf(path, provider, name, target, perf_refusal),
        _stap(path, provider, name, shared, target.pid),
        _gdb(provider, name, target.pid),
    ]
    return tuple(linked) if dtrace is None else (*linked, dtrace)


def _through_libbpf(refused: dict[str, str]) -> str | None:
    """Why bpftrace >= 0.24 fails on the probe: it attaches through libbpf (PR #4217),
    whose newest parser refuses an argument, and fails with it; None if it does not."""
    why = refused.get("libbpf")
    if why is None:
        return None
    reason = why.split(": ", 1)[1]
    return (
        f"bpftrace >= 0.24 attaches through libbpf and fails on this probe: {reason}; "
        "older bpftrace reads it"
    )


def _bpftrace(
    path: str, provider: str, name: str, pid: int | None, semaphore: bool, modern: str | None
) -> AttachSpec:
    """``modern``: why bpftrace >= 0.24 (through libbpf) fails on the probe, or None."""
    spec = bpftrace_probe(path, provider, name)
    if spec.spec is None:
        return spec
    if pid is not None:
        program = f'{spec.spec} {{ printf("%s\\n", probe); }}'
        return AttachSpec("bpftrace", f"bpftrace -p {pid} -e {shlex.quote(program)}", modern)
    caveats = [modern] if modern is not None else []
    if semaphore:
        caveats.append(
            "the probe has a semaphore: bpftrace raises it only with -p PID "
            "(or --usdt-file-activation)"
        )
    return AttachSpec("bpftrace", spec.spec, "; ".join(caveats) or None)


def _bcc(
    path: str, provider: str, name: str, shared: bool, pid: int | None, semaphore: bool
) -> AttachSpec:
    spec = bcc_probe(path, provider, name, shared)
    if spec.spec is None:
        return spec
    if pid is not None:
        return AttachSpec("bcc", f"trace -p {pid} {shlex.quote(spec.spec)}")
    if semaphore:
        return AttachSpec(
            "bcc",
            spec.spec,
            "the probe has a semaphore: bcc enables it only in a process given with -p PID",
        )
    return spec


def _libbpf(probe: ProbeFacts, target: AttachTarget, old: str | None) -> AttachSpec:
    """``old``: why a libbpf before 1.7 fails where the newest attaches, or None."""
    spec = _libbpf_spec(probe, target)
    if spec.spec is None or old is None:
        return spec
    return AttachSpec("libbpf", spec.spec, old)


def _libbpf_spec(probe: ProbeFacts, target: AttachTarget) -> AttachSpec:
    if target.pid is not None:
        call = ", ".join(
            [
                "prog",
                str(target.pid),
                c_string(target.path),
                c_string(probe.provider),
                c_string(probe.name),
                "NULL",
            ]
        )
        return AttachSpec("libbpf", f"bpf_program__attach_usdt({call})")
    return libbpf_section(target.path, probe.provider, probe.name)


def _perf(
    path: str, provider: str, name: str, target: AttachTarget, refusal: str | None
) -> AttachSpec:
    if target.has_build_id is False:
        return AttachSpec(
            "perf",
            None,
            "the file has no build ID, and perf buildid-cache --add refuses such files "
            "(the site's uprobe_events line works)",
        )
    if refusal is not None:
        return AttachSpec("perf", None, refusal)
    commands = perf_commands(path, provider, name)
    if target.pid is not None:
        commands += f" && perf record -e {shlex.quote(f'sdt_{provider}:{name}')} -p {target.pid}"
    return AttachSpec("perf", commands)


def _stap(path: str, provider: str, name: str, shared: bool, pid: int | None) -> AttachSpec:
    point = stap_probe(path, provider, name, shared)
    if pid is None:
        return AttachSpec("stap", point)
    script = f'probe {point} {{ if (pid() == target()) printf("%s\\n", pn()) }}'
    return AttachSpec("stap", f"stap -x {pid} -e {shlex.quote(script)}")


def _gdb(provider: str, name: str, pid: int | None) -> AttachSpec:
    command = gdb_command(provider, name)
    if pid is None:
        return AttachSpec("gdb", command)
    return AttachSpec("gdb", f"gdb -p {pid} -ex {shlex.quote(command)}")


def _gdb_dof(probe: ProbeFacts, scanned: ScannedFile, pid: int | None) -> AttachSpec:
    """GDB reads ``.SUNW_dof`` itself (``-probe-dtrace``), with support on x86-64 alone."""
    if scanned.machine != "x86_64":
        return AttachSpec("gdb", None, "GDB implements DTrace (DOF) probes for x86-64 only")
    command = f"break -probe-dtrace {probe.provider}:{probe.name}"
    caveat = None
    if SiteKind.DOF_IS_ENABLED not in probe.kinds:
        caveat = "GDB 13.1 crashes (SIGSEGV) on a DOF probe without an is-enabled site"
    if pid is not None:
        command = f"gdb -p {pid} -ex {shlex.quote(command)}"
    return AttachSpec("gdb", command, caveat)


def _dtrace_spec(probe: ProbeFacts, target: AttachTarget) -> AttachSpec:
    module = os.path.basename(target.path)
    point = dtrace_probe(probe.provider, module, probe.name, target.pid)
    if target.pid is None:
        return AttachSpec(DOF_TOOL, point)
    return AttachSpec(DOF_TOOL, f"dtrace -p {target.pid} -n {shlex.quote(point + ' {}')}")


# -- whole files ---------------------------------------------------------------------------


def file_build_id(path: str) -> bool | None:
    """Whether the ELF file at ``path`` has a build ID (None when it cannot be read)."""
    from . import debuginfo
    from .elf import ElfFile
    from .errors import UsdtscanError
    from .fileio import opened

    try:
        with opened(path) as reader:
            return debuginfo.build_id(ElfFile(path, reader)) is not None
    except UsdtscanError:
        return None


def default_target(scanned: ScannedFile) -> AttachTarget:
    """The file as given, made absolute and free of symlinks, as the tools resolve it."""
    path = os.path.realpath(scanned.path)
    known = scanned.format == "elf" and scanned.member_of is None
    return AttachTarget(path, None, file_build_id(scanned.path) if known else None)


def process_target(scanned: ScannedFile, pid: int, opened_as: str) -> AttachTarget:
    """A file mapped by process ``pid``: named through ``/proc/PID/root`` when the process
    sees another file system than ours (a container), else by the path it maps."""
    path = scanned.path
    if not _same_mount_namespace(pid):
        path = f"/proc/{pid}/root{path}"
    has_build_id = file_build_id(opened_as) if scanned.format == "elf" else None
    return AttachTarget(path, pid, has_build_id)


def _same_mount_namespace(pid: int) -> bool:
    try:
        return os.readlink(f"/proc/{pid}/ns/mnt") == os.readlink("/proc/self/ns/mnt")
    except OSError:
        # Unreadable (no permission): the /proc/PID/root form is right in either case.
        return False
