"""Open a file safely, recognise its format, and hand it to the right reader.

Files are opened read-only and non-blocking and must be regular files, so
a FIFO, a device or a directory is refused before anything reads from it.
The content is mapped, not copied, so a 300 MB libjvm costs no more memory
than the pages its note section and symbol table touch.
"""

from __future__ import annotations

import contextlib
import errno
import mmap
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager

from .elf import ELF_MAGIC, ElfFile
from .errors import FileAccessError, MalformedFileError, NotObjectFileError, UsdtscanError
from .model import ScannedFile, Site
from .stapsdt import scan_elf

_KIND_OF_SPECIAL = {
    stat.S_IFIFO: "a FIFO",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
}


def _describe_os_error(exc: OSError) -> str:
    if exc.errno == errno.ENOENT:
        return "no such file or directory"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if exc.errno == errno.ELOOP:
        return "too many levels of symbolic links"
    return exc.strerror or str(exc)


@contextmanager
def mapped(path: str) -> Iterator[bytes | mmap.mmap]:
    """The bytes of the regular file ``path``, mapped read-only."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        raise FileAccessError(path, _describe_os_error(exc)) from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise FileAccessError(path, "is a directory (use -r to scan it)")
        if not stat.S_ISREG(info.st_mode):
            kind = _KIND_OF_SPECIAL.get(stat.S_IFMT(info.st_mode), "not a regular file")
            raise FileAccessError(path, f"is {kind}, not a regular file")
        if info.st_size == 0:
            raise NotObjectFileError(path, "empty file")
        try:
            data = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError) as exc:
            raise FileAccessError(path, f"cannot map the file: {exc}") from None
        try:
            yield data
        finally:
            # A memoryview may still refer to the map (an exception's traceback
            # can hold one); the map is then freed with it.
            with contextlib.suppress(BufferError):
                data.close()
    finally:
        os.close(fd)


def scan(path: str | os.PathLike[str]) -> ScannedFile:
    """Read every probe site of one file.

    Raises a :class:`UsdtscanError` subclass when the file cannot be opened,
    is not an object file, or its headers are broken.  Damage found later,
    in a note section, is reported in ``ScannedFile.error`` with the sites
    read before it, so a caller can show a partial result.
    """
    path = os.fspath(path)
    scanned = ScannedFile(path)
    with mapped(path) as data:
        if data[:4] != ELF_MAGIC:
            raise NotObjectFileError(path, "not an ELF file")
        elf = ElfFile(path, data)
        try:
            scan_elf(elf, scanned)
        finally:
            elf.release()
    return scanned


def scan_or_error(path: str | os.PathLike[str]) -> ScannedFile:
    """Like :func:`scan`, but a failure becomes ``ScannedFile.error``: for the CLI."""
    try:
        return scan(path)
    except UsdtscanError as exc:
        return ScannedFile(os.fspath(path), error=exc.reason)


def probes(path: str | os.PathLike[str]) -> list[Site]:
    """Every probe site of ``path``, in note order.

    Strict: any damage raises, where :func:`scan` would return a partial
    result.  Group the sites by probe with :func:`usdtscan.group_sites`.
    """
    scanned = scan(path)
    if scanned.error is not None:
        raise MalformedFileError(scanned.path, scanned.error)
    return scanned.sites
