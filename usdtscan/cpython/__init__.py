"""What usdtscan knows about CPython: its markers, and how to find them in a build.

* :mod:`~usdtscan.cpython.catalogue`: every fact that changes with the
  version (which markers, their signatures and caveats, the API function
  each release added);
* :mod:`~usdtscan.cpython.detection`: is one ELF file CPython, and which
  version, on what evidence;
* :mod:`~usdtscan.cpython.interpreter`: the build's files (the executable,
  the libpython it loads, an archive's members), each opened once;
* :mod:`~usdtscan.cpython.verdict`: the state of each marker and the check
  of its arguments;
* :mod:`~usdtscan.cpython.check`: all of it as one result,
  :func:`check_cpython`.

This package computes; :mod:`usdtscan.render.checks` renders.  The names below
are the ones the rest of usdtscan uses.
"""

from __future__ import annotations

from .catalogue import (
    API_INTRODUCED,
    MARKERS,
    MARKERS_BY_NAME,
    NEWEST_KNOWN,
    OLDEST_WITH_MARKERS,
    PROVIDER,
    ArgKind,
    ArgSpec,
    MarkerSpec,
    Version,
    catalogue_version,
    caveats,
    expected_markers,
    parse_version,
)
from .check import NO_DTRACE, CPythonCheck, MarkerFile, check_cpython, check_cpython_each
from .detection import Detection, detect, detect_elf, version_from_file_name, version_strings
from .interpreter import (
    BuildKind,
    Interpreter,
    Part,
    PartRole,
    open_interpreter,
    running_interpreter_files,
)
from .verdict import (
    MarkerReport,
    MarkerSite,
    MarkerState,
    check_marker_site,
    evaluate,
    expected_shape,
    require,
)

__all__ = [
    "API_INTRODUCED",
    "MARKERS",
    "MARKERS_BY_NAME",
    "NEWEST_KNOWN",
    "NO_DTRACE",
    "OLDEST_WITH_MARKERS",
    "PROVIDER",
    "ArgKind",
    "ArgSpec",
    "BuildKind",
    "CPythonCheck",
    "Detection",
    "Interpreter",
    "MarkerFile",
    "MarkerReport",
    "MarkerSite",
    "MarkerSpec",
    "MarkerState",
    "Part",
    "PartRole",
    "Version",
    "catalogue_version",
    "caveats",
    "check_cpython",
    "check_cpython_each",
    "check_marker_site",
    "detect",
    "detect_elf",
    "evaluate",
    "expected_markers",
    "expected_shape",
    "open_interpreter",
    "parse_version",
    "require",
    "running_interpreter_files",
    "version_from_file_name",
    "version_strings",
]
