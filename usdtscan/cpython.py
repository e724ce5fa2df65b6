"""What usdtscan knows about CPython: its markers, and how to find them in a build.

The set of markers a ``--with-dtrace`` build should carry depends on its
version, and the documentation is not a reliable source (it still lists
``function__entry`` and ``line`` for 3.12, where the new monitoring
removed them), so the catalogue here was written from ``Include/pydtrace.d``
and the callers in each release, and checked against Debian's builds.

Finding the markers means first finding the interpreter: an
``--enable-shared`` build keeps them in libpython, not in the executable,
so an executable that needs a libpython is resolved the way ld.so would
(:mod:`usdtscan.ldso`) and both files are read.

This module computes; :mod:`usdtscan.render.checks` renders.
"""

from __future__ import annotations

import os
import re
import sys
import sysconfig
from collections.abc import Sequence
from dataclasses import dataclass, field

from . import ldso
from .dynamic import dynamic_info
from .elf import ElfFile, Machine, SectionType
from .errors import UsdtscanError
from .fileio import opened
from .magic import is_archive
from .model import ScannedFile, Site
from .scan import scan_or_error
from .symbols import defined_symbols

PROVIDER = "python"
Version = tuple[int, int]

# -- the catalogue ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ArgSpec:
    """One marker argument.

    ``kind`` is ``string`` (a ``const char *``), ``object`` (a ``PyObject *``),
    ``int`` (a C ``int``: 4 bytes, signed) or ``ssize`` (``Py_ssize_t``:
    pointer-sized, signed).
    """

    name: str
    kind: str
    c_type: str


@dataclass(frozen=True, slots=True)
class MarkerSpec:
    name: str
    args: tuple[ArgSpec, ...]
    # Inclusive (first, last) version ranges; last None means "still there".
    ranges: tuple[tuple[Version, Version | None], ...]
    description: str

    def expected_in(self, version: Version) -> bool:
        return any(
            first <= version and (last is None or version <= last) for first, last in self.ranges
        )

    @property
    def dtrace_name(self) -> str:
        """The name as D scripts spell it: ``function-entry``."""
        return self.name.replace("__", "-")


_FRAME_ARGS = (
    ArgSpec("filename", "string", "const char *"),
    ArgSpec("funcname", "string", "const char *"),
    ArgSpec("lineno", "int", "int"),
)
_NEVER: tuple[tuple[Version, Version | None], ...] = ()

MARKERS: tuple[MarkerSpec, ...] = (
    MarkerSpec(
        "function__entry",
        _FRAME_ARGS,
        (((3, 6), (3, 11)), ((3, 15), None)),
        "a Python function starts executing",
    ),
    MarkerSpec(
        "function__return",
        _FRAME_ARGS,
        (((3, 6), (3, 11)), ((3, 15), None)),
        "a Python function returns or raises",
    ),
    MarkerSpec("line", _FRAME_ARGS, (((3, 6), (3, 11)),), "a new line of Python code executes"),
    MarkerSpec(
        "gc__start",
        (ArgSpec("generation", "int", "int"),),
        (((3, 6), None),),
        "the cyclic garbage collector starts a collection",
    ),
    MarkerSpec(
        "gc__done",
        (ArgSpec("collected", "ssize", "Py_ssize_t"),),
        (((3, 6), None),),
        "the cyclic garbage collector finished a collection",
    ),
    MarkerSpec(
        "import__find__load__start",
        (ArgSpec("module", "string", "const char *"),),
        (((3, 7), None),),
        "importlib starts finding and loading a module",
    ),
    MarkerSpec(
        "import__find__load__done",
        (ArgSpec("module", "string", "const char *"), ArgSpec("found", "int", "int")),
        (((3, 7), None),),
        "importlib finished finding and loading a module",
    ),
    MarkerSpec(
        "audit",
        (ArgSpec("event", "string", "const char *"), ArgSpec("args", "object", "PyObject *")),
        (((3, 8), None),),
        "sys.audit() or PySys_Audit() raised an audit event",
    ),
    # Declared in Include/pydtrace.d since 3.6, but nothing ever calls them.
    MarkerSpec("instance__new__start", (), _NEVER, "declared, never called"),
    MarkerSpec("instance__new__done", (), _NEVER, "declared, never called"),
    MarkerSpec("instance__delete__start", (), _NEVER, "declared, never called"),
    MarkerSpec("instance__delete__done", (), _NEVER, "declared, never called"),
)
MARKERS_BY_NAME = {marker.name: marker for marker in MARKERS}
NEWEST_KNOWN: Version = (3, 15)
OLDEST_WITH_MARKERS: Version = (3, 6)


