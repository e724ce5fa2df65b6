"""Integrity lint of the probe sites of any binary: what ``usdtscan check`` reports.

Each finding names the tracer it breaks and what then happens, because a
release engineer decides from the consequence, not from the rule.  The IDs
are a contract (``--ignore ID``, the JSON ``id`` key, docs/checks.rst): a
rule may be refined, never renamed.  A finding is about the build, never
about a tool's lack of support for an architecture (libbpf has no MIPS
support whatever the binary does), so those verdicts are left out.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from .analysis import SiteReport, analyze_scanned
from .archive import each_object
from .elf import PF_W, PF_X, ElfFile, ElfType, SegmentType
from .errors import UsdtscanError
from .exitcodes import EXIT_OK, check_status
from .fileio import opened
from .model import BaseAdjustment, Probe, ScannedFile, Site, SiteKind, group_sites
from .names import bpftrace_field, perf_accepts
from .provider import DeclaredProbe
from .scan import scan

ERROR, WARNING, INFO = "error", "warning", "info"
SEVERITIES = (ERROR, WARNING, INFO)

# libbpf's USDT_MAX_ARG_CNT (src/usdt.c); sys/sdt.h stops at 12 too.
MAX_ARGS = 12
BASE_SECTION = ".stapsdt.base"
SEMAPHORE_SECTION = ".probes"


@dataclass(frozen=True, slots=True)
class Rule:
    """One kind of finding: the part of the contract that docs/checks.rst lists."""

    id: str
    severity: str
    consumers: tuple[str, ...]
    consequence: str


RULES: dict[str, Rule] = {
    rule.id: rule
    for rule in (
        Rule(
            "base-section-missing",
            ERROR,
            ("gdb", "libbpf", "bcc"),
            "GDB lists no probe of the file; libbpf (1.5.0 and 1.7.0 read alike) uses the "
            "notes' pcs unadjusted, wrong once the file is prelinked or its code moved",
        ),
        Rule(
            "base-zero",
            ERROR,
            ("libbpf<1.7",),
            "libbpf before 1.7 adds the address of .stapsdt.base to the pc of a note whose "
            "base is 0 and attaches at the wrong address (1.5.0's usdt.c does, 1.7.0's "
            "skips a zero base); the Rust probe crate under --gc-sections writes such notes",
        ),
        Rule(
            "site-not-in-text",
            ERROR,
            ("libbpf", "bcc", "gdb", "perf", "systemtap"),
            "the site is not in an executable PT_LOAD segment: a uprobe there cannot fire, "
            "and writing a breakpoint there corrupts data",
        ),
        Rule(
            "site-not-nop",
            ERROR,
            ("libbpf", "bcc", "gdb", "perf", "systemtap"),
            "the bytes at the site are not the probe's nop: the address is stale or wrong, "
            "and a tracer fires at the wrong place and reads the wrong registers",
        ),
        Rule(
            "site-nop5",
            WARNING,
            ("kernel",),
            "nop; nop5 (libbpf usdt.h, Feb-May 2026): the kernel's optimized uprobe rewrites "
            "the nop5 into a call, which pushes onto the stack and can corrupt the red zone "
            "of a leaf function",
        ),
        Rule(
            "site-nop10",
            INFO,
            ("libbpf",),
            "nop; nop10 (usdt.h since July 2026): libbpf does not detect it yet, so it "
            "attaches to the first nop with an ordinary (unoptimized) uprobe",
        ),
        Rule(
            "semaphore-misplaced",
            ERROR,
            ("bpftrace", "libbpf", "bcc", "systemtap"),
            "bpftrace drops every probe of the file; a tracer that increments the counter "
            "writes into code or read-only data",
        ),
        Rule(
            "sites-disagree",
            ERROR,
            ("bpftrace", "libbpf", "bcc"),
            "bpftrace reads every site with the first site's argument types (bpftrace#3601, "
            "#2456), and a tracer that enables one semaphore leaves the other sites off",
        ),
        Rule(
            "too-many-args",
            ERROR,
            ("libbpf", "bpftrace>=0.24"),
            f"libbpf refuses probes with more than {MAX_ARGS} arguments (USDT_MAX_ARG_CNT): "
            "the probe cannot be attached with libbpf or bpftrace >= 0.24",
        ),
        Rule(
            "arg-unreadable",
            WARNING,
            ("libbpf<1.7", "libbpf>=1.7", "bpftrace>=0.24", "bpftrace<0.24", "bcc", "perf", "gdb"),
            "the consumer cannot read the argument; libbpf and bpftrace >= 0.24 then refuse "
            "to attach the whole probe, bcc and bpftrace < 0.24 lose it and every later "
            "argument, perf probe drops it",
        ),
        Rule(
            "provider-missing",
            ERROR,
            ("libbpf", "bcc", "bpftrace", "gdb", "perf", "systemtap", "dtrace"),
            "a probe the provider file declares is not in the binary: every script "
            "that names it fails to attach",
        ),
        Rule(
            "provider-arg-count",
            ERROR,
            ("libbpf", "bcc", "bpftrace", "gdb", "systemtap"),
            "the probe is called with another number of arguments than declared: scripts "
            "written from the provider file read arguments that are not there",
        ),
        Rule(
            "provider-arg-type",
            WARNING,
            ("libbpf", "bcc", "bpftrace", "gdb", "systemtap"),
            "an argument's size or sign differs from its declared type on this ABI: tracers "
            "read what the call site passed (the note's size), not the declaration",
        ),
        Rule(
            "provider-undeclared",
            WARNING,
            ("dtrace",),
            "a probe of the provider is in the binary but not in the provider file: it is "
            "not documented where users look",
        ),
        Rule(
            "name-rejected",
            WARNING,
            ("perf", "bpftrace"),
            "perf probe refuses the event name and, reading every note of the file, then "
            "adds no sdt_ event of the file at all; or bpftrace needs the name quoted (or "
            "cannot spell it at all)",
        ),
    )
}


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem at one place: ``rule`` says what it means, ``message`` what was seen.

    ``severity`` is the rule's unless the finding says otherwise (base-zero
    is only a warning when no ``.stapsdt.base`` is there to be added).
    """

    rule: Rule
    message: str
    probe: str | None = None
    address: int | None = None
    severity: str | None = None
    consumers: tuple[str, ...] | None = None

    @property
    def id(self) -> str:
        return self.rule.id

    @property
    def effective_severity(self) -> str:
        return self.severity or self.rule.severity

    @property
    def effective_consumers(self) -> tuple[str, ...]:
        return self.consumers or self.rule.consumers


