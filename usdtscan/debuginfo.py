"""Where a stripped file's separate debug file lives, the way GDB looks for it.

Distributions strip ``.symtab`` from what they ship and put it in a debug
package; without it, a probe inside a static function has no function name.
GDB looks by build ID under each debug directory
(``DIR/.build-id/ab/cdef....debug``), then by the ``.gnu_debuglink`` name
beside the file, in its ``.debug/`` subdirectory, and under
``DIR/<the file's directory>/``.  usdtscan takes the first candidate whose
build ID matches, so a stale debug file is never used.
"""

from __future__ import annotations

import os

DEFAULT_DEBUG_DIRS = ("/usr/lib/debug",)


def candidates(
    path: str, build_id: str | None, debuglink: str | None, debug_dirs: tuple[str, ...]
) -> list[str]:
    """Debug file paths to try for ``path``, in GDB's order, existing ones only."""
    found: list[str] = []
    if build_id and len(build_id) > 2:
        for directory in debug_dirs:
            found.append(
                os.path.join(directory, ".build-id", build_id[:2], build_id[2:] + ".debug")
            )
    if debuglink:
        real_dir = os.path.dirname(os.path.realpath(path))
        found.append(os.path.join(real_dir, debuglink))
        found.append(os.path.join(real_dir, ".debug", debuglink))
        for directory in debug_dirs:
            found.append(os.path.join(directory, real_dir.lstrip("/"), debuglink))
    real = os.path.realpath(path)
    unique: list[str] = []
    for candidate in found:
        is_other_file = os.path.realpath(candidate) != real and os.path.isfile(candidate)
        if candidate not in unique and is_other_file:
            unique.append(candidate)
    return unique