def expected_markers(version: Version) -> list[MarkerSpec]:
    return [marker for marker in MARKERS if marker.expected_in(version)]


def caveats(version: Version, marker: str) -> list[str]:
    """What a user of this marker on this version must know before relying on it."""
    notes: list[str] = []
    removed = (3, 12) <= version <= (3, 14)
    if version == (3, 11) and marker == "function__entry":
        notes.append("in 3.11 it fires only while a trace function is set (sys.settrace)")
    if version == (3, 11) and marker == "line":
        notes.append(
            "enabling it crashes the 3.11 interpreter (CPython issue 98894); do not attach to it"
        )
    if removed and marker in ("function__entry", "function__return", "line"):
        notes.append(
            f"removed in 3.12 with the new monitoring (PEP 669); the {version[0]}.{version[1]} "
            "documentation still lists it"
        )
    if version >= (3, 15) and marker == "line":
        notes.append("3.15 restored function__entry and function__return, but not line")
    if marker.startswith("instance__"):
        notes.append("declared in Include/pydtrace.d but never called, so never in a build")
    if marker == "audit":
        notes.append("args is a PyObject * (a tuple): a tracer can read only its address")
    return notes


def parse_version(text: str) -> Version:
    """``3.11`` or ``3.11.2`` as (3, 11); ValueError for anything else."""
    match = re.fullmatch(r"(\d+)\.(\d+)(?:\.\d+)?(?:(?:a|b|rc)\d+)?\+?", text.strip())
    if match is None:
        raise ValueError(f"not a Python version: {text!r} (expected X.Y)")
    return int(match.group(1)), int(match.group(2))


def catalogue_version(version: Version) -> Version:
    """The version whose row applies: a newer release than we know uses the newest row."""
    return min(version, NEWEST_KNOWN) if version > NEWEST_KNOWN else version


# -- recognising CPython in a file ---------------------------------------------

_FILE_NAME = re.compile(r"(?:lib)?python(\d)\.(\d+)([a-z]*)(?:\.so(?:\.[\d.]+)?|\.a)?")
# PY_VERSION as a NUL-delimited string in read-only data: "3.11.2", "3.13.0rc1", "3.14.0a1+".
_VERSION_STRING = re.compile(rb"\x00(3\.\d{1,2}\.\d{1,3}(?:(?:a|b|rc)\d{1,2})?\+?)\x00")
# The linker may merge PY_VERSION into the tail of a longer string that ends
# the same way ("/opt/python/3.11.7"); looked for only when no exact one exists.
_VERSION_TAIL = re.compile(rb"(?<![\d.])(3\.\d{1,2}\.\d{1,3}(?:(?:a|b|rc)\d{1,2})?\+?)\x00")
# unicodedata keeps the Unicode 3.2.0 tables for IDNA, with this version string.
_UCD_32 = b"3.2.0\x00"
# A public API function first exported by each version, for files whose
# read-only data is gone (separate debug files) and whose name says nothing.
# Checked against the libpython of 3.6 to 3.15.
API_INTRODUCED: tuple[tuple[str, Version], ...] = (
    ("PyContextVar_New", (3, 7)),
    ("PyConfig_Read", (3, 8)),
    ("PyFrame_GetCode", (3, 9)),
    ("Py_NewRef", (3, 10)),
    ("PyFrame_GetLocals", (3, 11)),
    ("PyErr_GetRaisedException", (3, 12)),
    ("PyDict_GetItemRef", (3, 13)),
    ("PyConfig_Get", (3, 14)),
    ("PyBytesWriter_Create", (3, 15)),
)
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
    detection = Detection(path)
    with opened(path) as reader:
        _detect_elf(ElfFile(path, reader), detection)
    return detection


