"""The JSON contract (documented in docs/json.rst).

Keys are spelled out here, one function per object, rather than derived from
the dataclasses: the contract must not change when a field is renamed
inside the package.  Later versions add keys; they never rename or remove one.
Everything here formats the analysis stage's reports (:mod:`usdtscan.analysis`);
nothing is computed.  The document is written file by file and site by site,
each piece by :mod:`json`'s C encoder, so a file's sites are never all held
as JSON objects at once.
"""

from __future__ import annotations

import json
import json.encoder
import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from .. import __version__
from ..analysis import (
    ArgumentReport,
    Constant,
    FileReport,
    Location,
    Memory,
    ProbeReport,
    Register,
    SiteReport,
    SliceReport,
    StreamedReport,
    Symbol,
    Verdict,
)
from ..attach import AttachSpec, AttachTarget
from ..model import ArchiveMember, Argument, DofInfo, Site


def argument_to_json(argument: Argument) -> dict[str, Any]:
    return {
        "raw": argument.raw,
        "size": argument.size,
        "signed": argument.signed,
        "float": argument.is_float,
        "operand": argument.operand,
    }


def site_to_json(site: Site, function_demangled: str | None = None) -> dict[str, Any]:
    """``function`` is the symbol as stored; ``function_demangled`` (from the
    analysis: :attr:`SiteReport.function_demangled`) its C++/Rust reading."""
    return {
        **_site_before_args(site, function_demangled),
        "args": [argument_to_json(a) for a in site.args],
        **_site_after_args(site),
    }


def _site_before_args(site: Site, function_demangled: str | None) -> dict[str, Any]:
    info = site.stapsdt
    note = None if info is None else info.note
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
        "function_demangled": function_demangled,
        "args_raw": site.args_raw,
    }


