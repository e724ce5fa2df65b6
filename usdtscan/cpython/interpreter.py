"""One CPython build as the check sees it: the files that hold its markers, each read once.

An ``--enable-shared`` build keeps its markers in libpython, not in the
executable, so an executable that needs a libpython is resolved the way
ld.so would (:mod:`usdtscan.ldso`) and both files are read.  A static
``libpython3.X.a`` is read member by member.  Each file is opened once:
the same reader serves the CPython detection and the probe scan.
"""

from __future__ import annotations

import enum
import os
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .. import ldso
from ..elf import ElfFile
from ..errors import UsdtscanError
from ..fileio import BytesReader, FileReader, opened
from ..magic import is_archive
from ..model import ScannedFile, Site
from ..scan import scan_data
from .catalogue import Version
from .detection import Detection, detect_elf

if TYPE_CHECKING:
    from ..archive import Archive


class BuildKind(str, enum.Enum):
    """Where a build keeps its markers, which decides what a tracer attaches to."""

    SHARED = "shared"  # in the libpython the executable loads
    ARCHIVE = "archive"  # in the members of a static libpython3.X.a
    LIBRARY = "library"  # a libpython checked by itself
    STATIC = "static"  # in the executable

    def __str__(self) -> str:
        return self.value


class PartRole(str, enum.Enum):
    """What one file read for the check is to the build."""

    EXECUTABLE = "executable"  # an executable that loads a libpython
    LIBRARY = "library"  # the libpython it loads
    FILE = "file"  # a file that holds its own markers
    MEMBER = "member"  # a member of a static archive

    def __str__(self) -> str:
        return self.value


@dataclass(slots=True)
class Part:
    """One file of the interpreter: the executable, or the libpython it loads."""

    path: str
    role: PartRole
    scanned: ScannedFile


@dataclass(slots=True)
class Interpreter:
    """A CPython build as the check sees it: where its markers live and which version it is."""

    path: str
    detection: Detection
    parts: list[Part] = field(default_factory=list)
    version: Version | None = None
    version_source: str | None = None
    library: ldso.Resolution | None = None
    error: str | None = None
    archive: bool = False

    @property
    def build(self) -> BuildKind:
        """``shared`` (markers in a libpython it loads), ``archive`` (a static
        ``libpython3.X.a``, markers in its members), ``library``, or ``static``."""
        if self.library is not None:
            return BuildKind.SHARED
        if self.archive:
            return BuildKind.ARCHIVE
        if os.path.basename(self.path).startswith("libpython"):
            return BuildKind.LIBRARY
        return BuildKind.STATIC

    @property
    def marker_file(self) -> str:
        """The file a tracer attaches to: the libpython of a shared build, else the file."""
        if self.library is not None:
            # Unresolved: the DT_NEEDED name is still the file the markers are in.
            return self.library.path or self.library.name
        return self.path

    @property
    def library_not_found(self) -> bool:
        return self.library is not None and self.library.path is None

    def sites(self) -> list[tuple[str, Site]]:
        return [(part.path, site) for part in self.parts for site in part.scanned.sites]


def open_interpreter(
    path: str,
    *,
    python_version: Version | None = None,
    environ: dict[str, str] | None = None,
    sysroot: str = "/",
) -> Interpreter:
    """Detect, resolve libpython if the executable loads one, and scan every part.

    Never raises for a bad input: ``Interpreter.error`` says what could not
    be read, and the caller turns that into exit status 2.
    """
    try:
        with opened(path) as reader:
            if is_archive(reader.head(24)):
                interpreter = _open_archive(path, reader)
            else:
                interpreter = _open_elf(path, reader)
    except UsdtscanError as exc:
        return Interpreter(path, Detection(path), error=exc.reason)
    if interpreter.error is None and interpreter.detection.needed_libpython:
        _open_library(interpreter, environ, sysroot)
    # A part that could not be read leaves the version unknown; a libpython
    # the loader would not find does not, since its DT_NEEDED name says it.
    if interpreter.archive or interpreter.error is None or interpreter.library_not_found:
        _set_version(interpreter, python_version)
    return interpreter


