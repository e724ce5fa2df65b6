"""Recognising CPython in one ELF file, and its version, from what the file itself says.

Four witnesses can say which CPython a file is, and none of them always
can: the ``PY_VERSION`` string in read-only data (gone from separate debug
files), the file name (``python3.11d``, ``libpython3.13t.so.1.0``; says
nothing of ``bin/python3``), the libpython the file needs, and the newest
public API function it defines.  Each is read here, the best one wins, and
a disagreement between them becomes a warning rather than a silent choice.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from .. import ldso
from ..dynamic import dynamic_info
from ..elf import ElfFile, SectionType
from ..fileio import opened
from ..symbols import defined_symbols
from .catalogue import API_INTRODUCED, NEWEST_KNOWN, Version, parse_version

_FILE_NAME = re.compile(r"(?:lib)?python(\d)\.(\d+)([a-z]*)(?:\.so(?:\.[\d.]+)?|\.a)?")
# PY_VERSION as a NUL-delimited string in read-only data: "3.11.2", "3.13.0rc1", "3.14.0a1+".
_VERSION_STRING = re.compile(rb"\x00(3\.\d{1,2}\.\d{1,3}(?:(?:a|b|rc)\d{1,2})?\+?)\x00")
# The linker may merge PY_VERSION into the tail of a longer string that ends
# the same way ("/opt/python/3.11.7"); looked for only when no exact one exists.
_VERSION_TAIL = re.compile(rb"(?<![\d.])(3\.\d{1,2}\.\d{1,3}(?:(?:a|b|rc)\d{1,2})?\+?)\x00")
# unicodedata keeps the Unicode 3.2.0 tables for IDNA, with this version string.
_UCD_32 = b"3.2.0\x00"
_CORE_SYMBOLS = ("Py_Initialize", "Py_BytesMain", "Py_Main")
_DEBUG_SYMBOLS = ("_Py_NegativeRefcount",)


@dataclass(slots=True)
class Detection:
    """What one file says about the CPython in it, and on what evidence."""

    path: str
    is_cpython: bool = False
    version: Version | None = None
    full_version: str | None = None
    version_source: str | None = None
    debug_build: bool = False
    free_threaded: bool = False  # the "t" ABI of --disable-gil builds (libpython3.13t.so)
    needed_libpython: str | None = None
    dynamic: ldso.Target | None = None
    rpath: str | None = None
    runpath: str | None = None
    evidence: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Witnesses:
    """What the name, the read-only data and the symbols say of the version."""

    by_name: tuple[Version, str] | None  # (version, ABI flags)
    name_source: str
    strings: list[str]
    by_symbols: Version | None


def version_from_file_name(path: str) -> tuple[Version, str] | None:
    """(version, ABI flags) from ``python3.11``, ``python3.11d``, ``libpython3.7m.so.1.0``."""
    match = _FILE_NAME.fullmatch(os.path.basename(path))
    if match is None:
        return None
    return (int(match.group(1)), int(match.group(2))), match.group(3)


def version_strings(elf: ElfFile) -> list[str]:
    """Candidate PY_VERSION strings in the file's read-only data, best first."""
    sections = [
        elf.section_data(section)
        for section in elf.sections
        if section.name.startswith(".rodata") and section.type == SectionType.PROGBITS
    ]
    for pattern in (_VERSION_STRING, _VERSION_TAIL):
        found: list[str] = []
        for data in sections:
            for match in pattern.finditer(data):
                if data.startswith(_UCD_32, match.start(1)):
                    continue
                text = match.group(1).decode()
                if text not in found:
                    found.append(text)
        if found:
            return sorted(found, key=lambda text: parse_version(text), reverse=True)
    return []


def detect(path: str) -> Detection:
    """Recognise CPython in one ELF file: symbols, version string, file name, DT_NEEDED.

    Raises UsdtscanError when the file cannot be read as ELF.
    """
    with opened(path) as reader:
        return detect_elf(ElfFile(path, reader), path)


