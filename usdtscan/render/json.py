"""The JSON contract (documented in docs/json.rst).

Keys are spelled out here, one function per object, rather than derived from
the dataclasses: the contract must not change when a field is renamed
inside the package.  Later versions add keys; they never rename or remove one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from typing import Any

from .. import __version__
from ..args.analysis import SiteArguments, analyze_file
from ..args.consumers import Verdict
from ..args.decode import DecodedArgument
from ..args.location import Constant, Location, Memory, Register, Symbol
from ..model import ArchiveMember, Argument, DofInfo, ScannedFile, Site, Slice, group_sites


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
        "traced_pc": site.address if site.traced_pc is None else site.traced_pc,
        "dof": None if site.dof is None else dof_to_json(site.dof),
    }


def dof_to_json(info: DofInfo) -> dict[str, Any]:
    return {
        "offset": info.offset,
        "section": info.section,
        "function": info.dof_function,
        "native_types": list(info.native_types),
        "translated_types": list(info.translated_types),
        "argmap": list(info.argmap),
        "stability": {
            key: {"name": a.name, "data": a.data, "class": a.dependency_class}
            for key, a in info.stability
        },
        "instruction": info.instruction,
        "verified": info.verified,
    }


def member_to_json(member: ArchiveMember) -> dict[str, Any]:
    return {
        "path": member.archive,
        "member": member.member,
        "containers": list(member.containers),
        "image": member.image,
        "layer": member.layer,
        "image_path": member.image_path,
    }


def slice_to_json(piece: Slice) -> dict[str, Any]:
    return {
        "arch": piece.arch,
        "cputype": piece.cputype,
        "cpusubtype": piece.cpusubtype,
        "offset": piece.offset,
        "size": piece.size,
        "bits": piece.bits,
        "endian": piece.endian,
        "filetype": piece.filetype,
        "probes": [site_to_json(site) for site in piece.sites],
        "warnings": list(piece.warnings),
    }


def register_to_json(register: Register | None) -> dict[str, Any] | None:
    if register is None:
        return None
    return {
        "name": register.name,
        "canonical": register.canonical,
        "width_bits": register.width_bits,
        "bit_offset": register.bit_offset,
        "class": register.register_class,
    }


def symbol_to_json(symbol: Symbol | None) -> dict[str, Any] | None:
    if symbol is None:
        return None
    return {
        "name": symbol.name,
        "offset": symbol.offset,
        "pc_relative": symbol.pc_relative,
        "relocation": symbol.relocation,
        "address": symbol.address,
    }


def location_to_json(location: Location) -> dict[str, Any]:
    """``{"kind", ...}`` with the keys that apply to that kind (docs/arguments.rst)."""
    if isinstance(location, Constant):
        return {"kind": "constant", "value": location.value}
    if isinstance(location, Register):
        return {"kind": "register", "register": register_to_json(location)}
    if isinstance(location, Memory):
        return {
            "kind": "memory",
            "base": register_to_json(location.base),
            "index": register_to_json(location.index),
            "scale": location.scale,
            "shift": location.shift,
            "displacement": location.displacement,
            "symbol": symbol_to_json(location.symbol),
            "address": None if location.symbol is None else location.symbol.address,
        }
    if isinstance(location, Symbol):
        return {
            "kind": "symbol",
            "symbol": symbol_to_json(location),
            "address": location.address,
        }
    return {"kind": "unparsed", "text": location.text, "reason": location.reason}


def verdict_to_json(verdict: Verdict) -> dict[str, Any]:
    return {"ok": verdict.ok, "why": verdict.why}


def decoded_to_json(decoded: DecodedArgument, verdicts: dict[str, Verdict]) -> dict[str, Any]:
    return {
        "location": location_to_json(decoded.location),
        "effective_size": decoded.size,
        "effective_signed": decoded.signed,
        "flags": list(decoded.flags),
        "arg_warnings": list(decoded.warnings),
        "consumers": {tool: verdict_to_json(v) for tool, v in verdicts.items()},
    }


def _site_extras(scanned: ScannedFile) -> list[dict[str, Any]]:
    """The keys that decoding adds to each site: locations, verdicts, check, uprobe."""
    from ..uprobe import uprobe_event

    events: dict[int, str] = {}
    for probe in group_sites(scanned.sites):
        for number, site in enumerate(probe.sites, 1):
            events[id(site)] = probe.name if len(probe.sites) == 1 else f"{probe.name}_{number}"
    path = os.path.abspath(scanned.path)
    extras: list[dict[str, Any]] = []
    for site, analysis in zip(scanned.sites, analyze_file(scanned), strict=True):
        if analysis is None:
            extras.append({"site_check": None, "uprobe": None})
            continue
        machine = scanned.machine or ""
        event = uprobe_event(
            site, analysis.arguments, machine, path, events[id(site)], scanned.bits or 64
        )
        extras.append(
            {
                "arguments": _arguments_json(analysis),
                "site_check": _site_check_json(site, scanned),
                "uprobe": event.line,
                "uprobe_unsupported": list(event.unsupported),
            }
        )
    return extras


def _arguments_json(analysis: SiteArguments) -> list[dict[str, Any]]:
    return [
        decoded_to_json(decoded, verdicts)
        for decoded, verdicts in zip(analysis.arguments, analysis.verdicts, strict=True)
    ]


def _site_check_json(site: Site, scanned: ScannedFile) -> dict[str, Any]:
    try:
        from ..disasm import check_site

        check = check_site(site, scanned.machine or "", scanned.endian or "little")
    except ImportError:
        return {"instruction": None, "ok": False, "reason": "capstone is not installed"}
    return {"instruction": check.instruction, "ok": check.ok, "reason": check.reason}


def _add_site_extras(scanned: ScannedFile, sites: list[dict[str, Any]]) -> None:
    for entry, extra in zip(sites, _site_extras(scanned), strict=True):
        decoded = extra.pop("arguments", [])
        for argument, more in zip(entry["args"], decoded, strict=False):
            argument.update(more)
        entry.update(extra)


def file_to_json(scanned: ScannedFile) -> dict[str, Any]:
    document = _file_to_json(scanned)
    _add_site_extras(scanned, document["probes"])
    return document


def _file_to_json(scanned: ScannedFile) -> dict[str, Any]:
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
        "slices": [slice_to_json(piece) for piece in scanned.slices],
        "archive": None if scanned.member_of is None else member_to_json(scanned.member_of),
    }


def render(files: Iterable[ScannedFile], indent: int | None = None) -> str:
    """The document, compact by default: ``indent`` makes :mod:`json` fall back
    from its C encoder to the pure-Python one, ten times slower on 20,000 sites."""
    document = {
        "usdtscan_version": __version__,
        "files": [file_to_json(scanned) for scanned in files],
    }
    return json.dumps(document, indent=indent) + "\n"
