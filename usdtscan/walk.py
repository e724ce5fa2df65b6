"""Which files to read: the paths given, and with ``-r`` the object files below them.

A tree walk must not read every byte of every file, follow a symlink loop,
block on a FIFO, or list one inode twice (hard links, symlinked files), so
it looks at file types and first bytes only.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Iterator

OBJECT_MAGICS = (
    b"\x7fELF",
    b"\xfe\xed\xfa\xce",  # Mach-O 32, big-endian
    b"\xce\xfa\xed\xfe",  # Mach-O 32, little-endian
    b"\xfe\xed\xfa\xcf",  # Mach-O 64, big-endian
    b"\xcf\xfa\xed\xfe",  # Mach-O 64, little-endian
    b"\xca\xfe\xba\xbe",  # fat (also Java class files: the Mach-O reader tells them apart)
    b"\xca\xfe\xba\xbf",  # fat, 64-bit offsets
)


def has_object_magic(path: str) -> bool:
    """Whether ``path`` starts like an ELF or Mach-O file; unreadable files say no."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError:
        return True  # let the reader report why it cannot be opened
    try:
        return os.read(fd, 4) in OBJECT_MAGICS
    except OSError:
        return True
    finally:
        os.close(fd)


def walk_tree(root: str, seen: set[tuple[int, int]]) -> Iterator[tuple[str, str | None]]:
    """(path, None) for each regular object file below ``root``, sorted, each inode
    once, symlinked directories not descended; (path, reason) for what could not
    be listed."""
    errors: list[OSError] = []
    for directory, subdirs, files in os.walk(root, onerror=errors.append, followlinks=False):
        subdirs.sort()
        for name in sorted(files):
            path = os.path.join(directory, name)
            try:
                info = os.stat(path)
            except OSError:
                continue  # a dangling symlink is not a file to report
            if not stat.S_ISREG(info.st_mode):
                continue
            key = (info.st_dev, info.st_ino)
            if key in seen:
                continue
            seen.add(key)
            if has_object_magic(path):
                yield path, None
    for error in errors:
        reason = "permission denied" if isinstance(error, PermissionError) else error.strerror
        yield os.fspath(error.filename or root), f"cannot list directory: {reason}"


def expand(paths: Iterable[str], recursive: bool) -> Iterator[tuple[str, str | None]]:
    """The files to scan, as (path, None), or (path, reason) for a directory that
    could not be listed.  Explicit paths are passed through as given."""
    seen: set[tuple[int, int]] = set()
    for path in paths:
        if recursive and os.path.isdir(path):
            yield from walk_tree(path, seen)
        else:
            yield path, None