@dataclass(frozen=True, slots=True)
class SiteInstruction:
    """What is at one site: its instruction, and on x86-64 the nop encoding by name."""

    probe: str
    address: int | None
    instruction: str | None
    encoding: str | None
    ok: bool | None


@dataclass(slots=True)
class LintResult:
    """The lint of one file.  ``error`` is trouble reading it (then exit status 2)."""

    path: str
    scanned: ScannedFile | None = None
    findings: list[Finding] = field(default_factory=list)
    sites: list[SiteInstruction] = field(default_factory=list)
    ignored: int = 0
    error: str | None = None

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.effective_severity == ERROR]

    @property
    def probe_count(self) -> int:
        return 0 if self.scanned is None else len(group_sites(self.scanned.sites))

    @property
    def status(self) -> int:
        """The exit status of ``usdtscan check PATH``: 0 clean, 1 an error finding, 2 trouble."""
        return check_status(self.error, bool(self.errors))

    @property
    def ok(self) -> bool:
        """No finding at error severity, and the file was read completely."""
        return self.status == EXIT_OK


# -- probe and provider names ----------------------------------------------------------

# The kernel's MAX_EVENT_NAME_LEN: perf names the event sdt_PROVIDER:NAME.
_EVENT_NAME_MAX = 64


def name_problem(what: str, name: str, group: bool) -> str | None:
    """Why perf or bpftrace cannot use ``name`` as it is, or None (what they accept
    is :mod:`usdtscan.names`, which the attach specs follow too)."""
    if not name:
        return f"empty {what}: perf and bpftrace cannot name it"
    spelled = bpftrace_field(name)
    problems = []
    if not perf_accepts(name, group):
        bad = sorted({c for c in name if not (c.isalnum() or c == "_")})
        shown = " ".join(repr(c) for c in bad) or "a leading digit"
        problems.append(
            f"{what} {name!r} is not a C identifier ({shown}): perf probe rejects it, "
            "and with it every sdt_ event of the file"
        )
    if spelled is None:
        problems.append("bpftrace cannot spell it even quoted")
    elif spelled != name:
        problems.append("bpftrace needs it quoted")
    if problems:
        # A name perf accepts is letters, digits and '_', which bpftrace takes too.
        return ", ".join(problems)
    event = f"sdt_{name}" if group else name
    if len(event) >= _EVENT_NAME_MAX:
        return (
            f"{what} {name!r}: the perf event name {event!r} is longer than the kernel's "
            f"{_EVENT_NAME_MAX - 1} characters"
        )
    return None