def _site_after_args(site: Site) -> dict[str, Any]:
    info = site.stapsdt
    return {
        "base_adjustment": None if info is None else info.base_adjustment,
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


def slice_to_json(report: SliceReport) -> dict[str, Any]:
    piece = report.slice
    return {
        "arch": piece.arch,
        "cputype": piece.cputype,
        "cpusubtype": piece.cpusubtype,
        "offset": piece.offset,
        "size": piece.size,
        "bits": piece.bits,
        "endian": piece.endian,
        "filetype": piece.filetype,
        "probes": [site_to_json(site.site, site.function_demangled) for site in report.sites],
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


def argument_report_to_json(argument: ArgumentReport) -> dict[str, Any]:
    """The keys that decoding adds to an argument of ``args``."""
    return {
        "location": location_to_json(argument.location),
        "effective_size": argument.effective_size,
        "effective_signed": argument.effective_signed,
        "flags": list(argument.flags),
        "arg_warnings": list(argument.warnings),
        "consumers": {tool: verdict_to_json(v) for tool, v in argument.verdicts.items()},
        "consumers_by_version": {key: verdict_to_json(v) for key, v in argument.versioned.items()},
    }


def site_report_to_json(report: SiteReport) -> dict[str, Any]:
    """A site of ``probes``: the scanned fields, then what the analysis adds."""
    entry = site_to_json(report.site, report.function_demangled)
    arguments = report.arguments
    if arguments is None:
        entry["site_check"] = None
        entry["uprobe"] = None
        return entry
    for argument, decoded in zip(entry["args"], arguments, strict=False):
        argument.update(argument_report_to_json(decoded))
    return {**entry, **_analysis_after_args(report)}


def _analysis_after_args(report: SiteReport) -> dict[str, Any]:
    """``site_check``, ``uprobe`` and ``uprobe_unsupported`` of an analyzed site."""
    check, event = report.check, report.uprobe
    assert check is not None and event is not None
    return {
        "site_check": {
            "instruction": check.instruction,
            "ok": check.ok,
            "reason": check.reason,
            "nop_encoding": check.encoding,
        },
        "uprobe": event.line,
        "uprobe_unsupported": list(event.unsupported),
    }


def site_report_text(report: SiteReport) -> str:
    """``site_report_to_json(report)`` encoded, byte for byte, the way a large file
    can afford: each argument's text is encoded once per distinct
    :class:`ArgumentReport` (the analysis shares one among all the sites that
    spell the argument alike) and spliced in."""
    arguments = report.arguments
    if arguments is None:
        return _encode(site_report_to_json(report))
    site = report.site
    return (
        _encode(_site_before_args(site, report.function_demangled))[:-1]
        + ', "args": ['
        + ", ".join([_argument_text(argument) for argument in arguments])
        + "], "
        + _encode({**_site_after_args(site), **_analysis_after_args(report)})[1:]
    )


# id(report) -> (report, its text): holding the report keeps its id from being reused.
_ARGUMENT_TEXTS: dict[int, tuple[ArgumentReport, str]] = {}
_ARGUMENT_TEXTS_LIMIT = 1024


def _argument_text(argument: ArgumentReport) -> str:
    found = _ARGUMENT_TEXTS.get(id(argument))
    if found is not None:
        return found[1]
    text = _encode({**argument_to_json(argument.note), **argument_report_to_json(argument)})
    if len(_ARGUMENT_TEXTS) >= _ARGUMENT_TEXTS_LIMIT:
        _ARGUMENT_TEXTS.clear()
    _ARGUMENT_TEXTS[id(argument)] = (argument, text)
    return text


def _file_head(report: FileReport | StreamedReport) -> dict[str, Any]:
    scanned = report.scanned
    return {
        "path": scanned.path,
        "format": scanned.format,
        "machine": scanned.machine,
        "bits": scanned.bits,
        "endian": scanned.endian,
        "elf_type": scanned.elf_type,
    }


def _file_tail(report: FileReport | StreamedReport) -> dict[str, Any]:
    """The keys after ``probes`` but ``groups`` (streamed: see :func:`iter_file`)."""
    # The error comes after the sites: a streamed file knows it only at the end.
    scanned = report.scanned
    return {
        "error": scanned.error,
        "groups": None,
        "function_source": scanned.function_source,
        "other_notes": [
            {"section": n.section, "type": n.type, "size": n.size, "offset": n.offset}
            for n in scanned.other_notes
        ],
        "warnings": list(scanned.warnings),
        "slices": [slice_to_json(piece) for piece in report.slices],
        "archive": None if scanned.member_of is None else member_to_json(scanned.member_of),
        "notes": list(scanned.notes),
        "loaded_as": None
        if scanned.loaded_as is None
        else {
            "name": scanned.loaded_as.name,
            "needed_by": scanned.loaded_as.needed_by,
            "found_by": scanned.loaded_as.found_by,
        },
    }


def attach_to_json(specs: Iterable[AttachSpec]) -> dict[str, dict[str, str]]:
    """``attach`` (tool to spec), ``attach_refused`` and ``attach_notes`` (tool to reason)."""
    attach: dict[str, str] = {}
    refused: dict[str, str] = {}
    notes: dict[str, str] = {}
    for spec in specs:
        if spec.spec is None:
            refused[spec.tool] = spec.why or ""
        else:
            attach[spec.tool] = spec.spec
            if spec.why is not None:
                notes[spec.tool] = spec.why
    return {"attach": attach, "attach_refused": refused, "attach_notes": notes}


def _group(probe: ProbeReport, target: AttachTarget | None = None) -> dict[str, Any]:
    specs = probe.attach if target is None else probe.attach_to(target)
    return {
        "provider": probe.provider,
        "name": probe.name,
        "sites": list(probe.indices),
        **attach_to_json(specs),
    }


def file_to_json(report: FileReport, attach_target: AttachTarget | None = None) -> dict[str, Any]:
    """One element of ``files``, whole (for callers that add keys, as ``--pid`` does);
    ``attach_target`` names the file for the attach specs (a process's view of it)."""
    return {
        **_file_head(report),
        "probes": [site_report_to_json(site) for site in report.sites],
        **_file_tail(report),
        "groups": [_group(probe, attach_target) for probe in report.probes],
    }


def _c_encoder() -> Callable[[Any], str]:
    """``json.dumps`` with its defaults, by json's C encoder made once:
    ``JSONEncoder.encode`` makes one per call, which costs more than encoding
    a site.  (``c_make_encoder`` is None only where CPython lacks ``_json``.)"""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover
        return json.JSONEncoder().encode
    chunks = make(
        None, None, json.encoder.encode_basestring_ascii, None, ": ", ", ", False, False, True
    )
    return lambda obj: "".join(chunks(obj, 0))


_encode = _c_encoder()


def _inner(obj: dict[str, Any]) -> str:
    """An object's members without its braces, to splice a streamed list between."""
    return _encode(obj)[1:-1]


def iter_file(report: FileReport | StreamedReport) -> Iterator[str]:
    """Pieces of one ``files`` element, equal when parsed to ``file_to_json()``:
    sites and groups are written one at a time."""
    yield "{" + _inner(_file_head(report)) + ', "probes": ['
    for number, site in enumerate(report.sites):
        yield (", " if number else "") + site_report_text(site)
    error, rest = _inner(_file_tail(report)).split(', "groups": null', 1)
    yield "], " + error + ', "groups": ['
    for number, probe in enumerate(report.probes):
        yield (", " if number else "") + _encode(_group(probe))
    yield "]" + rest + "}"


def iter_document(files: Iterable[FileReport | StreamedReport]) -> Iterator[str]:
    """The whole document, in pieces, as the files arrive."""
    yield "{" + _inner({"usdtscan_version": __version__}) + ', "files": ['
    for number, report in enumerate(files):
        if number:
            yield ", "
        yield from iter_file(report)
    yield "]}\n"


def render(files: Iterable[FileReport]) -> str:
    """The document as one string (tests and small inputs; the CLI streams it)."""
    return "".join(iter_document(files))


def schema_text() -> str:
    """The JSON Schema of the document (shipped beside this package), as text."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(here, "usdtscan.schema.json"), encoding="utf-8") as stream:
        return stream.read()