def _detect_elf(elf: ElfFile, detection: Detection) -> None:
    path = detection.path
    api_names = [name for name, _ in API_INTRODUCED]
    symbols = defined_symbols(elf, [*_CORE_SYMBOLS, *_DEBUG_SYMBOLS, *api_names])
    core = [name for name in _CORE_SYMBOLS if name in symbols]
    if core:
        detection.is_cpython = True
        detection.evidence.append("defines " + ", ".join(core))
    if any(name in symbols for name in _DEBUG_SYMBOLS):
        detection.debug_build = True
    dynamic = dynamic_info(elf)
    detection.dynamic = ldso.Target(
        elf.e_machine,
        elf.bits,
        elf.endian,
        ("hard" if elf.e_flags & ldso.EF_ARM_ABI_FLOAT_HARD else "soft")
        if elf.e_machine == Machine.ARM
        else None,
    )
    if dynamic is not None:
        detection.rpath, detection.runpath = dynamic.rpath, dynamic.runpath
        for needed in dynamic.needed:
            if version_from_file_name(needed) is not None and needed.startswith("libpython"):
                detection.needed_libpython = needed
                detection.is_cpython = True
                detection.evidence.append(f"needs {needed}")
                break

    by_name = version_from_file_name(path)
    name_source = "file name"
    if by_name is None and detection.needed_libpython:
        by_name = version_from_file_name(detection.needed_libpython)
        name_source = f"DT_NEEDED {detection.needed_libpython}"
    if by_name is not None and "d" in by_name[1]:
        detection.debug_build = True
    for named in (path, detection.needed_libpython or ""):
        flags = version_from_file_name(named)
        if flags is not None and "t" in flags[1]:
            detection.free_threaded = True
    strings = version_strings(elf)
    by_symbols = None
    for name, version in API_INTRODUCED:
        if name in symbols:
            by_symbols = version
    if by_name is not None and not detection.is_cpython and not strings:
        # A file called python3.X with no CPython symbol: a wrapper or a stub.
        detection.warnings.append("the file name says CPython, but no CPython symbol is defined")

    if strings:
        chosen = strings[0]
        if by_name is not None:
            # Several candidates: prefer the one that agrees with the file name.
            chosen = next((s for s in strings if parse_version(s) == by_name[0]), chosen)
        detection.full_version = chosen
        detection.version = parse_version(chosen)
        detection.version_source = "version string in read-only data"
        detection.evidence.append(f'PY_VERSION "{chosen}"')
    elif by_name is not None:
        detection.version = by_name[0]
        detection.version_source = name_source
    elif by_symbols is not None and detection.is_cpython:
        detection.version = by_symbols
        detection.version_source = "newest public API symbol (no read-only data)"
    if detection.version is not None and by_name is not None and by_name[0] != detection.version:
        detection.warnings.append(
            f"the file name says {by_name[0][0]}.{by_name[0][1]}, "
            f"the {detection.version_source} says {detection.full_version}"
        )
    if (
        detection.version is not None
        and by_symbols is not None
        and by_symbols > detection.version
        and by_symbols <= NEWEST_KNOWN
    ):
        detection.warnings.append(
            f"exports an API function of {by_symbols[0]}.{by_symbols[1]}, "
            f"newer than the detected {detection.version[0]}.{detection.version[1]}"
        )


# -- one interpreter: the file(s) and the markers in them ----------------------


@dataclass(slots=True)
class Part:
    """One file of the interpreter: the executable, or the libpython it loads."""

    path: str
    role: str  # "executable", "library", "file"
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
    def build(self) -> str:
        """``shared`` (markers in a libpython it loads), ``archive`` (a static
        ``libpython3.X.a``, markers in its members), ``library``, or ``static``."""
        if self.library is not None:
            return "shared"
        if self.archive:
            return "archive"
        if os.path.basename(self.path).startswith("libpython"):
            return "library"
        return "static"

    @property
    def marker_file(self) -> str:
        """The file a tracer attaches to: the libpython of a shared build, else the file."""
        if self.library is not None:
            # Unresolved: the DT_NEEDED name is still the file the markers are in.
            return self.library.path or self.library.name
        return self.path

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
    if _is_archive_file(path):
        interpreter = _open_archive(path)
        if python_version is not None:
            interpreter.version, interpreter.version_source = python_version, "--python-version"
        return interpreter
    try:
        detection = detect(path)
    except UsdtscanError as exc:
        return Interpreter(path, Detection(path), error=exc.reason)
    interpreter = Interpreter(path, detection)
    main = scan_or_error(path)
    if main.error is not None:
        interpreter.error = main.error
        return interpreter
    role = "executable" if detection.needed_libpython else "file"
    interpreter.parts.append(Part(path, role, main))
    if detection.needed_libpython and detection.dynamic is not None:
        loader = ldso.Loader(detection.dynamic, environ=environ, sysroot=sysroot)
        origin = os.path.dirname(os.path.realpath(path))
        resolution = loader.resolve(
            detection.needed_libpython, origin, detection.rpath, detection.runpath
        )
        interpreter.library = resolution
        if resolution.path is None:
            interpreter.error = (
                f"needs {resolution.name}, which the loader would not find "
                f"(tried {len(resolution.tried)} places; set LD_LIBRARY_PATH or --sysroot)"
            )
            _set_version(interpreter, python_version)
            return interpreter
        library = scan_or_error(resolution.path)
        if library.error is not None:
            interpreter.error = f"{resolution.path}: {library.error}"
            return interpreter
        interpreter.parts.append(Part(resolution.path, "library", library))
        try:
            library_detection = detect(resolution.path)
        except UsdtscanError as exc:
            interpreter.error = str(exc)
            return interpreter
        if library_detection.version is not None:
            detection.version = library_detection.version
            detection.full_version = library_detection.full_version
            detection.version_source = f"{library_detection.version_source} of {resolution.path}"
            detection.evidence += [f"{resolution.path}: {e}" for e in library_detection.evidence]
        detection.debug_build = detection.debug_build or library_detection.debug_build
        detection.free_threaded = detection.free_threaded or library_detection.free_threaded
    _set_version(interpreter, python_version)
    return interpreter