# -- the file's layout, read once -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Layout:
    relocatable: bool
    has_base_section: bool
    base_section_bytes: bool
    # (name, start, end, flags) of every allocated section
    sections: tuple[tuple[str, int, int], ...]
    # (start, end, flags) of every PT_LOAD
    loads: tuple[tuple[int, int, int], ...]

    def section_at(self, address: int) -> str | None:
        for name, start, end in self.sections:
            if start <= address < end:
                return name
        return None

    def load_at(self, address: int) -> tuple[int, int, int] | None:
        for load in self.loads:
            if load[0] <= address < load[1]:
                return load
        return None


_SHF_ALLOC = 0x2


def _layout(path: str) -> _Layout:
    with opened(path) as reader:
        elf = ElfFile(path, reader)
        base = elf.section_by_name(BASE_SECTION)
        sections = tuple(
            (s.name, s.addr, s.addr + max(s.size, 1))
            for s in elf.sections
            if s.flags & _SHF_ALLOC and s.addr
        )
        loads = tuple(
            (seg.vaddr, seg.vaddr + seg.memsz, seg.flags)
            for seg in elf.segments
            if seg.type == SegmentType.LOAD
        )
        return _Layout(
            elf.e_type == ElfType.REL,
            base is not None,
            base is not None and base.has_file_data,
            sections,
            loads,
        )


# -- the checks -------------------------------------------------------------------------


def _where(site: Site) -> str:
    address = "-" if site.address is None else f"{site.address:#x}"
    function = f" in {site.function_name}" if site.function_name else ""
    return f"site {address}{function}"


def _base_findings(scanned: ScannedFile, layout: _Layout) -> list[Finding]:
    stapsdt = [s for s in scanned.sites if s.kind == SiteKind.STAPSDT]
    if not stapsdt or layout.relocatable:
        return []
    findings = []
    if not layout.has_base_section:
        findings.append(
            Finding(
                RULES["base-section-missing"],
                f"{len(stapsdt)} stapsdt notes but no {BASE_SECTION} section "
                "(garbage-collected by the linker? systemtap 5.4 marks it SHF_GNU_RETAIN)",
            )
        )
    zero = [
        s
        for s in stapsdt
        if s.stapsdt is not None and s.stapsdt.base_adjustment == BaseAdjustment.NOTE_BASE_ZERO
    ]
    if zero:
        probes = sorted({s.probe_id for s in zero})
        shown = ", ".join(probes[:5]) + (f" and {len(probes) - 5} more" if len(probes) > 5 else "")
        if layout.has_base_section:
            message = f"{_notes(len(zero))} base 0 while {BASE_SECTION} exists: {shown}"
            severity = ERROR
        else:
            message = f"{_notes(len(zero))} base 0 (and no {BASE_SECTION}): {shown}"
            severity = WARNING
        findings.append(Finding(RULES["base-zero"], message, severity=severity))
    return findings


def _site_findings(
    report: SiteReport, layout: _Layout | None
) -> tuple[list[Finding], SiteInstruction]:
    site = report.site
    findings: list[Finding] = []
    if site.kind != SiteKind.STAPSDT or layout is None or layout.relocatable:
        return findings, SiteInstruction(site.probe_id, site.address, None, None, None)
    if site.address is not None:
        load = layout.load_at(site.address)
        if load is None or not load[2] & PF_X:
            where = "no loadable segment" if load is None else "a non-executable segment"
            section = layout.section_at(site.address)
            inside = f" (section {section})" if section else ""
            findings.append(
                Finding(
                    RULES["site-not-in-text"],
                    f"{_where(site)} is in {where}{inside}",
                    site.probe_id,
                    site.address,
                )
            )
    if site.code is None:
        # A separate debug file holds no code: nothing to check, nothing wrong.
        return findings, SiteInstruction(site.probe_id, site.address, None, None, None)
    # The analysis stage's check: sdt.h's encodings by table, capstone for other bytes.
    check = report.check
    if check is None:  # no architecture known: nothing decodes the bytes
        return findings, SiteInstruction(site.probe_id, site.address, None, None, False)
    encoding = check.encoding
    if not check.ok and check.instruction is not None:
        findings.append(
            Finding(
                RULES["site-not-nop"],
                f"{_where(site)} holds {check.instruction!r}, not a nop",
                site.probe_id,
                site.address,
            )
        )
    if encoding == "nop; nop5":
        findings.append(
            Finding(RULES["site-nop5"], f"{_where(site)}: nop; nop5", site.probe_id, site.address)
        )
    elif encoding == "nop; nop10":
        findings.append(
            Finding(RULES["site-nop10"], f"{_where(site)}: nop; nop10", site.probe_id, site.address)
        )
    return findings, SiteInstruction(
        site.probe_id, site.address, check.instruction, encoding, check.ok
    )