def _scan(reader: FileReader | BytesReader) -> ScannedFile:
    """The probe scan of a file already open; a failure is the result's ``error``."""
    try:
        scanned = scan_data(reader.path, reader)
    except UsdtscanError as exc:
        return ScannedFile(reader.path, error=exc.reason)
    changed = reader.changed()
    if changed is not None and scanned.error is None:
        scanned.error = changed
    return scanned


def _open_elf(path: str, reader: FileReader | BytesReader) -> Interpreter:
    """The checked file itself; raises UsdtscanError when it is not readable ELF."""
    detection = detect_elf(ElfFile(path, reader), path)
    interpreter = Interpreter(path, detection)
    scanned = _scan(reader)
    if scanned.error is not None:
        interpreter.error = scanned.error
        return interpreter
    role = PartRole.EXECUTABLE if detection.needed_libpython else PartRole.FILE
    interpreter.parts.append(Part(path, role, scanned))
    return interpreter


def _open_library(interpreter: Interpreter, environ: dict[str, str] | None, sysroot: str) -> None:
    """The libpython a shared build loads, found as ld.so would find it.

    The loader's search reads each candidate's header, as ld.so does; the
    candidate it accepts is scanned and examined in that same open, so the
    check opens every file once."""
    detection = interpreter.detection
    needed, target = detection.needed_libpython, detection.dynamic
    if needed is None or target is None:
        return
    read: dict[str, _LibraryRead] = {}
    loader = ldso.Loader(
        target, environ=environ, sysroot=sysroot, inspect=_LibraryInspector(target, read)
    )
    origin = os.path.dirname(os.path.realpath(interpreter.path))
    resolution = loader.resolve(needed, origin, detection.rpath, detection.runpath)
    interpreter.library = resolution
    if resolution.path is None:
        interpreter.error = (
            f"needs {resolution.name}, which the loader would not find "
            f"(tried {len(resolution.tried)} places; set LD_LIBRARY_PATH or --sysroot)"
        )
        return
    library_path = resolution.path
    scanned, found = read[library_path]
    if scanned.error is not None:
        interpreter.error = f"{library_path}: {scanned.error}"
        return
    interpreter.parts.append(Part(library_path, PartRole.LIBRARY, scanned))
    if isinstance(found, str):
        interpreter.error = found
        return
    _take_library_evidence(detection, found, library_path)


# A libpython candidate the loader accepted: its scan, and its detection or why
# that failed.
_LibraryRead = tuple[ScannedFile, Detection | str]


class _LibraryInspector:
    """The loader's candidate check that also reads the candidate it will accept."""

    def __init__(self, wanted: ldso.Target, read: dict[str, _LibraryRead]) -> None:
        self.wanted = wanted
        self.read = read

    def __call__(self, candidate: str) -> ldso.Target | None:
        path = os.path.normpath(candidate)  # the name the resolution gives it
        try:
            with opened(path) as reader:
                elf = ElfFile(path, reader)
                found = ldso.target_of(elf)
                if ldso.accepts(self.wanted, found):
                    self.read[path] = (_scan(reader), _detect_or_reason(elf, path))
                return found
        except UsdtscanError:
            return None  # ld.so skips a candidate it cannot map, for any reason


def _detect_or_reason(elf: ElfFile, path: str) -> Detection | str:
    try:
        return detect_elf(elf, path)
    except UsdtscanError as exc:
        return str(exc)


def _take_library_evidence(detection: Detection, library: Detection, library_path: str) -> None:
    """The executable's detection gains what its libpython says: its version
    (the library holds PY_VERSION), and its debug and free-threaded flags."""
    if library.version is not None:
        detection.version = library.version
        detection.full_version = library.full_version
        detection.version_source = f"{library.version_source} of {library_path}"
        detection.evidence += [f"{library_path}: {e}" for e in library.evidence]
    detection.debug_build = detection.debug_build or library.debug_build
    detection.free_threaded = detection.free_threaded or library.free_threaded


