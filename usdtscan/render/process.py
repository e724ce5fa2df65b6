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
from ..process import MappedFile, Mapping, ProcessScan
from .json import file_to_json
from .text import describe_file, hex_or_dash


def mapping_to_json(mapping: Mapping) -> dict[str, Any]:
    return {
        "start": mapping.start,
        "end": mapping.end,
        "perms": mapping.perms,
        "offset": mapping.offset,
    }


def mapped_file_to_json(entry: MappedFile, pid: int) -> dict[str, Any]:
    document = file_to_json(entry.scanned)
    document["pid"] = pid
    document["opened_as"] = entry.opened_as
    document["load_bias"] = entry.load_bias
    document["mappings"] = [mapping_to_json(m) for m in entry.mappings]
    for site, runtime in zip(document["probes"], entry.runtime, strict=True):
        site["runtime_address"] = runtime.address
        site["semaphore_runtime_address"] = runtime.semaphore_address
        site["semaphore_value"] = runtime.semaphore_value
    return document


def render_json(result: ProcessScan) -> str:
    document = {
        "usdtscan_version": __version__,
        "pid": result.pid,
        "warnings": list(result.warnings),
        "files": [mapped_file_to_json(entry, result.pid) for entry in result.files],
    }
    return json.dumps(document) + "\n"


def render_text(result: ProcessScan) -> str:
    """Per file with probes: a header with the load bias, then one row per site."""
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
    if not lines:
        lines.append(f"pid {result.pid}: no mapped file has probes")
    return "\n".join(lines) + "\n"