def _semaphore_findings(probe: Probe, layout: _Layout | None) -> list[Finding]:
    if layout is None or layout.relocatable:
        return []
    findings = []
    for semaphore in sorted({s.semaphore_address for s in probe.sites if s.semaphore_address}):
        problems = []
        section = layout.section_at(semaphore)
        if section != SEMAPHORE_SECTION:
            problems.append(f"in {section or 'no section'}, not {SEMAPHORE_SECTION}")
        load = layout.load_at(semaphore)
        if load is None:
            problems.append("in no loadable segment")
        else:
            if not load[2] & PF_W:
                problems.append("in a read-only segment")
            if load[2] & PF_X:
                problems.append("in an executable segment")
        if problems:
            findings.append(
                Finding(
                    RULES["semaphore-misplaced"],
                    f"semaphore {semaphore:#x} of {probe.probe_id} is " + ", ".join(problems),
                    probe.probe_id,
                )
            )
    return findings


def _signature(site: Site) -> tuple[tuple[int | None, bool | None, bool], ...]:
    return tuple((a.size, a.signed, a.is_float) for a in site.args)


def _shape(signature: tuple[tuple[int | None, bool | None, bool], ...]) -> str:
    def one(size: int | None, signed: bool | None, is_float: bool) -> str:
        if size is None:
            return "?"
        return f"{'-' if signed else ''}{size}{'f' if is_float else ''}"

    return " ".join(one(*arg) for arg in signature) or "(none)"


def _agreement_findings(probe: Probe) -> list[Finding]:
    sites = probe.sites
    if len(sites) < 2:
        return []
    findings = []
    semaphores = sorted({s.semaphore_address for s in sites}, key=lambda a: (a is not None, a))
    if len(semaphores) > 1:
        shown = ", ".join("none" if a is None else f"{a:#x}" for a in semaphores)
        findings.append(
            Finding(
                RULES["sites-disagree"],
                f"{probe.probe_id}: {len(sites)} sites with different semaphores ({shown})",
                probe.probe_id,
            )
        )
    counts = sorted({len(s.args) for s in sites})
    if len(counts) > 1:
        findings.append(
            Finding(
                RULES["sites-disagree"],
                f"{probe.probe_id}: sites with {', '.join(map(str, counts))} arguments",
                probe.probe_id,
            )
        )
    else:
        shapes = sorted({_shape(_signature(s)) for s in sites})
        sizes = {tuple(a.size for a in s.args) for s in sites}
        what = "sizes" if len(sizes) > 1 else "signedness"
        if len(shapes) > 1:
            findings.append(
                Finding(
                    RULES["sites-disagree"],
                    f"{probe.probe_id}: argument {what} differ between sites ("
                    + " | ".join(shapes)
                    + ")",
                    probe.probe_id,
                    severity=WARNING,
                )
            )
    return findings


def _argument_findings(
    probe: Probe, scanned: ScannedFile, reports: Mapping[int, SiteReport]
) -> list[Finding]:
    """``arg-unreadable``: per consumer version, the first argument it cannot read,
    from the analysis stage's verdicts (``reports``: each site's, by ``id``)."""
    from .args.consumers import VERSIONED, probe_sentence, sentence_class, versioned_supports

    findings = []
    most = max(len(s.args) for s in probe.sites)
    if most > MAX_ARGS:
        findings.append(
            Finding(
                RULES["too-many-args"],
                f"{probe.probe_id} has {most} arguments (libbpf accepts {MAX_ARGS})",
                probe.probe_id,
            )
        )
    machine, bits = scanned.machine or "", scanned.bits or 0
    if not machine or not bits:
        return findings
    first: dict[str, tuple[int, int, str]] = {}
    for number, site in enumerate(probe.sites, 1):
        if site.kind != SiteKind.STAPSDT:
            continue
        for index, argument in enumerate(reports[id(site)].arguments or (), 1):
            for key in VERSIONED:
                verdict = argument.versioned[key]
                if verdict.ok or key in first or not versioned_supports(key, machine, bits):
                    continue
                first[key] = (number, index, f"{argument.raw}: {verdict.why}")
    groups: dict[tuple[str, int, int, str], list[str]] = {}
    for key, (site_number, index, why) in first.items():
        groups.setdefault((sentence_class(key), site_number, index, why), []).append(key)
    for (_kind, site_number, index, why), keys in groups.items():
        where = f" (site {site_number})" if len(probe.sites) > 1 else ""
        findings.append(
            Finding(
                RULES["arg-unreadable"],
                probe_sentence(keys, probe.probe_id, index, why) + where,
                probe.probe_id,
                consumers=tuple(keys),
            )
        )
    return findings