def detect_elf(elf: ElfFile, path: str) -> Detection:
    """:func:`detect` on a file already open; ``path`` is the name the version
    is read from (an archive's, for one of its members)."""
    detection = Detection(path)
    symbols = _read_symbols(elf, detection)
    _read_dynamic(elf, detection)
    witnesses = _witnesses(elf, detection, symbols)
    _read_abi_flags(detection, witnesses)
    if witnesses.by_name is not None and not detection.is_cpython and not witnesses.strings:
        # A file called python3.X with no CPython symbol: a wrapper or a stub.
        detection.warnings.append("the file name says CPython, but no CPython symbol is defined")
    _choose_version(detection, witnesses)
    _warn_of_disagreement(detection, witnesses)
    return detection


def _read_symbols(elf: ElfFile, detection: Detection) -> set[str]:
    api_names = [name for name, _ in API_INTRODUCED]
    symbols = defined_symbols(elf, [*_CORE_SYMBOLS, *_DEBUG_SYMBOLS, *api_names])
    core = [name for name in _CORE_SYMBOLS if name in symbols]
    if core:
        detection.is_cpython = True
        detection.evidence.append("defines " + ", ".join(core))
    if any(name in symbols for name in _DEBUG_SYMBOLS):
        detection.debug_build = True
    return symbols


def _read_dynamic(elf: ElfFile, detection: Detection) -> None:
    """The loader's view: the libpython needed, where to look for it, and what
    a library must be to load."""
    detection.dynamic = ldso.target_of(elf)
    dynamic = dynamic_info(elf)
    if dynamic is None:
        return
    detection.rpath, detection.runpath = dynamic.rpath, dynamic.runpath
    for needed in dynamic.needed:
        if version_from_file_name(needed) is not None and needed.startswith("libpython"):
            detection.needed_libpython = needed
            detection.is_cpython = True
            detection.evidence.append(f"needs {needed}")
            return


def _witnesses(elf: ElfFile, detection: Detection, symbols: set[str]) -> _Witnesses:
    by_name = version_from_file_name(detection.path)
    name_source = "file name"
    if by_name is None and detection.needed_libpython:
        by_name = version_from_file_name(detection.needed_libpython)
        name_source = f"DT_NEEDED {detection.needed_libpython}"
    by_symbols = None
    for name, version in API_INTRODUCED:
        if name in symbols:
            by_symbols = version
    return _Witnesses(by_name, name_source, version_strings(elf), by_symbols)


def _read_abi_flags(detection: Detection, witnesses: _Witnesses) -> None:
    """``d`` (a debug build) from the name that gave the version; ``t``
    (free-threaded) from the file's own name or the libpython it needs."""
    if witnesses.by_name is not None and "d" in witnesses.by_name[1]:
        detection.debug_build = True
    for named in (detection.path, detection.needed_libpython or ""):
        flags = version_from_file_name(named)
        if flags is not None and "t" in flags[1]:
            detection.free_threaded = True


def _choose_version(detection: Detection, witnesses: _Witnesses) -> None:
    """PY_VERSION first, then the name, then the API symbols (only for CPython)."""
    by_name = witnesses.by_name
    if witnesses.strings:
        chosen = witnesses.strings[0]
        if by_name is not None:
            # Several candidates: prefer the one that agrees with the file name.
            agreeing = (s for s in witnesses.strings if parse_version(s) == by_name[0])
            chosen = next(agreeing, chosen)
        detection.full_version = chosen
        detection.version = parse_version(chosen)
        detection.version_source = "version string in read-only data"
        detection.evidence.append(f'PY_VERSION "{chosen}"')
    elif by_name is not None:
        detection.version = by_name[0]
        detection.version_source = witnesses.name_source
    elif witnesses.by_symbols is not None and detection.is_cpython:
        detection.version = witnesses.by_symbols
        detection.version_source = "newest public API symbol (no read-only data)"


def _warn_of_disagreement(detection: Detection, witnesses: _Witnesses) -> None:
    version, by_name, by_symbols = detection.version, witnesses.by_name, witnesses.by_symbols
    if version is None:
        return
    if by_name is not None and by_name[0] != version:
        detection.warnings.append(
            f"the file name says {by_name[0][0]}.{by_name[0][1]}, "
            f"the {detection.version_source} says {detection.full_version}"
        )
    if by_symbols is not None and version < by_symbols <= NEWEST_KNOWN:
        detection.warnings.append(
            f"exports an API function of {by_symbols[0]}.{by_symbols[1]}, "
            f"newer than the detected {version[0]}.{version[1]}"
        )
