"""The analysis stage: everything the views show about a file, as typed objects.

The flow is scan -> analyze -> render.  :func:`analyze_scanned` turns a
:class:`~usdtscan.ScannedFile` into a :class:`FileReport`: one
:class:`SiteReport` per site (its decoded arguments with their locations
and consumer verdicts, the check of its instruction, its uprobe event) and
one :class:`ProbeReport` per ``provider:name``.  The JSON, the text and the
Python API are all made from these objects, so they cannot disagree; the
renderers only format them.

A report computes what it is asked for, once per distinct thing: a site's
arguments are decoded, judged and turned into uprobe fetch-args once per
distinct argument string of the file (a large file repeats a few spellings
across thousands of sites), so the table, which asks for none of it, never
loads the operand grammars, and ``--json`` does the work once per spelling.
Reports are frozen; later versions add fields, never rename or remove one.
"""

from __future__ import annotations

import functools
import itertools
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .args.location import Constant, Location, Memory, Register, Symbol, Unparsed
from .basetypes import Argument, SiteKind, UprobeEvent, Verdict
from .names import perf_file_refusal
from .sitecheck import InstructionCheck, check_by_table

if TYPE_CHECKING:
    from .attach import AttachSpec, AttachTarget, ProbeFacts
    from .disasm import Instruction
    from .model import CodeWindow, ScannedFile, Site, Slice, SymbolLookup

__all__ = [
    "ArgumentReport",
    "Constant",
    "FileReport",
    "InstructionCheck",
    "Location",
    "Memory",
    "ProbeReport",
    "Register",
    "SiteReport",
    "SliceReport",
    "Symbol",
    "Unparsed",
    "UprobeEvent",
    "Verdict",
    "analyze_scanned",
    "attach_specs",
    "event_names",
]


@dataclass(frozen=True, slots=True)
class ArgumentReport:
    """One argument: the note's spelling (``raw``, ``size``, ``signed``, ``is_float``,
    ``operand``), where it lives (``location``, whose ``kind`` is ``register``,
    ``memory``, ``constant``, ``symbol`` or ``unparsed``), the size and sign a
    consumer reads (``effective_*``; assumed for a sizeless argument), what is
    odd about it (``flags``, ``warnings``) and each consumer's ``verdicts``."""

    raw: str
    size: int | None
    signed: bool | None
    is_float: bool
    operand: str
    location: Location
    effective_size: int
    effective_signed: bool
    assumed_size: bool
    flags: tuple[str, ...]
    warnings: tuple[str, ...]
    verdicts: Mapping[str, Verdict]
    versioned: Mapping[str, Verdict] = field(default_factory=dict)
    """Per consumer and version range (docs/checks.rst): ``libbpf<1.7``,
    ``libbpf>=1.7``, ``bpftrace<0.24``, ``bpftrace>=0.24``, ``bcc``, ``perf``, ``gdb``."""

    @property
    def note(self) -> Argument:
        """The argument as the scan read it."""
        return Argument(self.raw, self.size, self.signed, self.is_float, self.operand)


@functools.cache
def _decoders() -> tuple[Any, ...]:
    """The operand grammars, their judges and the uprobe builder, loaded on the first
    argument analyzed (the table never needs them) and looked up once, not once per
    argument: an import statement run per site costs a microsecond."""
    from .args.analysis import next_pc
    from .args.consumers import verdicts, versioned_verdicts
    from .args.decode import decode_argument
    from .uprobe import assemble, event_head, fetch_or_reason

    return (
        next_pc,
        decode_argument,
        verdicts,
        versioned_verdicts,
        fetch_or_reason,
        event_head,
        assemble,
    )


# One argument's analysis: its report, and its uprobe fetch-arg or why there is none.
_Analyzed = tuple[ArgumentReport, str | None, str | None]


def check_site_bytes(window: CodeWindow | None, machine: str, endian: str) -> InstructionCheck:
    """The instruction at a site: by sitecheck's table, else by capstone (imported
    only for bytes the table does not know), else why it cannot be told."""
    known = check_by_table(window, machine, endian)
    if known is not None:
        return known
    assert window is not None  # the table answers for a missing window
    try:
        from .disasm import disassemble_check

        return disassemble_check(window, machine, endian)
    except ImportError:  # pragma: no cover - capstone is a declared dependency
        return InstructionCheck(None, False, reason="capstone is not installed")


