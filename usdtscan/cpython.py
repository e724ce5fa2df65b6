"""What usdtscan knows about CPython.

For now: which files make up the interpreter that is running us, the
default target when ``usdtscan`` is given no path.  An ``--enable-shared``
build keeps its probes in libpython, not in the executable, so both are
scanned.
"""

from __future__ import annotations

import os
import sys
import sysconfig


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
