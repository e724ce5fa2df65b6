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

from .elf import ElfFile
from .errors import MalformedFileError

DEFAULT_DEBUG_DIRS = ("/usr/lib/debug",)
NT_GNU_BUILD_ID = 3


def build_id(elf: ElfFile) -> str | None:
    """The GNU build ID as hex: the key of ``DIR/.build-id`` and of debuginfod.

    A damaged build-ID note means no build ID rather than an error: the
    probes are still listed, only the debug file cannot be matched.
    """
    for section in elf.note_sections():
        if section.name != ".note.gnu.build-id":
            continue
        try:
            for note in elf.notes(section):
                if note.name == b"GNU" and note.type == NT_GNU_BUILD_ID and note.desc:
                    return note.desc.hex()
        except MalformedFileError:
            return None
    return None


def debuglink(elf: ElfFile) -> str | None:
    """The file name in ``.gnu_debuglink``: where a stripped file's debug file is.

    A name with a slash is refused, as GDB refuses it: it would leave the
    debug directories.
    """
    section = elf.section_by_name(".gnu_debuglink")
    if section is None or not section.has_file_data:
        return None
    data = elf.section_data(section)
    end = data.find(b"\0")
    name = data[: end if end >= 0 else len(data)].decode("utf-8", "replace")
    return name if name and "/" not in name else None


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