def _set_version(interpreter: Interpreter, python_version: Version | None) -> None:
    if python_version is not None:
        interpreter.version, interpreter.version_source = python_version, "--python-version"
    else:
        interpreter.version = interpreter.detection.version
        interpreter.version_source = interpreter.detection.version_source


def _is_archive_file(path: str) -> bool:
    try:
        with open(path, "rb") as file:
            return is_archive(file.read(24))
    except OSError:
        return False


def _open_archive(path: str) -> Interpreter:
    """A static ``libpython3.X.a``: every member is scanned and read for the
    CPython evidence, which is then merged, so that the archive gets the
    verdict of the library linked from the same objects."""
    from .archive import object_members, read_archive
    from .scan import scan_data

    merged = Detection(path)
    interpreter = Interpreter(path, merged, archive=True)
    chosen: Detection | None = None
    try:
        with opened(path) as data:
            archive = read_archive(path, data)
            for member, content, problem in object_members(archive, data):
                name = archive.member_path(member)
                if content is None:
                    interpreter.error = problem
                    return interpreter
                scanned = scan_data(name, content, None)
                if scanned.error is not None:
                    interpreter.error = f"{name}: {scanned.error}"
                    return interpreter
                if scanned.sites or not interpreter.parts:
                    interpreter.parts.append(Part(name, "member", scanned))
                found = Detection(path)
                elf = ElfFile(name, content)
                try:
                    _detect_elf(elf, found)
                finally:
                    elf.release()
                merged.is_cpython = merged.is_cpython or found.is_cpython
                merged.debug_build = merged.debug_build or found.debug_build
                merged.free_threaded = merged.free_threaded or found.free_threaded
                merged.evidence += [f"{member.name}: {e}" for e in found.evidence]
                # The member with PY_VERSION in its read-only data is the best witness.
                better = found.full_version is not None and (
                    chosen is None or not chosen.full_version
                )
                if better or (chosen is None and found.version is not None):
                    chosen = found
    except UsdtscanError as exc:
        interpreter.error = exc.reason
        return interpreter
    if not interpreter.parts:
        interpreter.error = "an ar archive with no ELF member"
        return interpreter
    if interpreter.parts[0].scanned.sites == [] and len(interpreter.parts) > 1:
        del interpreter.parts[0]
    if chosen is not None:
        merged.version, merged.full_version = chosen.version, chosen.full_version
        merged.version_source = chosen.version_source
        merged.warnings = [w for w in chosen.warnings if "no CPython symbol" not in w]
    interpreter.version, interpreter.version_source = merged.version, merged.version_source
    return interpreter


# -- the verdict on each marker -------------------------------------------------

PRESENT = "present"
MISSING = "missing"
ABSENT_AS_EXPECTED = "absent-as-expected"
UNEXPECTED = "present-unexpected"
UNKNOWN = "unknown"


