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

from . import debuginfo
from .elf import ElfFile, FunctionIndex, SymbolIndex
from .errors import FileAccessError, MalformedFileError, NotObjectFileError, UsdtscanError
from .magic import ELF_MAGIC, is_macho
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


# Members of packages and images held in memory under their ARCHIVE!member
# names, for the readers that open a file by its path (check --cpython on a
# .deb): filled by usdtscan.packages.members_in_memory.
IN_MEMORY: dict[str, bytes] = {}


@contextmanager
def mapped(path: str) -> Iterator[bytes | mmap.mmap]:
    """The bytes of the regular file ``path``, mapped read-only."""
    if IN_MEMORY and path in IN_MEMORY:
        yield IN_MEMORY[path]
        return
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


def debug_file_functions(
    path: str, elf: ElfFile, debug_dirs: tuple[str, ...], used: list[str] | None = None
) -> FunctionIndex | None:
    """Function symbols from the separate debug file of a stripped ``elf``.

    Local debug directories come first, then the debuginfod servers of
    ``DEBUGINFOD_URLS`` (by build ID only).  Only a debug file with the same
    build ID is used (when the file has one): symbols of another build would
    name the wrong functions.  The debug file's path is appended to ``used``,
    so that symbol operands are resolved from the same file.
    """
    build_id = elf.build_id()
    for candidate in debuginfo.candidates(path, build_id, elf.debuglink(), debug_dirs):
        index = _debug_file_index(candidate, build_id)
        if index is not None:
            if used is not None:
                used.append(candidate)
            return index
    if build_id is None:
        return None
    from . import debuginfod

    client = debuginfod.default_client()
    fetched = None if client is None else client.fetch(build_id, "debuginfo")
    index = None if fetched is None else _debug_file_index(fetched, build_id)
    if index is not None and fetched is not None and used is not None:
        used.append(fetched)
    return index


def _debug_file_index(candidate: str, build_id: str | None) -> FunctionIndex | None:
    try:
        with mapped(candidate) as data:
            debug = ElfFile(candidate, data)
            try:
                if build_id is not None and debug.build_id() != build_id:
                    return None
                index = debug.function_index()
            finally:
                debug.release()
    except UsdtscanError:
        return None
    if index is not None:
        index.source = f"{candidate}:{index.source}"
    return index


class FileSymbols:
    """A file's symbol index, read on first use.

    Only operands that name a symbol (``mp_(%rip)``) need the symbol table,
    and only once something decodes them, so the scan does not read it:
    this reopens the file when asked.  A file that cannot be read again
    answers None, as an unknown symbol would.
    """

    def __init__(self, path: str, debug_path: str | None = None) -> None:
        self.path = path
        self.debug_path = debug_path
        self._index: SymbolIndex | None = None
        self._loaded = False

    def _load(self) -> SymbolIndex | None:
        """The debug file's table (a stripped file has lost its static data
        symbols, such as glibc's ``mp_``), else the file's own."""
        if not self._loaded:
            self._loaded = True
            for candidate in (self.debug_path, self.path):
                if candidate is None:
                    continue
                try:
                    with mapped(candidate) as data:
                        elf = ElfFile(candidate, data)
                        try:
                            self._index = elf.symbol_index()
                        finally:
                            elf.release()
                except UsdtscanError:
                    continue
                if len(self._index):
                    break
        return self._index

    def address_of(self, name: str) -> int | None:
        index = self._load()
        return None if index is None else index.address_of(name)

    def symbol_at(self, address: int) -> tuple[str, int] | None:
        index = self._load()
        return None if index is None else index.symbol_at(address)


def scan_data(
    path: str,
    data: bytes | mmap.mmap,
    debug_dirs: tuple[str, ...] | None = debuginfo.DEFAULT_DEBUG_DIRS,
    arch: str | None = None,
) -> ScannedFile:
    """What :func:`scan` does once the file is open, for callers holding its bytes.

    The Mach-O and DOF readers are imported only for files that need them:
    a tree walk meets thousands of ELF files and no DOF.
    """
    scanned = ScannedFile(path)
    if is_macho(bytes(data[:8])):
        from .macho import scan_macho

        scan_macho(path, data, scanned, arch)
        return scanned
    if data[:4] != ELF_MAGIC:
        raise NotObjectFileError(path, "not an ELF file")
    elf = ElfFile(path, data)
    try:
        dirs = debug_dirs
        used: list[str] = []
        if dirs is None:
            scan_elf(elf, scanned)
        else:
            scan_elf(elf, scanned, lambda: debug_file_functions(path, elf, dirs, used))
        if any(section.name == ".SUNW_dof" for section in elf.sections):
            from .sunw_dof import scan_sunw_dof

            scan_sunw_dof(elf, scanned)
        if scanned.sites:
            scanned.symbols = FileSymbols(path, used[0] if used else None)
    finally:
        elf.release()
    return scanned


def scan(
    path: str | os.PathLike[str],
    debug_dirs: tuple[str, ...] | None = debuginfo.DEFAULT_DEBUG_DIRS,
    arch: str | None = None,
) -> ScannedFile:
    """Read every probe site of one file.

    ``arch`` picks one slice of a Mach-O file (``x86_64``, ``arm64``...).

    Raises a :class:`UsdtscanError` subclass when the file cannot be opened,
    is not an object file, or its headers are broken.  Damage found later,
    in a note section, is reported in ``ScannedFile.error`` with the sites
    read before it, so a caller can show a partial result.  Function names
    of a stripped file come from its separate debug file when one is found
    under ``debug_dirs`` (by build ID or ``.gnu_debuglink``, as GDB does);
    ``debug_dirs=None`` looks for none.
    """
    path = os.fspath(path)
    with mapped(path) as data:
        return scan_data(path, data, debug_dirs, arch)


def scan_or_error(
    path: str | os.PathLike[str],
    debug_dirs: tuple[str, ...] | None = debuginfo.DEFAULT_DEBUG_DIRS,
    arch: str | None = None,
) -> ScannedFile:
    """Like :func:`scan`, but a failure becomes ``ScannedFile.error``: for the CLI."""
    try:
        return scan(path, debug_dirs, arch)
    except UsdtscanError as exc:
        return ScannedFile(os.fspath(path), error=exc.reason)


def probes(
    path: str | os.PathLike[str],
    debug_dirs: tuple[str, ...] | None = debuginfo.DEFAULT_DEBUG_DIRS,
) -> list[Site]:
    """Every probe site of ``path``, in note order.

    Strict: any damage raises, where :func:`scan` would return a partial
    result.  Group the sites by probe with :func:`usdtscan.group_sites`.
    """
    scanned = scan(path, debug_dirs)
    if scanned.error is not None:
        raise MalformedFileError(scanned.path, scanned.error)
    return scanned.sites
