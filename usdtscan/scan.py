"""Open a file safely, recognise its format, and hand it to the right reader.

Files are opened read-only and non-blocking and must be regular files, so
a FIFO, a device or a directory is refused before anything reads from it.
The readers ask for the bytes they need with ``pread`` (:mod:`usdtscan.fileio`)
instead of mapping the file: a 300 MB libjvm costs only its headers, note
section and symbol table, and a file that shrinks under the scan is an
error line, not a SIGBUS.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from . import debuginfo
from .elf import ElfFile
from .errors import MalformedFileError, NotObjectFileError, UsdtscanError
from .fileio import (
    MEMBERS_IN_MEMORY,
    OPEN_FLAGS,
    ByteSource,
    BytesReader,
    FileReader,
    describe_os_error,
    opened,
)
from .magic import ELF_MAGIC, is_archive, is_macho
from .model import FileFormat, ReaderResult, ScannedFile, Site
from .sieve import without_probes
from .stapsdt import iter_sites, scan_elf
from .symbols import FunctionIndex, SymbolIndex, function_index, symbol_index

if TYPE_CHECKING:
    from .analysis import FileReport

# An older name, for code written before the move to fileio: the members
# of packages and images held in memory under their ARCHIVE!member names
# (filled by usdtscan.packages.members_in_memory), which opened() serves to
# the readers that open a file by its path.
IN_MEMORY = MEMBERS_IN_MEMORY


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
    build_id = debuginfo.build_id(elf)
    for candidate in debuginfo.candidates(path, build_id, debuginfo.debuglink(elf), debug_dirs):
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
        with opened(candidate) as reader:
            debug = ElfFile(candidate, reader)
            if build_id is not None and debuginfo.build_id(debug) != build_id:
                return None
            index = function_index(debug)
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

    def __init__(
        self,
        path: str,
        debug_path: str | None = None,
        reread: Callable[[], bytes] | None = None,
    ) -> None:
        self.path = path
        self.debug_path = debug_path
        # A member of an archive has no path of its own: ``reread`` gives its bytes.
        self.reread = reread
        self._index: SymbolIndex | None = None
        self._loaded = False

    def _load(self) -> SymbolIndex | None:
        """The debug file's table (a stripped file has lost its static data
        symbols, such as glibc's ``mp_``), else the file's own."""
        if not self._loaded:
            self._loaded = True
            if self.reread is not None:
                try:
                    self._index = symbol_index(ElfFile(self.path, self.reread()))
                except (UsdtscanError, OSError):
                    self._index = None
                return self._index
            for candidate in (self.debug_path, self.path):
                if candidate is None:
                    continue
                try:
                    with opened(candidate) as reader:
                        self._index = symbol_index(ElfFile(candidate, reader))
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


# The name of the context manager before the readers moved from mmap to
# pread, for code written against it: it yields a FileReader, which ElfFile
# (and scan_data) accept as they accepted the mapped bytes.
mapped = opened


def scan_data(
    path: str,
    data: bytes | bytearray | ByteSource,
    debug_dirs: tuple[str, ...] | None = debuginfo.DEFAULT_DEBUG_DIRS,
    arch: str | None = None,
    walked: bool = False,
) -> ScannedFile:
    """What :func:`scan` does once the file is open, for callers holding its bytes
    (or a :class:`~usdtscan.fileio.ByteSource`).

    The Mach-O and DOF readers are imported only for files that need them:
    a tree walk meets thousands of ELF files and no DOF.  A ``walked`` file
    (found by ``-r``) has only its ``.note.stapsdt`` sections read: a walk
    meets thousands of files whose other notes hold no probe, and sys/sdt.h
    writes no other.  A file named alone has every note section read.
    """
    source = BytesReader(path, data) if isinstance(data, (bytes, bytearray)) else data
    head = source.head(24)
    scanned = ScannedFile(path)
    if is_macho(head):
        from .macho import scan_macho

        fold(scanned, scan_macho(path, source, arch))
        return scanned
    if head[:4] != ELF_MAGIC:
        if is_archive(head):
            raise NotObjectFileError(path, "an ar archive: scan_each() reads its members")
        from .notesection import is_note_section, scan_note_section

        if is_note_section(head):  # a section debuginfod served (--build-id)
            fold(scanned, scan_note_section(path, source))
            return scanned
        raise NotObjectFileError(path, "not an ELF file")
    elf = ElfFile(path, source)
    set_elf_header(scanned, elf)
    dirs = debug_dirs
    used: list[str] = []
    if dirs is None:
        fold(scanned, scan_elf(elf, None, walked))
    else:
        fold(scanned, scan_elf(elf, lambda: debug_file_functions(path, elf, dirs, used), walked))
    if elf.section_by_name(".SUNW_dof") is not None:
        from .sunw_dof import scan_sunw_dof

        fold(scanned, scan_sunw_dof(elf))
    if scanned.sites:
        scanned.symbols = FileSymbols(path, used[0] if used else None)
    return scanned


def set_elf_header(scanned: ScannedFile, elf: ElfFile) -> None:
    """What the ELF header says of the file: set before the first site is read,
    so that a streamed listing can write the file's header first."""
    scanned.format = FileFormat.ELF
    scanned.machine = elf.machine
    scanned.bits = elf.bits
    scanned.endian = elf.endian
    scanned.elf_type = elf.type_name