class _FileAnalyzer:
    """What one file's reports share: its architecture, symbols, and the cache that
    makes the work once per distinct argument spelling instead of once per site."""

    __slots__ = (
        "_attach_target",
        "_cache",
        "_last",
        "_last_site",
        "_scanned",
        "attach_facts",
        "bits",
        "demangle",
        "elf_type",
        "endian",
        "machine",
        "path",
        "perf_refusal",
        "shared_names",
    )

    # A bound on the cache: a file of 400,000 distinct spellings must not keep them all.
    LIMIT = 1024

    def __init__(self, scanned: ScannedFile, demangle: bool = True) -> None:
        self.demangle = demangle
        self.machine = scanned.machine
        self.bits = scanned.bits
        self.endian = scanned.endian or "little"
        self.elf_type = scanned.elf_type
        self.path = os.path.abspath(scanned.path)
        self._scanned = scanned
        self._cache: dict[tuple[str, int | None, int | None], _Analyzed] = {}
        self._last_site: Site | None = None
        self._last: tuple[_Analyzed, ...] = ()
        self.shared_names: frozenset[str] = frozenset()
        # Why perf can add no event of the file (one name it rejects), or None.
        self.perf_refusal: str | None = None
        self._attach_target: AttachTarget | None = None
        # For a streamed file (whose probes keep no sites), what the attach specs
        # need of each probe ("provider\0name") that is not ProbeFacts.is_plain;
        # None for a whole FileReport.
        self.attach_facts: dict[str, ProbeFacts] | None = None

    @property
    def scanned(self) -> ScannedFile:
        return self._scanned

    def attach_target(self) -> AttachTarget:
        """The file as the tracers must name it (read once: perf needs its build ID)."""
        if self._attach_target is None:
            from .attach import default_target

            self._attach_target = default_target(self._scanned)
        return self._attach_target

    def probe_facts(self, probe: ProbeReport) -> ProbeFacts:
        from .attach import ProbeFacts

        if self.attach_facts is None:
            return ProbeFacts.of(probe, self.machine)
        found = self.attach_facts.get(f"{probe.provider}\0{probe.name}")
        if found is not None:
            return found
        return ProbeFacts.plain(probe.provider, probe.name, len(probe.indices))

    @property
    def symbols(self) -> SymbolLookup | None:
        """Read when needed: a streamed scan sets it as it goes."""
        return self._scanned.symbols

    def analyzable(self, site: Site) -> bool:
        """DOF sites' arguments are C types, not assembler operands: nothing to decode."""
        return site.kind == SiteKind.STAPSDT and self.machine is not None and self.bits is not None

    def _analyzed(self, argument: Argument, site: Site) -> _Analyzed:
        # An argument depends on its site only when %rip-relative (the address
        # after the site) and, for the uprobe's ``@+OFFSET``, through the site's
        # address-to-offset delta.
        rip = "rip" in argument.operand
        at = site.address if rip else None
        delta = None
        if site.address is not None and site.file_offset is not None:
            delta = site.file_offset - site.address
        key = (argument.raw, at, delta)
        found = self._cache.get(key)
        if found is not None:
            return found
        next_pc, decode_argument, verdicts, versioned_verdicts, fetch_or_reason, *_ = _decoders()
        machine, bits = self.machine or "", self.bits or 64
        d = decode_argument(
            argument,
            machine,
            bits,
            symbols=self.symbols,
            next_pc=next_pc(site, machine) if rip else None,
        )
        report = ArgumentReport(
            argument.raw,
            argument.size,
            argument.signed,
            argument.is_float,
            argument.operand,
            d.location,
            d.size,
            d.signed,
            d.assumed_size,
            d.flags,
            d.warnings,
            verdicts(d, machine, bits, self.elf_type),
            versioned_verdicts(d, machine, bits, self.elf_type),
        )
        fetch, why = fetch_or_reason(d, machine, site, bits)
        if len(self._cache) >= self.LIMIT:
            self._cache.clear()
        self._cache[key] = found = (report, fetch, why)
        return found

    def _site_analyzed(self, site: Site) -> tuple[_Analyzed, ...]:
        # The JSON, the uprobe line and the attach facts each ask for the same
        # site in turn: the last site's answer is kept.
        if site is not self._last_site:
            self._last = tuple([self._analyzed(a, site) for a in site.args])
            self._last_site = site
        return self._last

    def arguments(self, site: Site) -> tuple[ArgumentReport, ...] | None:
        if not self.analyzable(site):
            return None
        return tuple([analyzed[0] for analyzed in self._site_analyzed(site)])

    def demangled(self, symbol: str | None) -> str | None:
        # The prefix test keeps the demangler unimported for C programs.
        if not self.demangle or symbol is None or not symbol.startswith(("_Z", "_R")):
            return None
        from .demangle import demangle_function

        return demangle_function(symbol)

    def check(self, site: Site) -> InstructionCheck | None:
        if not self.analyzable(site):
            return None
        return check_site_bytes(site.code, self.machine or "", self.endian)

    def uprobe(self, site: Site, event: str) -> UprobeEvent | None:
        if not self.analyzable(site):
            return None
        *_, event_head, assemble = _decoders()
        head = event_head(site, self.machine or "", self.path, event)
        if isinstance(head, UprobeEvent):
            return head
        event_line: UprobeEvent = assemble(head, [a[1:] for a in self._site_analyzed(site)])
        return event_line


