"""The human view: a ``dtrace -l``-style table per file, and per-probe detail with ``-v``."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

from ..model import Argument, ScannedFile, Site, group_sites

_COLUMNS = ("PROVIDER", "MODULE", "FUNCTION", "NAME", "ADDRESS", "OFFSET", "SEMAPHORE", "ARGS")


def _hex(value: int | None) -> str:
    return "-" if value is None else f"{value:#x}"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def describe_file(scanned: ScannedFile) -> str:
    """One line saying what the file is and how many probes it has."""
    parts = [scanned.machine or "?"]
    if scanned.format == "elf":
        parts.append(f"ELF{scanned.bits} {scanned.endian}-endian {scanned.elf_type}")
    probes = len(group_sites(scanned.sites))
    parts.append(f"{_plural(probes, 'probe')}, {_plural(len(scanned.sites), 'site')}")
    return f"{scanned.path}: " + ", ".join(parts)


def _table(rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = []
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return lines


def _site_row(site: Site, module: str) -> list[str]:
    return [
        site.provider,
        module,
        site.function_name or "-",
        site.name,
        _hex(site.address),
        _hex(site.file_offset),
        _hex(site.semaphore_address),
        site.args_raw,
    ]


def _argument_detail(number: int, argument: Argument) -> str:
    if argument.size is None:
        shape = "sizeless"
    else:
        sign = "signed" if argument.signed else "unsigned"
        shape = f"{argument.size} bytes {sign}{' float' if argument.is_float else ''}"
    return f"      arg{number}: {argument.raw:<24} {shape}, operand {argument.operand}"


def _site_detail(number: int, site: Site) -> list[str]:
    where = f"in {site.function}" if site.function else "in no known function"
    lines = [
        f"    site {number}: {_hex(site.address)}, file offset {_hex(site.file_offset)}, {where}"
    ]
    if site.note is not None:
        note = site.note
        lines.append(
            f"      note: pc {note.pc:#x}, base {note.base:#x}, semaphore {note.semaphore:#x}"
            f" (base adjustment: {site.base_adjustment}; in {site.section}"
            f" at file offset {_hex(site.note_offset)})"
        )
    if site.semaphore_address is not None:
        lines.append(
            f"      semaphore: {site.semaphore_address:#x},"
            f" file offset {_hex(site.semaphore_file_offset)}"
        )
    if not site.args:
        lines.append("      no arguments")
    lines.extend(_argument_detail(i, a) for i, a in enumerate(site.args, 1))
    lines.extend(f"      warning: {w}" for w in site.warnings)
    return lines


def render_file(scanned: ScannedFile, verbose: bool = False) -> str:
    lines = [describe_file(scanned)]
    if scanned.error is not None:
        lines.append(f"  error: {scanned.error}")
    lines.extend(f"  warning: {w}" for w in scanned.warnings)
    module = os.path.basename(scanned.path)
    probes = group_sites(scanned.sites)
    if probes:
        rows = [list(_COLUMNS)]
        for probe in probes:
            rows.extend(_site_row(site, module) for site in probe.sites)
        lines.extend("  " + line for line in _table(rows))
    if verbose:
        for probe in probes:
            sites = _plural(len(probe.sites), "site")
            lines.append("")
            lines.append(f"  {probe.probe_id} ({sites}, args: {probe.sites[0].args_raw or '-'})")
            for number, site in enumerate(probe.sites, 1):
                lines.extend(_site_detail(number, site))
    return "\n".join(lines) + "\n"


def render(files: Iterable[ScannedFile], verbose: bool = False) -> str:
    return "\n".join(render_file(scanned, verbose) for scanned in files)