def fold(scanned: ScannedFile, result: ReaderResult) -> None:
    """Add what one reader found to the file's :class:`ScannedFile`.

    Readers run in a fixed order (stapsdt notes, then ``.SUNW_dof``), so the
    sites and warnings keep the file's order; the first error is the one
    reported.
    """
    scanned.sites += result.sites
    scanned.other_notes += result.other_notes
    scanned.warnings += result.warnings
    scanned.slices += result.slices
    if scanned.error is None:
        scanned.error = result.error
    if result.function_source is not None:
        scanned.function_source = result.function_source
    if result.format is not None:
        scanned.format = result.format
        scanned.machine, scanned.bits, scanned.endian = result.machine, result.bits, result.endian


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
    read before it, so a caller can show a partial result; so is a file
    that changed while it was read.  Function names
    of a stripped file come from its separate debug file when one is found
    under ``debug_dirs`` (by build ID or ``.gnu_debuglink``, as GDB does);
    ``debug_dirs=None`` looks for none.
    """
    path = os.fspath(path)
    with opened(path) as reader:
        return _scan_open(reader, debug_dirs, arch)


def _scan_open(
    reader: FileReader | BytesReader,
    debug_dirs: tuple[str, ...] | None,
    arch: str | None,
    walked: bool = False,
) -> ScannedFile:
    scanned = scan_data(reader.path, reader, debug_dirs, arch, walked)
    changed = reader.changed()
    if changed is not None and scanned.error is None:
        scanned.error = changed
    return scanned


def iter_scan(
    scanned: ScannedFile,
    debug_dirs: tuple[str, ...] | None = debuginfo.DEFAULT_DEBUG_DIRS,
) -> Iterator[Site]:
    """The sites of the ELF file ``scanned.path``, read while they are consumed.

    For ``usdtscan --json``: no site is kept, so memory does not grow with
    the probe count.  ``scanned``'s own fields (format, machine...) are set
    before the first site; its error, warnings and function source once the
    last has been taken.  A file that cannot be opened or is not ELF gives
    no site and ``scanned.error``; callers send Mach-O and DOF files, which
    are small, to :func:`scan`.
    """
    path = scanned.path
    try:
        with opened(path) as reader:
            if reader.head(4) != ELF_MAGIC:
                raise NotObjectFileError(path, "not an ELF file")
            elf = ElfFile(path, reader)
            set_elf_header(scanned, elf)
            scanned.symbols = FileSymbols(path, None)
            found = yield from iter_sites(elf, _streamed_functions(scanned, elf, debug_dirs))
            fold(scanned, found)
            count = found.streamed
            if elf.section_by_name(".SUNW_dof") is not None:
                from .sunw_dof import scan_sunw_dof

                dof_found = scan_sunw_dof(elf)
                count += len(dof_found.sites)
                yield from dof_found.sites
                dof_found.sites = []  # streamed: the ScannedFile keeps none
                fold(scanned, dof_found)
            if not count:
                scanned.symbols = None
            changed = reader.changed()
            if changed is not None and scanned.error is None:
                scanned.error = changed
    except UsdtscanError as exc:
        scanned.error = exc.reason


def _streamed_functions(
    scanned: ScannedFile, elf: ElfFile, debug_dirs: tuple[str, ...] | None
) -> Callable[[], FunctionIndex | None] | None:
    """The debug file's functions for a streamed scan, which also points the
    file's symbol operands at that debug file the moment it is chosen: the
    first site's arguments are decoded before the second site is read."""
    if debug_dirs is None:
        return None
    dirs = debug_dirs

    def functions() -> FunctionIndex | None:
        used: list[str] = []
        index = debug_file_functions(scanned.path, elf, dirs, used)
        if used:
            scanned.symbols = FileSymbols(scanned.path, used[0])
        return index

    return functions


