"""The human view: a ``dtrace -l``-style table per file, and per-probe detail with ``-v``.

It formats the analysis stage's reports (:mod:`usdtscan.analysis`): the
table reads only the scanned sites, so listing never loads the operand
grammars; ``-v`` reads the decoded arguments and ``-d`` the disassembly.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

from ..analysis import (
    ArgumentReport,
    Constant,
    FileReport,
    Location,
    Memory,
    Register,
    SiteReport,
    StreamedReport,
    Symbol,
)
from ..model import Argument, ScannedFile, Site, SiteKind

if TYPE_CHECKING:
    from ..attach import AttachSpec

_COLUMNS = ("PROVIDER", "MODULE", "FUNCTION", "NAME", "ADDRESS", "OFFSET", "SEMAPHORE", "ARGS")
#: The FUNCTION column's widest demangled name: a longer one has its middle
#: elided (-v and JSON keep it whole; symbols shown as stored never are).
FUNCTION_WIDTH = 64


def hex_or_dash(value: int | None) -> str:
    """An address in hex, or ``-`` where it does not apply."""
    return "-" if value is None else f"{value:#x}"


def plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def describe_file(scanned: ScannedFile, counts: bool = True) -> str:
    """One line saying what the file is and (with ``counts``) how many probes it has."""
    parts = [scanned.machine or "?"]
    if scanned.format == "elf":
        kind = scanned.elf_type or ".note.stapsdt section alone"
        parts.append(f"ELF{scanned.bits} {scanned.endian}-endian {kind}")
    elif scanned.format == "macho":
        if len(scanned.slices) > 1:
            parts.append(f"Mach-O fat, {plural(len(scanned.slices), 'slice')}")
        else:
            parts.append(f"Mach-O {scanned.bits}-bit {scanned.endian}-endian")
    if counts:
        probes = len({(site.provider, site.name) for site in scanned.sites})
        parts.append(f"{plural(probes, 'probe')}, {plural(len(scanned.sites), 'site')}")
    return f"{scanned.path}: " + ", ".join(parts)


def _table(rows: Sequence[Sequence[str]], widths: Sequence[int] | None = None) -> list[str]:
    if widths is None:
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = []
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return lines


def elide(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters by replacing its middle with ``...``:
    the head names the class and method, the tail the last parameters."""
    if len(text) <= width:
        return text
    tail = (width - 3) // 3
    return text[: width - 3 - tail] + "..." + text[len(text) - tail :]


def _function_cell(report: SiteReport) -> str:
    readable = report.function_name_demangled
    if readable is not None:
        return elide(readable, FUNCTION_WIDTH)
    return report.site.function_name or "-"


def _site_row(report: SiteReport, module: str) -> list[str]:
    site = report.site
    return [
        site.provider,
        module,
        _function_cell(report),
        f"{site.name} (is-enabled)" if site.kind == SiteKind.DOF_IS_ENABLED else site.name,
        hex_or_dash(site.address),
        hex_or_dash(site.file_offset),
        hex_or_dash(site.semaphore_address),
        site.args_raw,
    ]


def _argument_detail(number: int, argument: Argument) -> str:
    if argument.size is None:
        shape = "sizeless"
    else:
        sign = "signed" if argument.signed else "unsigned"
        shape = f"{argument.size} bytes {sign}{' float' if argument.is_float else ''}"
    return f"      arg{number}: {argument.raw:<24} {shape}, operand {argument.operand}"