@dataclass(frozen=True, slots=True)
class SiteReport:
    """One probe site and what the analysis says of it.

    ``site`` is the scanned :class:`~usdtscan.Site` (provider, name,
    addresses, semaphore, function, the note's arguments); ``event`` is the
    uprobe event name of the site (docs/json.rst: the probe's name for its
    first site, ``NAME_1``, ``NAME_2`` ... for the others, as ``perf probe``
    names them).  The properties are computed on first use by the file's
    analysis and cached per argument string.
    """

    site: Site
    event: str
    _analyzer: _FileAnalyzer = field(repr=False, compare=False)

    @property
    def arguments(self) -> tuple[ArgumentReport, ...] | None:
        """The decoded arguments; None for a site whose arguments are not
        assembler operands (DOF) or whose architecture is unknown."""
        return self._analyzer.arguments(self.site)

    @property
    def function_demangled(self) -> str | None:
        """``site.function`` with its C++ or Rust symbol demangled, the offset kept
        (``Klass::method(int)+0x1c``); None when the symbol is not mangled, does
        not demangle, or demangling is off (``--no-demangle``)."""
        return self._analyzer.demangled(self.site.function)

    @property
    def function_name_demangled(self) -> str | None:
        """``function_demangled`` without the offset: the name as people read it."""
        return self._analyzer.demangled(self.site.function_name)

    @property
    def check(self) -> InstructionCheck | None:
        """Whether the site holds sdt.h's nop; None where ``arguments`` is None."""
        return self._analyzer.check(self.site)

    @property
    def uprobe(self) -> UprobeEvent | None:
        """The ``uprobe_events`` line; None where ``arguments`` is None."""
        return self._analyzer.uprobe(self.site, self.event)

    @property
    def verdicts(self) -> dict[str, Verdict]:
        """Per consumer: can it read every argument of this site (the first refusal's reason)."""
        result: dict[str, Verdict] = {}
        for number, argument in enumerate(self.arguments or (), 1):
            for tool, verdict in argument.verdicts.items():
                if not verdict.ok and tool not in result:
                    result[tool] = Verdict(False, f"arg{number}: {verdict.why}")
        names = ("libbpf", "bcc", "gdb") if self.arguments is not None else ()
        return {tool: result.get(tool, Verdict(True)) for tool in names}

    def disassembly(self) -> tuple[Instruction, ...]:
        """A few instructions around the site (needs capstone; empty without code bytes)."""
        from .disasm import disassemble_around

        analyzer = self._analyzer
        return tuple(disassemble_around(self.site, analyzer.machine or "", analyzer.endian))


