"""What each CPython release should carry: its markers, their signatures, their caveats.

The set of markers a ``--with-dtrace`` build should carry depends on its
version, and the documentation is not a reliable source (it still lists
``function__entry`` and ``line`` for 3.12, where the new monitoring
removed them), so the catalogue here was written from ``Include/pydtrace.d``
and the callers in each release, and checked against Debian's builds.
Every fact that changes with the version lives here, so that a new
release is one edit of this file.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

PROVIDER = "python"
Version = tuple[int, int]
# Inclusive (first, last) version ranges; last None means "still there".
VersionRanges = tuple[tuple[Version, Version | None], ...]

NEWEST_KNOWN: Version = (3, 15)
OLDEST_WITH_MARKERS: Version = (3, 6)


class ArgKind(str, enum.Enum):
    """What a marker argument is, which fixes the size and sign its note must give."""

    STRING = "string"  # a const char *
    OBJECT = "object"  # a PyObject *
    INT = "int"  # a C int: 4 bytes, signed
    SSIZE = "ssize"  # Py_ssize_t: pointer-sized, signed

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class ArgSpec:
    """One marker argument: its name in ``pydtrace.d``, its kind and its C type."""

    name: str
    kind: ArgKind
    c_type: str


@dataclass(frozen=True, slots=True)
class MarkerSpec:
    """One marker of ``Include/pydtrace.d`` and the releases whose code fires it."""

    name: str
    args: tuple[ArgSpec, ...]
    ranges: VersionRanges
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
    ArgSpec("filename", ArgKind.STRING, "const char *"),
    ArgSpec("funcname", ArgKind.STRING, "const char *"),
    ArgSpec("lineno", ArgKind.INT, "int"),
)
_NEVER: VersionRanges = ()

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
        (ArgSpec("generation", ArgKind.INT, "int"),),
        (((3, 6), None),),
        "the cyclic garbage collector starts a collection",
    ),
    MarkerSpec(
        "gc__done",
        (ArgSpec("collected", ArgKind.SSIZE, "Py_ssize_t"),),
        (((3, 6), None),),
        "the cyclic garbage collector finished a collection",
    ),
    MarkerSpec(
        "import__find__load__start",
        (ArgSpec("module", ArgKind.STRING, "const char *"),),
        (((3, 7), None),),
        "importlib starts finding and loading a module",
    ),
    MarkerSpec(
        "import__find__load__done",
        (
            ArgSpec("module", ArgKind.STRING, "const char *"),
            ArgSpec("found", ArgKind.INT, "int"),
        ),
        (((3, 7), None),),
        "importlib finished finding and loading a module",
    ),
    MarkerSpec(
        "audit",
        (
            ArgSpec("event", ArgKind.STRING, "const char *"),
            ArgSpec("args", ArgKind.OBJECT, "PyObject *"),
        ),
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

_FRAME_MARKERS = ("function__entry", "function__return", "line")


def expected_markers(version: Version) -> list[MarkerSpec]:
    return [marker for marker in MARKERS if marker.expected_in(version)]


def caveats(version: Version, marker: str) -> list[str]:
    """What a user of this marker on this version must know before relying on it."""
    notes: list[str] = []
    if version == (3, 11) and marker == "function__entry":
        notes.append("in 3.11 it fires only while a trace function is set (sys.settrace)")
    if version == (3, 11) and marker == "line":
        notes.append(
            "enabling it crashes the 3.11 interpreter (CPython issue 98894); do not attach to it"
        )
    if (3, 12) <= version <= (3, 14) and marker in _FRAME_MARKERS:
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