def _name_findings(probe: Probe) -> list[Finding]:
    findings = []
    for what, name, group in (("provider", probe.provider, True), ("name", probe.name, False)):
        problem = name_problem(what, name, group)
        if problem is not None:
            findings.append(Finding(RULES["name-rejected"], problem, probe.probe_id))
    return findings


def lint_scanned(scanned: ScannedFile, layout: _Layout | None) -> LintResult:
    result = LintResult(scanned.path, scanned)
    if layout is not None:
        result.findings += _base_findings(scanned, layout)
    report = analyze_scanned(scanned)
    for site_report in report.sites:
        findings, instruction = _site_findings(site_report, layout)
        result.findings += findings
        result.sites.append(instruction)
    by_site = {id(site_report.site): site_report for site_report in report.sites}
    for probe in group_sites(scanned.sites):
        result.findings += _semaphore_findings(probe, layout)
        result.findings += _agreement_findings(probe)
        result.findings += _argument_findings(probe, scanned, by_site)
        result.findings += _name_findings(probe)
    return result


def lint(
    path: str | os.PathLike[str],
    ignore: Iterable[str] = (),
    declared: Sequence[DeclaredProbe] | None = None,
) -> LintResult:
    """Lint every probe site of ``path``; findings whose ID is in ``ignore`` are dropped.

    ``declared`` (from :func:`usdtscan.provider.read_provider_file`) adds the
    comparison with a provider file: the ``provider-*`` findings.

    A file that cannot be read is reported in ``LintResult.error``, with the
    findings of the part that was read; this never raises for bad input.
    """
    path = os.fspath(path)
    try:
        scanned = scan(path)
    except UsdtscanError as exc:
        return LintResult(path, error=exc.reason)
    if scanned.format == "elf" and scanned.elf_type is None:
        # usdtscan.notesection: no machine, segments or code to check the sites against.
        return LintResult(path, error="a bare .note.stapsdt section: lint needs the binary")
    layout = None
    if scanned.format == "elf":
        try:
            layout = _layout(path)
        except UsdtscanError as exc:
            return LintResult(path, scanned, error=exc.reason)
    result = lint_scanned(scanned, layout)
    result.error = scanned.error
    if declared is not None:
        from .provider import compare

        result.findings += [
            Finding(RULES[problem.kind], problem.message, problem.probe)
            for problem in compare(declared, scanned)
        ]
    skipped = set(ignore)
    kept = [f for f in result.findings if f.id not in skipped]
    result.ignored = len(result.findings) - len(kept)
    result.findings = kept
    return result


def lint_each(
    path: str | os.PathLike[str],
    ignore: Iterable[str] = (),
    declared: Sequence[DeclaredProbe] | None = None,
) -> list[LintResult]:
    """:func:`lint` of each object in ``path``, as ``usdtscan check PATH`` does: the
    file itself; each ELF member of a static library (``lib.a(m.o)``); each ELF
    and Mach-O member of a package or image (a ``.deb``, an ``.rpm``, a tarball,
    an OCI layout...: :doc:`remote`), named ``ARCHIVE!member`` and read where it
    lies, one member in memory at a time.  A part that cannot be read is one
    result whose ``error`` says why; this never raises for bad input.
    """
    from .packages import is_package, visit_members

    path = os.fspath(path)
    if not is_package(path):
        return _lint_objects(path, ignore, declared)
    try:
        found, damage = visit_members(path, lambda m: _lint_objects(m, ignore, declared))
    except UsdtscanError as exc:
        return [LintResult(path, error=exc.reason)]
    results = [result for member in found for result in member]
    if damage is not None:
        results.append(LintResult(path, error=damage))
    if not results:
        results.append(LintResult(path, error="no ELF or Mach-O file in this archive"))
    return results


def _lint_objects(
    path: str, ignore: Iterable[str], declared: Sequence[DeclaredProbe] | None
) -> list[LintResult]:
    """The file, or each ELF member of a static library (:func:`usdtscan.archive.each_object`)."""
    results = []
    for name, unreadable in each_object(path):
        if unreadable is None:
            results.append(lint(name, ignore, declared))
        else:
            results.append(LintResult(name, error=unreadable))
    return results


def unknown_ids(ids: Sequence[str]) -> list[str]:
    return [i for i in ids if i not in RULES]


def _notes(count: int) -> str:
    return "1 note records" if count == 1 else f"{count} notes record"