@dataclass(frozen=True, slots=True)
class ProbeReport:
    """The sites of one ``provider:name``; ``indices`` are their places in the file's sites."""

    provider: str
    name: str
    sites: tuple[SiteReport, ...]
    indices: tuple[int, ...]
    _analyzer: _FileAnalyzer | None = field(default=None, repr=False, compare=False)

    @property
    def probe_id(self) -> str:
        return f"{self.provider}:{self.name}"

    @property
    def attach(self) -> tuple[AttachSpec, ...]:
        """How to attach to this probe with each tracer, or why a tool cannot
        (docs/cli.rst, "Attach specs"); :meth:`attach_to` names the file as
        another target says, such as a process."""
        if self._analyzer is None:
            return ()
        return self.attach_to(self._analyzer.attach_target())

    def attach_to(self, target: AttachTarget) -> tuple[AttachSpec, ...]:
        """The specs that name the file as ``target`` says (a process, a path)."""
        from .attach import probe_specs

        analyzer = self._analyzer
        if analyzer is None:
            return ()
        facts = analyzer.probe_facts(self)
        return probe_specs(
            facts, analyzer.scanned, target, analyzer.shared_names, analyzer.perf_refusal
        )


@dataclass(frozen=True, slots=True)
class SliceReport:
    """One architecture of a Mach-O file, with the reports of its sites."""

    slice: Slice
    sites: tuple[SiteReport, ...]


@dataclass(frozen=True, slots=True)
class FileReport:
    """One input file: what the scan found (``scanned``) and the reports of its sites,
    in note order, and of its probes, in order of each probe's first site."""

    scanned: ScannedFile
    sites: tuple[SiteReport, ...]
    probes: tuple[ProbeReport, ...]
    slices: tuple[SliceReport, ...] = ()

    @property
    def path(self) -> str:
        return self.scanned.path

    @property
    def error(self) -> str | None:
        return self.scanned.error


def event_names(sites: Iterable[Site]) -> Iterator[str]:
    """Each site's uprobe event name, in order: ``NAME`` for a probe's first site,
    then ``NAME_1``, ``NAME_2``...: one rule for ``--json`` and ``script uprobe-events``."""
    from .uprobe import site_event_name

    seen: dict[tuple[str, str], int] = {}
    for site in sites:
        key = (site.provider, site.name)
        number = seen.get(key, 0)
        seen[key] = number + 1
        yield site_event_name(site.name, number)


def _shared_names(names: Iterable[str]) -> frozenset[str]:
    """The probe names that more than one provider uses (a tool must then name both)."""
    seen: set[str] = set()
    shared: set[str] = set()
    for name in names:
        (shared if name in seen else seen).add(name)
    return frozenset(shared)


def analyze_scanned(scanned: ScannedFile, demangle: bool = True) -> FileReport:
    """The reports of a scanned file (cheap: the work happens when a property is read).
    ``demangle=False`` leaves C++ and Rust function names as stored."""
    analyzer = _FileAnalyzer(scanned, demangle)
    sites = tuple(
        SiteReport(site, event, analyzer)
        for site, event in zip(scanned.sites, event_names(scanned.sites), strict=True)
    )
    groups: dict[tuple[str, str], list[int]] = {}
    for index, site in enumerate(scanned.sites):
        groups.setdefault((site.provider, site.name), []).append(index)
    probes = tuple(
        ProbeReport(provider, name, tuple(sites[i] for i in indices), tuple(indices), analyzer)
        for (provider, name), indices in groups.items()
    )
    analyzer.shared_names = _shared_names(name for _, name in groups)
    analyzer.perf_refusal = perf_file_refusal(groups)
    by_identity = {id(report.site): report for report in sites}
    slices = tuple(
        SliceReport(
            piece,
            tuple(by_identity.get(id(s)) or SiteReport(s, s.name, analyzer) for s in piece.sites),
        )
        for piece in scanned.slices
    )
    return FileReport(scanned, sites, probes, slices)