def _set_version(interpreter: Interpreter, python_version: Version | None) -> None:
    if python_version is not None:
        interpreter.version, interpreter.version_source = python_version, "--python-version"
    else:
        interpreter.version = interpreter.detection.version
        interpreter.version_source = interpreter.detection.version_source


def _open_archive(path: str, reader: FileReader | BytesReader) -> Interpreter:
    """A static ``libpython3.X.a``: every member is scanned and read for the
    CPython evidence, which is then merged, so that the archive gets the
    verdict of the library linked from the same objects."""
    from ..archive import read_archive

    interpreter = Interpreter(path, Detection(path), archive=True)
    try:
        witness = _read_members(interpreter, read_archive(path, reader), reader)
    except UsdtscanError as exc:
        interpreter.error = exc.reason
        return interpreter
    if interpreter.error is not None:
        return interpreter
    if not interpreter.parts:
        interpreter.error = "an ar archive with no ELF member"
        return interpreter
    if interpreter.parts[0].scanned.sites == [] and len(interpreter.parts) > 1:
        del interpreter.parts[0]
    if witness is not None:
        merged = interpreter.detection
        merged.version, merged.full_version = witness.version, witness.full_version
        merged.version_source = witness.version_source
        merged.warnings = [w for w in witness.warnings if "no CPython symbol" not in w]
    return interpreter


def _read_members(
    interpreter: Interpreter, archive: Archive, reader: FileReader | BytesReader
) -> Detection | None:
    """Each ELF member becomes a part (those with sites, or the first) and adds
    its evidence; returns the member detection the version is taken from."""
    from ..archive import object_members

    merged = interpreter.detection
    witness: Detection | None = None
    for member, content, problem in object_members(archive, reader):
        name = archive.member_path(member)
        if content is None:
            interpreter.error = problem
            return witness
        scanned = scan_data(name, content, None)
        if scanned.error is not None:
            interpreter.error = f"{name}: {scanned.error}"
            return witness
        if scanned.sites or not interpreter.parts:
            interpreter.parts.append(Part(name, PartRole.MEMBER, scanned))
        found = detect_elf(ElfFile(name, content), interpreter.path)
        merged.is_cpython = merged.is_cpython or found.is_cpython
        merged.debug_build = merged.debug_build or found.debug_build
        merged.free_threaded = merged.free_threaded or found.free_threaded
        merged.evidence += [f"{member.name}: {e}" for e in found.evidence]
        # The member with PY_VERSION in its read-only data is the best witness.
        better = found.full_version is not None and (witness is None or not witness.full_version)
        if better or (witness is None and found.version is not None):
            witness = found
    return witness


# -- the interpreter running us ------------------------------------------------


def running_interpreter_files() -> list[str]:
    """``sys.executable`` and the libpython it has loaded, if any."""
    files = [os.path.realpath(sys.executable)] if sys.executable else []
    for library in _loaded_libpython():
        if library not in files:
            files.append(library)
    return files


def _loaded_libpython() -> list[str]:
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            lines = maps.read().splitlines()
    except OSError:
        lines = []
    found: list[str] = []
    for line in lines:
        fields = line.split(None, 5)
        if len(fields) == 6 and os.path.basename(fields[5]).startswith("libpython"):
            path = os.path.realpath(fields[5])
            if path not in found:
                found.append(path)
    if found or lines:
        return found
    return _configured_libpython()


def _configured_libpython() -> list[str]:
    """Without /proc (macOS, BSD): the libpython of the build configuration."""
    import sysconfig

    if sysconfig.get_config_var("Py_ENABLE_SHARED"):
        libdir = sysconfig.get_config_var("LIBDIR") or ""
        name = sysconfig.get_config_var("LDLIBRARY") or ""
        candidate = os.path.join(libdir, name)
        if os.path.isfile(candidate):
            return [candidate]
    return []