def _site_detail(number: int, report: SiteReport) -> list[str]:
    site = report.site
    where = f"in {site.function}" if site.function else "in no known function"
    readable = report.function_demangled
    if readable is not None:
        where = f"in {readable} (symbol {site.function})"
    address, offset = hex_or_dash(site.address), hex_or_dash(site.file_offset)
    lines = [f"    site {number}: {address}, file offset {offset}, {where}"]
    if site.stapsdt is not None:
        note = site.stapsdt.note
        lines.append(
            f"      note: pc {note.pc:#x}, base {note.base:#x}, semaphore {note.semaphore:#x}"
            f" (base adjustment: {site.stapsdt.base_adjustment}; in {site.section}"
            f" at file offset {hex_or_dash(site.note_offset)})"
        )
    if site.semaphore_address is not None:
        lines.append(
            f"      semaphore: {site.semaphore_address:#x},"
            f" file offset {hex_or_dash(site.semaphore_file_offset)}"
        )
    if site.dof is not None:
        lines.extend(_dof_detail(site))
    if not site.args:
        lines.append("      no arguments")
    lines.extend(_argument_detail(i, a) for i, a in enumerate(site.args, 1))
    lines.extend(f"      warning: {w}" for w in site.warnings)
    return lines


def _dof_detail(site: Site) -> list[str]:
    info = site.dof
    assert info is not None
    check = {True: "verified", False: "NOT the patched pattern", None: "not checked"}
    lines = [
        f"      dof: {site.kind}, stored offset {info.offset:#x}, traced pc"
        f" {hex_or_dash(site.traced_pc)}, in {info.section} (record at file offset"
        f" {hex_or_dash(site.note_offset)})",
        f"      instruction: {info.instruction or '-'} ({check[info.verified]})",
    ]
    if info.translated_types != info.native_types or info.argmap != tuple(range(len(info.argmap))):
        lines.append(
            f"      translated: {', '.join(info.translated_types) or '-'}"
            f" (argmap {list(info.argmap)})"
        )
    stability = ", ".join(
        f"{key} {a.name}/{a.data}/{a.dependency_class}" for key, a in info.stability
    )
    lines.append(f"      stability: {stability}")
    return lines


def _file_notes(scanned: ScannedFile) -> list[str]:
    """The lines under a file's first: its error, warnings, how it was found, notes."""
    lines = []
    if scanned.error is not None:
        lines.append(f"  error: {scanned.error}")
    lines.extend(f"  warning: {w}" for w in scanned.warnings)
    if scanned.loaded_as is not None:
        loaded = scanned.loaded_as
        lines.append(
            f"  loaded as {loaded.name}: DT_NEEDED of {loaded.needed_by},"
            f" found by {loaded.found_by}"
        )
    lines.extend(f"  note: {note}" for note in scanned.notes)
    return lines


def render_file(report: FileReport, verbose: bool = False, disassemble: bool = False) -> str:
    scanned = report.scanned
    lines = [describe_file(scanned), *_file_notes(scanned)]
    module = os.path.basename(scanned.path)
    arch_of: dict[int, str] = {}
    if len(report.slices) > 1:
        arch_of = {
            id(site.site): piece.slice.arch for piece in report.slices for site in piece.sites
        }
    if report.probes:
        rows = [list(_COLUMNS)]
        for probe in report.probes:
            rows.extend(
                _site_row(site, f"{module}[{arch_of[id(site.site)]}]" if arch_of else module)
                for site in probe.sites
            )
        lines.extend("  " + line for line in _table(rows))
    if verbose:
        for probe in report.probes:
            sites = plural(len(probe.sites), "site")
            first = probe.sites[0].site
            lines.append("")
            lines.append(f"  {probe.probe_id} ({sites}, args: {first.args_raw or '-'})")
            lines.extend(attach_lines(probe.attach))
            for number, site in enumerate(probe.sites, 1):
                lines.extend(_site_detail(number, site))
                lines.extend(_decoded_detail(site, disassemble))
    return "\n".join(lines) + "\n"


def attach_lines(specs: Sequence[AttachSpec]) -> list[str]:
    """Each tool's spec, or why it cannot attach (docs/cli.rst, "Attach specs")."""
    width = max((len(spec.tool) for spec in specs), default=0)
    lines = ["    attach:"]
    for spec in specs:
        if spec.spec is None:
            lines.append(f"      {spec.tool:<{width}}  cannot attach: {spec.why}")
        else:
            lines.append(f"      {spec.tool:<{width}}  {spec.spec}")
            if spec.why is not None:
                lines.append(f"      {'':<{width}}  ({spec.why})")
    return lines