def member_scanner(
    debug_dirs: tuple[str, ...] | None, arch: str | None, walked: bool = False
) -> Callable[[ByteSource, Callable[[], bytes]], ScannedFile]:
    """The scanner of one ``ar`` member (:data:`usdtscan.archive.MemberScanner`):
    :func:`scan_data` over its bytes, its symbol table read again through
    ``reread`` on first use, since a member has no path of its own to reopen."""

    def scan_member(source: ByteSource, reread: Callable[[], bytes]) -> ScannedFile:
        scanned = scan_data(source.path, source, debug_dirs, arch, walked=walked)
        if scanned.symbols is not None:
            scanned.symbols = FileSymbols(source.path, reread=reread)
        return scanned

    return scan_member


def scan_if_object(
    path: str,
    debug_dirs: tuple[str, ...] | None = debuginfo.DEFAULT_DEBUG_DIRS,
    arch: str | None = None,
) -> ScannedFile | list[ScannedFile] | None:
    """For a file a tree walk found: None unless it starts like an object file
    (or is no longer there), else what :func:`scan_or_error` gives (for an ``ar`` archive, what
    :func:`scan_each` gives).

    One ``open`` and one 64-byte read decide, without an ``fstat`` (the
    directory listing said it is a regular file), and the same open file
    and read serve the scan: most files of a tree are not objects, so this
    is the cost of the walk.
    """
    try:
        fd = os.open(path, OPEN_FLAGS)
    except FileNotFoundError:
        return None  # gone since the walk listed it: see usdtscan.walk
    except OSError as exc:
        return ScannedFile(path, error=describe_os_error(exc))
    try:
        reader = FileReader(path, fd)
        head = reader.head(24)
        if is_archive(head):
            from .archive import scan_library

            return scan_library(path, reader, member_scanner(debug_dirs, arch, True), walked=True)
        if head[:4] != ELF_MAGIC and not is_macho(head):
            return None
        quick = without_probes(reader, sdt_section_only=True) if head[:4] == ELF_MAGIC else None
        return quick or _scan_open(reader, debug_dirs, arch, walked=True)
    except UsdtscanError as exc:
        return ScannedFile(path, error=exc.reason)
    finally:
        os.close(fd)


def scan_each(
    path: str | os.PathLike[str],
    debug_dirs: tuple[str, ...] | None = debuginfo.DEFAULT_DEBUG_DIRS,
    arch: str | None = None,
) -> list[ScannedFile]:
    """One :class:`ScannedFile` per object file in ``path``: the file itself, or
    each object member of an ``ar`` archive, named ``lib.a(member.o)``.

    A container format that holds several objects plugs in here, by magic.
    Raises as :func:`scan` does; a damaged member is that member's ``error``.
    """
    path = os.fspath(path)
    with opened(path) as reader:
        if is_archive(reader.head(24)):
            from .archive import scan_library

            return scan_library(path, reader, member_scanner(debug_dirs, arch))
        return [_scan_open(reader, debug_dirs, arch)]


def scan_each_or_error(
    path: str | os.PathLike[str],
    debug_dirs: tuple[str, ...] | None = debuginfo.DEFAULT_DEBUG_DIRS,
    arch: str | None = None,
) -> list[ScannedFile]:
    """Like :func:`scan_each`, but a failure becomes one ``ScannedFile.error``: for the CLI."""
    try:
        return scan_each(path, debug_dirs, arch)
    except UsdtscanError as exc:
        return [ScannedFile(os.fspath(path), error=exc.reason)]


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


def analyze(
    path: str | os.PathLike[str],
    debug_dirs: tuple[str, ...] | None = debuginfo.DEFAULT_DEBUG_DIRS,
    arch: str | None = None,
) -> FileReport:
    """Scan ``path`` (as :func:`scan` does, raising what it raises) and analyze it
    (:func:`usdtscan.analysis.analyze_scanned`): the two stages of the flow in one call."""
    from .analysis import analyze_scanned

    return analyze_scanned(scan(path, debug_dirs, arch))


def probes(
    path: str | os.PathLike[str],
    debug_dirs: tuple[str, ...] | None = debuginfo.DEFAULT_DEBUG_DIRS,
) -> list[Site]:
    """Every probe site of ``path``, in note order.

    Strict: any damage raises, where :func:`scan` would return a partial
    result.  For an ``ar`` archive, the sites of every member in order.
    Group the sites by probe with :func:`usdtscan.group_sites`.
    """
    sites: list[Site] = []
    for scanned in scan_each(path, debug_dirs):
        if scanned.error is not None:
            raise MalformedFileError(scanned.path, scanned.error)
        sites += scanned.sites
    return sites
