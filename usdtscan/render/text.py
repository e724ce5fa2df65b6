"""The human view: a ``dtrace -l``-style table per file, and per-probe detail with ``-v``."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

from ..model import Argument, ScannedFile, Site, group_sites

_COLUMNS = ("PROVIDER", "MODULE", "FUNCTION", "NAME", "ADDRESS", "OFFSET", "SEMAPHORE", "ARGS")


def hex_or_dash(value: int | None) -> str:
    """An address in hex, or ``-`` where it does not apply."""
    return "-" if value is None else f"{value:#x}"


def plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def describe_file(scanned: ScannedFile) -> str:
    """One line saying what the file is and how many probes it has."""
    parts = [scanned.machine or "?"]
    if scanned.format == "elf":
        parts.append(f"ELF{scanned.bits} {scanned.endian}-endian {scanned.elf_type}")
    elif scanned.format == "macho":
        if len(scanned.slices) > 1:
            parts.append(f"Mach-O fat, {plural(len(scanned.slices), 'slice')}")
        else:
            parts.append(f"Mach-O {scanned.bits}-bit {scanned.endian}-endian")
    probes = len({(site.provider, site.name) for site in scanned.sites})
    parts.append(f"{plural(probes, 'probe')}, {plural(len(scanned.sites), 'site')}")
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
        f"{site.name} (is-enabled)" if site.kind == "dof-is-enabled" else site.name,
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


def _site_detail(number: int, site: Site) -> list[str]:
    where = f"in {site.function}" if site.function else "in no known function"
    address, offset = hex_or_dash(site.address), hex_or_dash(site.file_offset)
    lines = [f"    site {number}: {address}, file offset {offset}, {where}"]
    if site.note is not None:
        note = site.note
        lines.append(
            f"      note: pc {note.pc:#x}, base {note.base:#x}, semaphore {note.semaphore:#x}"
            f" (base adjustment: {site.base_adjustment}; in {site.section}"
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


def render_file(scanned: ScannedFile, verbose: bool = False, disassemble: bool = False) -> str:
    lines = [describe_file(scanned)]
    if scanned.error is not None:
        lines.append(f"  error: {scanned.error}")
    lines.extend(f"  warning: {w}" for w in scanned.warnings)
    module = os.path.basename(scanned.path)
    probes = group_sites(scanned.sites)
    arch_of: dict[int, str] = {}
    if len(scanned.slices) > 1:
        arch_of = {id(site): piece.arch for piece in scanned.slices for site in piece.sites}
    if probes:
        rows = [list(_COLUMNS)]
        for probe in probes:
            rows.extend(
                _site_row(site, f"{module}[{arch_of[id(site)]}]" if arch_of else module)
                for site in probe.sites
            )
        lines.extend("  " + line for line in _table(rows))
    if verbose:
        for probe in probes:
            sites = plural(len(probe.sites), "site")
            lines.append("")
            lines.append(f"  {probe.probe_id} ({sites}, args: {probe.sites[0].args_raw or '-'})")
            for number, site in enumerate(probe.sites, 1):
                lines.extend(_site_detail(number, site))
                lines.extend(_decoded_detail(site, scanned, disassemble))
    return "\n".join(lines) + "\n"


def _decoded_detail(site: Site, scanned: ScannedFile, disassemble: bool) -> list[str]:
    from ..args.describe import site_lines

    return site_lines(site, scanned, disassemble)


def render(files: Iterable[ScannedFile], verbose: bool = False, disassemble: bool = False) -> str:
    return "\n".join(render_file(scanned, verbose or disassemble, disassemble) for scanned in files)