def describe_register(register: Register) -> str:
    if register.width_bits and register.canonical != register.name:
        high = register.bit_offset + register.width_bits - 1
        return f"{register.name} ({register.canonical} bits {register.bit_offset}..{high})"
    return register.name


def _signed(value: int) -> str:
    return f" - {-value}" if value < 0 else f" + {value}"


def describe_location(location: Location) -> str:
    """Where an argument lives, in architecture-neutral words (``memory at rbp - 12``)."""
    if isinstance(location, Constant):
        return f"constant {location.value}"
    if isinstance(location, Register):
        return f"register {describe_register(location)}"
    if isinstance(location, Symbol):
        where = f"{location.name}{_signed(location.offset) if location.offset else ''}"
        how = ", pc-relative" if location.pc_relative else ""
        at = "unresolved" if location.address is None else f"{location.address:#x}"
        return f"memory at {where} ({at}{how})"
    if isinstance(location, Memory):
        terms: list[str] = []
        if location.base is not None:
            terms.append(location.base.name)
        if location.index is not None:
            scale = f"*{location.scale}" if location.scale != 1 else ""
            terms.append(f"{location.index.name}{scale}")
        text = " + ".join(terms)
        if location.symbol is not None:
            sym = location.symbol
            name = f"{sym.relocation}({sym.name})" if sym.relocation else sym.name
            text = f"{text} + {name}" if text else name
        if not text:
            text = f"{location.displacement:#x}"
        elif location.displacement:
            text += _signed(location.displacement)
        if location.symbol is not None and location.symbol.address is not None:
            text += f" (symbol at {location.symbol.address:#x})"
        return f"memory at {text}"
    return f"UNPARSED ({location.reason})"


def describe_argument(number: int, argument: ArgumentReport) -> str:
    sign = "signed" if argument.effective_signed else "unsigned"
    shape = f"{argument.effective_size}-byte {sign}{' float' if argument.is_float else ''}"
    if argument.assumed_size:
        shape += " (assumed)"
    refused = [tool for tool, v in argument.verdicts.items() if not v.ok]
    tail = f"; not readable by {', '.join(refused)}" if refused else ""
    return f"        arg{number} -> {describe_location(argument.location)}, {shape}{tail}"


def _decoded_detail(report: SiteReport, disassemble: bool) -> list[str]:
    """The ``-v`` lines of a site's decoded arguments, and ``-d``'s instructions."""
    arguments = report.arguments
    if arguments is None:
        return []
    lines = [describe_argument(n, a) for n, a in enumerate(arguments, 1)]
    for number, argument in enumerate(arguments, 1):
        lines.extend(f"        arg{number} warning: {w}" for w in argument.warnings)
        for tool, verdict in argument.verdicts.items():
            if not verdict.ok:
                lines.append(f"        arg{number} {tool}: {verdict.why}")
    if disassemble:
        lines.extend(_disassembly(report))
    return lines


def _disassembly(report: SiteReport) -> list[str]:
    check = report.check
    try:
        around = report.disassembly()
    except ImportError:  # pragma: no cover - capstone is a declared dependency
        return ["      disassembly: capstone is not installed"]
    if check is None:
        return []
    verdict = "the sdt.h nop" if check.ok else f"NOT the sdt.h nop ({check.reason})"
    if check.encoding is not None:
        verdict += f"; encoding {check.encoding}"
    lines = [f"      instruction: {check.instruction or '-'} ({verdict})"]
    address = report.site.address
    for ins in around:
        mark = "=>" if ins.address == address else "  "
        lines.append(f"      {mark} {ins.address:#x}: {ins.data.hex():<20} {ins.text}")
    return lines


def render(files: Iterable[FileReport], verbose: bool = False, disassemble: bool = False) -> str:
    """Every file; the members of an ``ar`` archive under one line for the archive,
    those without probes (most of a libpython3.X.a) only counted there."""
    return "".join(iter_render(files, verbose, disassemble))