class StreamedReport:
    """A :class:`FileReport` whose sites are analyzed as the scan reads them.

    ``sites`` can be iterated once; nothing is kept of a site once it has
    been taken but its probe's place in ``probes``, which, like the file's
    error and warnings in ``scanned``, is complete once ``sites`` is
    exhausted.  ``usdtscan --json`` writes a file this way, so its memory
    does not grow with the sites.
    """

    __slots__ = ("_analyzer", "_first", "_groups", "_providers", "_sites", "scanned")

    slices: tuple[SliceReport, ...] = ()

    def __init__(self, scanned: ScannedFile, sites: Iterable[Site], demangle: bool = True) -> None:
        self.scanned = scanned
        self._sites = iter(sites)
        # Read up to the first site now: the scan sets the file's own fields
        # (format, machine...) before it, and a writer prints them first.
        self._first = next(self._sites, None)
        self._analyzer = _FileAnalyzer(scanned, demangle)
        self._analyzer.attach_facts = {}
        # "provider\0name" -> the index of its one site, or the list of its sites'
        # indices: the one thing kept per probe, as small as it can be.
        self._groups: dict[str, int | list[int]] = {}
        self._providers: set[str] = set()  # a name can be shared only between two

    @property
    def path(self) -> str:
        return self.scanned.path

    def whole(self, limit: int | None = None) -> FileReport | None:
        """The file as a :class:`FileReport`, when it has at most ``limit`` sites
        (None: any number): they are read now, and ``sites`` must not be taken.
        Else None, and ``sites`` still yields every site, the ones read first.
        A view that needs a file's every site before its first line (the table's
        column widths) keeps a small file whole this way and streams a large one."""
        ahead = () if self._first is None else (self._first,)
        wanted = None if limit is None else limit + 1
        taken = list(itertools.islice(itertools.chain(ahead, self._sites), wanted))
        if limit is None or len(taken) <= limit:
            from dataclasses import replace

            return analyze_scanned(replace(self.scanned, sites=taken), self._analyzer.demangle)
        self._sites = itertools.chain(taken[1:], self._sites)
        self._first = taken[0]
        return None

    @property
    def sites(self) -> Iterator[SiteReport]:
        return self.iter_sites()

    def iter_sites(self, attach: bool = True) -> Iterator[SiteReport]:
        """``sites``; with ``attach`` false, without gathering what the probes' attach
        specs need (the table shows none, and must not decode the arguments)."""
        from .attach import ProbeFacts
        from .uprobe import site_event_name

        analyzer, groups, providers = self._analyzer, self._groups, self._providers
        facts = analyzer.attach_facts
        assert facts is not None
        first, self._first = self._first, None
        ahead = () if first is None else (first,)
        for index, site in enumerate(itertools.chain(ahead, self._sites)):
            # The analyzer reads the file's fields, set by the scan before the first site.
            analyzer.machine, analyzer.bits = self.scanned.machine, self.scanned.bits
            analyzer.endian = self.scanned.endian or "little"
            analyzer.elf_type = self.scanned.elf_type
            providers.add(site.provider)
            key = f"{site.provider}\0{site.name}"
            found = groups.get(key)
            if found is None:
                groups[key] = index
                number = 0
            elif isinstance(found, int):
                groups[key] = [found, index]
                number = 1
            else:
                found.append(index)
                number = len(found) - 1
            report = SiteReport(site, site_event_name(site.name, number), analyzer)
            yield report
            if not attach:
                continue
            # After the writer has read the site (its arguments are cached by then):
            # what the probe's attach specs need, kept only where it is not plain.
            probe = facts.get(key) or ProbeFacts.plain(site.provider, site.name, number)
            probe.add(report, analyzer.machine)
            if not probe.is_plain:
                facts[key] = probe

    @property
    def probe_count(self) -> int:
        """How many distinct probes the sites taken so far have."""
        return len(self._groups)

    @property
    def probes(self) -> Iterator[ProbeReport]:
        """Each probe's site indices, in order (its ``sites`` are not kept: empty)."""
        analyzer = self._analyzer
        if len(self._providers) > 1:
            analyzer.shared_names = _shared_names(key.partition("\0")[2] for key in self._groups)
        analyzer.perf_refusal = perf_file_refusal(
            (provider, name) for provider, _, name in (k.partition("\0") for k in self._groups)
        )
        for key, indices in self._groups.items():
            provider, _, name = key.partition("\0")
            numbers = (indices,) if isinstance(indices, int) else tuple(indices)
            yield ProbeReport(provider, name, (), numbers, analyzer)


def attach_specs(
    report: FileReport | StreamedReport | ScannedFile, target: AttachTarget | None = None
) -> list[tuple[ProbeReport, tuple[AttachSpec, ...]]]:
    """Each probe of the file and every tool's spec for it.

    ``target`` names the file for the tools (default: the file as given,
    made absolute; :func:`usdtscan.attach.process_target` for a process).  The same specs
    are :attr:`usdtscan.ProbeReport.attach`.
    """
    if not isinstance(report, FileReport | StreamedReport):
        report = analyze_scanned(report)
    if target is None:
        return [(probe, probe.attach) for probe in report.probes]
    return [(probe, probe.attach_to(target)) for probe in report.probes]
