"""Output of ``--pid``: the per-file documents of the other views, plus where
each site and semaphore is in the process and what the semaphore holds.

The JSON adds keys to the file and site objects of docs/json.rst and never
changes the existing ones, so a consumer of ``usdtscan --json FILE`` reads
``usdtscan --pid PID --json`` unchanged.
"""

from __future__ import annotations

import json
from typing import Any

from .. import __version__
from ..attach import process_target
from ..process import MappedFile, Mapping, ProcessScan, SystemScan, TracedProcess
from .json import file_to_json
from .text import attach_lines, describe_file, hex_or_dash, plural


def mapping_to_json(mapping: Mapping) -> dict[str, Any]:
    return {
        "start": mapping.start,
        "end": mapping.end,
        "perms": mapping.perms,
        "offset": mapping.offset,
    }


def mapped_file_to_json(entry: MappedFile, pid: int, demangle: bool = True) -> dict[str, Any]:
    target = process_target(entry.scanned, pid, entry.opened_as)
    document = file_to_json(entry.scanned.analyze(demangle), target)
    document["pid"] = pid
    document["opened_as"] = entry.opened_as
    document["load_bias"] = entry.load_bias
    document["mappings"] = [mapping_to_json(m) for m in entry.mappings]
    for site, runtime in zip(document["probes"], entry.runtime, strict=True):
        site["runtime_address"] = runtime.address
        site["semaphore_runtime_address"] = runtime.semaphore_address
        site["semaphore_value"] = runtime.semaphore_value
    return document


def render_json(result: ProcessScan, demangle: bool = True) -> str:
    document = {
        "usdtscan_version": __version__,
        "pid": result.pid,
        "warnings": list(result.warnings),
        "files": [mapped_file_to_json(entry, result.pid, demangle) for entry in result.files],
    }
    return json.dumps(document) + "\n"


def _attach_blocks(entry: MappedFile, pid: int, demangle: bool) -> list[str]:
    """``-v``: under each probe, the commands that trace it in this one process."""
    target = process_target(entry.scanned, pid, entry.opened_as)
    lines: list[str] = []
    for probe in entry.scanned.analyze(demangle).probes:
        lines.append("")
        lines.append(f"  {probe.probe_id} ({plural(len(probe.sites), 'site')})")
        lines.extend(attach_lines(probe.attach_to(target)))
    return lines


def render_text(result: ProcessScan, verbose: bool = False, demangle: bool = True) -> str:
    """Per file with probes: a header with the load bias, then one row per site; with
    ``verbose``, each probe's attach commands for this process."""
    lines: list[str] = []
    for entry in result.files:
        if not entry.scanned.sites:
            continue
        lines.append(f"{describe_file(entry.scanned)}, load bias {hex_or_dash(entry.load_bias)}")
        rows = [["PROVIDER", "NAME", "RUNTIME ADDRESS", "OFFSET", "SEMAPHORE", "VALUE"]]
        for site, runtime in zip(entry.scanned.sites, entry.runtime, strict=True):
            value = runtime.semaphore_value
            rows.append(
                [
                    site.provider,
                    site.name,
                    hex_or_dash(runtime.address),
                    hex_or_dash(site.file_offset),
                    hex_or_dash(runtime.semaphore_address),
                    "-" if value is None else f"{value}{' (enabled)' if value else ''}",
                ]
            )
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        for row in rows:
            lines.append(
                "  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
            )
        if verbose:
            lines.extend(_attach_blocks(entry, result.pid, demangle))
    if not lines:
        lines.append(f"pid {result.pid}: no mapped file has probes")
    return "\n".join(lines) + "\n"


# -- --pid all ----------------------------------------------------------------------


def _traced_sites(result: SystemScan) -> list[tuple[TracedProcess, MappedFile, int]]:
    """(process, file, site index) of every site whose semaphore a tracer has raised."""
    found = []
    for process in result.processes:
        for entry in process.scan.files:
            for index, runtime in enumerate(entry.runtime):
                if runtime.semaphore_value:
                    found.append((process, entry, index))
    return found


def _counts_line(result: SystemScan) -> str:
    count = len(result.processes)
    line = f"{count} process{'' if count == 1 else 'es'} with probes mapped, "
    line += f"{result.without_probes} without"
    if result.unreadable:
        line += f"; {result.unreadable} not readable (permission denied)"
    if result.gone:
        line += f"; {result.gone} exited while being read"
    return line


def render_system_text(result: SystemScan, verbose: bool = False, demangle: bool = True) -> str:
    """One block per process (its files with probes), then what is traced now; with
    ``verbose``, under each process what ``--pid PID -v`` shows of it: each site's
    runtime address and semaphore value, and each probe's attach commands."""
    lines: list[str] = []
    for process in result.processes:
        where = " (another mount namespace: host paths under /proc/PID/root)"
        head = f"pid {process.pid} {process.comm}: {process.executable or '?'}"
        lines.append(head + (where if process.foreign_namespace else ""))
        for entry in process.scan.files:
            sites = entry.scanned.sites
            enabled = sum(1 for r in entry.runtime if r.semaphore_value)
            probes = len({site.probe_id for site in sites})
            text = f"  {entry.scanned.path}: {plural(probes, 'probe')}, " + plural(
                len(sites), "site"
            )
            if enabled:
                text += f", {enabled} enabled"
            lines.append(text)
            if process.foreign_namespace:
                lines.append(f"    host path {process.host_path(entry.scanned.path)}")
        if verbose:
            detail = render_text(process.scan, verbose=True, demangle=demangle)
            lines.extend(f"    {line}" if line else "" for line in detail.splitlines())
            lines.append("")
    traced = _traced_sites(result)
    if traced:
        lines.append("")
        lines.append("Traced now (semaphore raised):")
        rows = [["PID", "PROBE", "SEMAPHORE", "VALUE", "FILE"]]
        for process, entry, index in traced:
            site = entry.scanned.sites[index]
            runtime = entry.runtime[index]
            rows.append(
                [
                    str(process.pid),
                    site.probe_id,
                    hex_or_dash(runtime.semaphore_address),
                    str(runtime.semaphore_value),
                    process.host_path(entry.scanned.path),
                ]
            )
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        for row in rows:
            lines.append(
                "  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
            )
    elif result.processes:
        lines.append("")
        lines.append("Traced now: no probe's semaphore is raised")
    lines.append(_counts_line(result))
    return "\n".join(lines) + "\n"


def render_system_json(result: SystemScan, demangle: bool = True) -> str:
    processes = []
    for process in result.processes:
        files = []
        for entry in process.scan.files:
            document = mapped_file_to_json(entry, process.pid, demangle)
            document["host_path"] = process.host_path(entry.scanned.path)
            files.append(document)
        processes.append(
            {
                "pid": process.pid,
                "comm": process.comm,
                "executable": process.executable,
                "foreign_mount_namespace": process.foreign_namespace,
                "warnings": list(process.scan.warnings),
                "files": files,
            }
        )
    traced = [
        {
            "pid": process.pid,
            "path": entry.scanned.path,
            "host_path": process.host_path(entry.scanned.path),
            "provider": entry.scanned.sites[index].provider,
            "name": entry.scanned.sites[index].name,
            "semaphore_runtime_address": entry.runtime[index].semaphore_address,
            "semaphore_value": entry.runtime[index].semaphore_value,
        }
        for process, entry, index in _traced_sites(result)
    ]
    document = {
        "usdtscan_version": __version__,
        "processes": processes,
        "traced": traced,
        "without_probes": result.without_probes,
        "unreadable": result.unreadable,
        "gone": result.gone,
    }
    return json.dumps(document) + "\n"