def iter_render(
    files: Iterable[FileReport | StreamedReport], verbose: bool = False, disassemble: bool = False
) -> Iterator[str]:
    """:func:`render` in pieces, written as the files arrive: a file of at most
    :data:`STREAM_CHUNK` sites as one block, a larger one streamed
    (:func:`iter_streamed_file`).  A file whose format is unknown shows nothing."""
    members: list[FileReport] = []
    first = True

    def blocks() -> Iterator[Iterator[str]]:
        for item in files:
            report = _whole(item, verbose or disassemble)
            if report is None:
                assert isinstance(item, StreamedReport)
                yield iter_streamed_file(item)
                continue
            if report.scanned.format is None:
                continue
            archive = report.scanned.static_library
            if archive is not None:
                if members and members[0].scanned.static_library != archive:
                    yield iter((_archive_block(members, verbose or disassemble, disassemble),))
                    members.clear()
                members.append(report)
                continue
            if members:
                yield iter((_archive_block(members, verbose or disassemble, disassemble),))
                members.clear()
            yield iter((render_file(report, verbose or disassemble, disassemble),))
        if members:
            yield iter((_archive_block(members, verbose or disassemble, disassemble),))

    for pieces in blocks():
        if not first:
            yield "\n"
        first = False
        yield from pieces


#: A streamed file of up to this many sites is listed whole, as :func:`render`
#: lists it (grouped by probe, columns as wide as the widest cell); a larger one
#: row by row in note order, its columns sized per this many rows.
STREAM_CHUNK = 1000


def _whole(report: FileReport | StreamedReport, verbose: bool) -> FileReport | None:
    """The file whole, or None for a streamed file too large to hold (``-v`` and
    ``-d`` group every site by probe, so they always hold the file)."""
    if isinstance(report, FileReport):
        return report
    return report.whole(None if verbose else STREAM_CHUNK)


def iter_streamed_file(report: StreamedReport) -> Iterator[str]:
    """A file of more than :data:`STREAM_CHUNK` sites, in constant memory: the
    first line without the counts, then the rows in note order, the columns
    sized per chunk and never narrower than before, then the counts and what
    the scan says of the file (its error and warnings are known only at the end)."""
    scanned = report.scanned
    yield describe_file(scanned, counts=False) + ", sites in note order\n"
    module = os.path.basename(scanned.path)
    widths = [len(name) for name in _COLUMNS[:-1]]
    header: list[str] | None = list(_COLUMNS)
    sites = 0
    chunk: list[list[str]] = []
    for site in report.iter_sites(attach=False):
        sites += 1
        chunk.append(_site_row(site, module))
        if len(chunk) == STREAM_CHUNK:
            yield _chunk_lines(header, chunk, widths)
            header, chunk = None, []
    if chunk:
        yield _chunk_lines(header, chunk, widths)
    counts = f"{plural(report.probe_count, 'probe')}, {plural(sites, 'site')}"
    yield "\n".join(["  " + counts, *_file_notes(scanned)]) + "\n"


def _chunk_lines(header: list[str] | None, rows: list[list[str]], widths: list[int]) -> str:
    """The rows (after the header, for the first chunk), with ``widths`` widened to fit."""
    shown = rows if header is None else [header, *rows]
    for row in shown:
        for i, width in enumerate(widths):
            widths[i] = max(width, len(row[i]))
    return "".join(f"  {line}\n" for line in _table(shown, widths))


def _archive_block(members: Sequence[FileReport], verbose: bool, disassemble: bool) -> str:
    shown = [m for m in members if m.scanned.sites or m.scanned.error is not None]
    sites = sum(len(m.scanned.sites) for m in members)
    head = (
        f"{members[0].scanned.static_library}: ar archive, "
        f"{plural(len(members), 'object member')}, "
        f"{plural(sites, 'site')} in {plural(len(shown), 'member')}"
    )
    if len(shown) < len(members):
        head += f" (the {len(members) - len(shown)} without probes are not listed)"
    return "\n".join([head + "\n", *(render_file(m, verbose, disassemble) for m in shown)])