@dataclass(slots=True)
class MarkerSite:
    """One site of a marker, with what is wrong with its arguments (empty: right)."""

    file: str
    site: Site
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(slots=True)
class MarkerReport:
    """The verdict on one marker (or ``--require``\\d probe): its ``state``, its
    sites, and the caveats of this marker on this version."""

    provider: str
    name: str
    state: str
    expected: bool
    spec: MarkerSpec | None = None
    sites: list[MarkerSite] = field(default_factory=list)
    caveats: list[str] = field(default_factory=list)

    @property
    def probe_id(self) -> str:
        return f"{self.provider}:{self.name}"

    @property
    def problems(self) -> list[str]:
        return [problem for check in self.sites for problem in check.problems]

    @property
    def failed(self) -> bool:
        return self.state == MISSING or bool(self.problems)

    @property
    def semaphores(self) -> list[int]:
        seen: list[int] = []
        for check in self.sites:
            address = check.site.semaphore_address
            if address is not None and address not in seen:
                seen.append(address)
        return seen


def expected_shape(spec: ArgSpec, pointer_size: int) -> tuple[int, bool | None]:
    """(size, signed) the argument must have; signed None means "not checked".

    A pointer's sign is whatever the compiler's type traits say and tells
    nothing, so only its size is checked; an int must be exactly a signed
    4-byte value and a Py_ssize_t a signed pointer-sized one, or a tracer
    reading them by the note would print garbage.
    """
    if spec.kind == "int":
        return 4, True
    if spec.kind == "ssize":
        return pointer_size, True
    return pointer_size, None


def check_site(spec: MarkerSpec, file: str, site: Site, pointer_size: int) -> MarkerSite:
    check = MarkerSite(file, site)
    if len(site.args) != len(spec.args):
        check.problems.append(
            f"{len(site.args)} arguments, expected {len(spec.args)} "
            f"({', '.join(arg.name for arg in spec.args) or 'none'})"
        )
        return check
    for argument, arg_spec in zip(site.args, spec.args, strict=True):
        size, signed = expected_shape(arg_spec, pointer_size)
        if argument.size is None:
            check.notes.append(f"{arg_spec.name}: no size in the note, not checked")
            continue
        if argument.is_float:
            check.problems.append(f"{arg_spec.name} is a float, expected {arg_spec.c_type}")
            continue
        wrong_size = argument.size != size
        wrong_sign = signed is not None and argument.signed != signed
        if wrong_size or wrong_sign:
            wanted = f"{'-' if signed else ''}{size}@" if signed is not None else f"{size}@"
            check.problems.append(
                f"{arg_spec.name} ({arg_spec.c_type}) is {argument.raw!r}, expected {wanted}"
            )
    return check


def evaluate(
    sites: Sequence[tuple[str, Site]], version: Version, pointer_size: int
) -> list[MarkerReport]:
    """A report for every catalogued marker, then any unknown ``python`` marker found."""
    row = catalogue_version(version)
    by_name: dict[str, list[tuple[str, Site]]] = {}
    for file, site in sites:
        if site.provider == PROVIDER:
            by_name.setdefault(site.name, []).append((file, site))
    reports = []
    for spec in MARKERS:
        found = by_name.pop(spec.name, [])
        expected = spec.expected_in(row)
        if found:
            state = PRESENT if expected else UNEXPECTED
        else:
            state = MISSING if expected else ABSENT_AS_EXPECTED
        report = MarkerReport(PROVIDER, spec.name, state, expected, spec)
        report.sites = [check_site(spec, file, site, pointer_size) for file, site in found]
        report.caveats = caveats(version, spec.name)
        reports.append(report)
    for name, found in by_name.items():
        report = MarkerReport(PROVIDER, name, UNKNOWN, False)
        report.sites = [MarkerSite(file, site) for file, site in found]
        reports.append(report)
    return reports


def require(sites: Sequence[tuple[str, Site]], probe_ids: Sequence[str]) -> list[MarkerReport]:
    """``--require provider:name``: each must have at least one site; no signature known."""
    reports = []
    for probe_id in probe_ids:
        provider, _, name = probe_id.partition(":")
        found = [(f, s) for f, s in sites if s.provider == provider and s.name == name]
        report = MarkerReport(provider, name, PRESENT if found else MISSING, True)
        report.sites = [MarkerSite(file, site) for file, site in found]
        reports.append(report)
    return reports


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
    # No /proc (macOS, BSD): fall back to the build configuration.
    if sysconfig.get_config_var("Py_ENABLE_SHARED"):
        libdir = sysconfig.get_config_var("LIBDIR") or ""
        name = sysconfig.get_config_var("LDLIBRARY") or ""
        candidate = os.path.join(libdir, name)
        if os.path.isfile(candidate):
            return [candidate]
    return []
