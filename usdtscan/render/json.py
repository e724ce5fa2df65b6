"""The JSON contract (documented in docs/json.rst).

Keys are spelled out here, one function per object, rather than derived from
the dataclasses: the contract must not change when a field is renamed
inside the package.  Later versions add keys; they never rename or remove one.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from .. import __version__
from ..model import Argument, ScannedFile, Site, group_sites


def argument_to_json(argument: Argument) -> dict[str, Any]:
    return {
        "raw": argument.raw,
        "size": argument.size,
        "signed": argument.signed,
        "float": argument.is_float,
        "operand": argument.operand,
    }


def site_to_json(site: Site) -> dict[str, Any]:
    note = site.note
    return {
        "provider": site.provider,
        "name": site.name,
        "kind": site.kind,
        "note": None
        if note is None
        else {"pc": note.pc, "base": note.base, "semaphore": note.semaphore},
        "address": site.address,
        "file_offset": site.file_offset,
        "semaphore_address": site.semaphore_address,
        "semaphore_file_offset": site.semaphore_file_offset,
        "function": site.function,
        "args_raw": site.args_raw,
        "args": [argument_to_json(a) for a in site.args],
        "base_adjustment": site.base_adjustment,
        "section": site.section,
        "note_offset": site.note_offset,
        "warnings": list(site.warnings),
    }


def file_to_json(scanned: ScannedFile) -> dict[str, Any]:
    index = {id(site): i for i, site in enumerate(scanned.sites)}
    return {
        "path": scanned.path,
        "format": scanned.format,
        "machine": scanned.machine,
        "bits": scanned.bits,
        "endian": scanned.endian,
        "elf_type": scanned.elf_type,
        "error": scanned.error,
        "probes": [site_to_json(site) for site in scanned.sites],
        "groups": [
            {
                "provider": probe.provider,
                "name": probe.name,
                "sites": [index[id(site)] for site in probe.sites],
            }
            for probe in group_sites(scanned.sites)
        ],
        "function_source": scanned.function_source,
        "other_notes": [
            {"section": n.section, "type": n.type, "size": n.size, "offset": n.offset}
            for n in scanned.other_notes
        ],
        "warnings": list(scanned.warnings),
    }


def render(files: Iterable[ScannedFile]) -> str:
    document = {
        "usdtscan_version": __version__,
        "files": [file_to_json(scanned) for scanned in files],
    }
    return json.dumps(document, indent=2) + "\n"
