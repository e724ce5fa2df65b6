"""The probes of a running process: its mapped files, where they landed, and
which semaphores a tracer has raised.

Every file the process maps is read through ``/proc/PID/root``, so a process
in a container is inspected with the files of its own mount namespace, not
the host's file of the same name.  Where each file landed is its *load
bias*: the mapping's start minus the link-time address of the file offset
it maps, found from the ``PT_LOAD`` headers as libbpf does, so a site's
runtime address is its link-time address plus the bias.  A semaphore is a
2-byte counter that tracers increment; its value is read from
``/proc/PID/mem``, which needs ptrace access to the process.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

from . import debuginfo
from .elf import ElfFile, Segment, SegmentType
from .errors import FileAccessError, NotObjectFileError, UsdtscanError
from .fileio import describe_os_error, opened
from .magic import ELF_MAGIC
from .model import ScannedFile
from .scan import scan

SEMAPHORE_SIZE = 2  # unsigned short in <sys/sdt.h>
DELETED = " (deleted)"


@dataclass(frozen=True, slots=True)
class Mapping:
    """One line of ``/proc/PID/maps``."""

    start: int
    end: int
    perms: str
    offset: int
    device: str
    inode: int
    path: str


@dataclass(frozen=True, slots=True)
class SiteRuntime:
    """Where one site and its semaphore are in the process, and the semaphore's value.

    ``semaphore_value`` is None when there is no semaphore or it could not
    be read (see :attr:`ProcessScan.warnings`).
    """

    address: int | None
    semaphore_address: int | None
    semaphore_value: int | None


@dataclass(slots=True)
class MappedFile:
    """One object file mapped into the process.

    ``scanned.path`` is the path as the process sees it; ``opened_as`` is
    the path it was read through.  ``runtime`` has one entry per site of
    ``scanned.sites``.
    """

    scanned: ScannedFile
    opened_as: str
    mappings: list[Mapping]
    load_bias: int | None
    runtime: list[SiteRuntime] = field(default_factory=list)


@dataclass(slots=True)
class ProcessScan:
    """The mapped object files of one process, in mapping order; ``warnings``
    say what could not be read for the process as a whole (its memory)."""

    pid: int
    files: list[MappedFile] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


# What describe_os_error says of another user's process, or one that exited.
NO_PROCESS = "no such process"
PROCESS_DENIED = (
    "permission denied (another user's process: run as that user or as root, "
    "or see /proc/sys/kernel/yama/ptrace_scope)"
)


def parse_maps(text: str) -> Iterator[Mapping]:
    """The file-backed mappings of a ``/proc/PID/maps`` text (anonymous ones
    and pseudo-files such as ``[vdso]`` are left out)."""
    for line in text.splitlines():
        fields = line.split(maxsplit=5)
        if len(fields) < 6 or not fields[5].startswith("/"):
            continue
        span, perms, offset, device, inode, path = fields
        start, _, end = span.partition("-")
        try:
            yield Mapping(
                int(start, 16), int(end, 16), perms, int(offset, 16), device, int(inode), path
            )
        except ValueError:
            continue


def read_maps(pid: int) -> list[Mapping]:
    path = f"/proc/{pid}/maps"
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as stream:
            text = stream.read()
    except OSError as exc:
        raise FileAccessError(path, describe_os_error(exc, NO_PROCESS, PROCESS_DENIED)) from None
    return list(parse_maps(text))


def load_bias(segments: list[Segment], mappings: list[Mapping]) -> int | None:
    """Mapping start minus the link-time address of the file offset it maps.

    The loader maps each ``PT_LOAD`` segment from its page-aligned file
    offset, so a mapping at file offset ``off`` inside a segment holds
    link-time address ``p_vaddr - p_offset + off``.  The first mapping that
    lies in a segment decides (they all agree for a file mapped once).
    """
    loads = [s for s in segments if s.type == SegmentType.LOAD]
    for mapping in sorted(mappings, key=lambda m: m.offset):
        for segment in loads:
            page_start = segment.offset - segment.offset % mmap.PAGESIZE
            if page_start <= mapping.offset < segment.offset + max(segment.filesz, 1):
                return mapping.start - (segment.vaddr - segment.offset + mapping.offset)
    return None


def _segments(path: str) -> list[Segment]:
    with opened(path) as reader:
        if reader.head(4) != ELF_MAGIC:
            return []
        return list(ElfFile(path, reader).segments)


class _Memory:
    """Reads of ``/proc/PID/mem``; the first failure to open it is kept as a warning."""

    def __init__(self, pid: int) -> None:
        self.path = f"/proc/{pid}/mem"
        self.problem: str | None = None
        self._fd: int | None = None
        try:
            self._fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            reason = describe_os_error(exc, NO_PROCESS, PROCESS_DENIED)
            self.problem = f"cannot read {self.path}: {reason}; semaphore values unknown"

    def read_u16(self, address: int, byteorder: str) -> int | None:
        if self._fd is None:
            return None
        try:
            data = os.pread(self._fd, SEMAPHORE_SIZE, address)
        except OSError:
            return None
        if len(data) != SEMAPHORE_SIZE:
            return None
        return int.from_bytes(data, "big" if byteorder == "big" else "little")

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)


def _opened_as(pid: int, path: str, mappings: list[Mapping]) -> str:
    """The path to read a mapped file through: the first of its namespace's root,
    the mapping itself and the path as printed whose inode is the mapped one.

    ``/proc/PID/root/PATH`` is right for a container (its own mount
    namespace), but the kernel prints a chrooted process's paths from the
    reader's root, and a file deleted since it was mapped has no path: the
    inode number in ``maps`` says which candidate is the mapped file.
    """
    first = mappings[0]
    candidates = [
        f"/proc/{pid}/root{path}",
        f"/proc/{pid}/map_files/{first.start:x}-{first.end:x}",
        path,
    ]
    if path.endswith(DELETED):
        candidates = candidates[1:2]
    for candidate in candidates:
        try:
            if os.stat(candidate).st_ino == first.inode:
                return candidate
        except OSError:
            continue
    return candidates[0]


# Scans of mapped files shared between processes, by (device, inode, path):
# on a whole system every process maps libc, and it is read once.
FileCache = dict[tuple[str, int, str], tuple[ScannedFile, list[Segment]]]


def scan_process(
    pid: int,
    debug_dirs: tuple[str, ...] | None = debuginfo.DEFAULT_DEBUG_DIRS,
    cache: FileCache | None = None,
) -> ProcessScan:
    """Every object file mapped into process ``pid`` with its sites' runtime
    addresses and semaphore values, in the order the files are mapped.

    Raises :class:`FileAccessError` when the process's mappings cannot be
    read (no such process, or no permission).  Files that are not object
    files (locale archives, fonts) are left out; a mapped object that cannot
    be read is kept with its ``scanned.error`` set.
    """
    result = ProcessScan(pid)
    by_file: dict[tuple[str, int, str], list[Mapping]] = {}
    for mapping in read_maps(pid):
        by_file.setdefault((mapping.device, mapping.inode, mapping.path), []).append(mapping)
    memory = _Memory(pid)
    if memory.problem is not None:
        result.warnings.append(memory.problem)
    try:
        for key, mappings in by_file.items():
            path = key[2]
            opened_as = _opened_as(pid, path, mappings)
            cached = None if cache is None else cache.get(key)
            if cached is not None:
                scanned, segments = replace(cached[0]), cached[1]
            else:
                try:
                    scanned = scan(opened_as, debug_dirs)
                    segments = _segments(opened_as) if scanned.format == "elf" else []
                except NotObjectFileError:
                    if cache is not None:
                        cache[key] = (ScannedFile(path), [])
                    continue
                except UsdtscanError as exc:
                    scanned = ScannedFile(opened_as, error=exc.reason)
                    segments = []
                if cache is not None and scanned.error is None:
                    cache[key] = (scanned, segments)
                    scanned = replace(scanned)
            if scanned.format is None and scanned.error is None:
                continue  # cached: not an object file
            scanned.path = path
            bias = load_bias(segments, mappings) if segments else None
            entry = MappedFile(scanned, opened_as, mappings, bias)
            byteorder = scanned.endian or "little"
            for site in scanned.sites:
                address = None if bias is None or site.address is None else site.address + bias
                semaphore = None
                value = None
                if bias is not None and site.semaphore_address is not None:
                    semaphore = site.semaphore_address + bias
                    value = memory.read_u16(semaphore, byteorder)
                entry.runtime.append(SiteRuntime(address, semaphore, value))
            result.files.append(entry)
    finally:
        memory.close()
    return result


# -- every process ----------------------------------------------------------------


@dataclass(slots=True)
class TracedProcess:
    """One process with probes mapped.

    ``foreign_namespace`` is set when it lives in another mount namespace
    than usdtscan (a container): its paths are its own, and the host reaches
    each file as ``/proc/PID/root/PATH`` (:func:`host_path`).
    """

    pid: int
    comm: str
    executable: str | None
    foreign_namespace: bool
    scan: ProcessScan

    def host_path(self, path: str) -> str:
        return f"/proc/{self.pid}/root{path}" if self.foreign_namespace else path


@dataclass(slots=True)
class SystemScan:
    """``--pid all``: the processes with probes, and how many others there were.

    ``unreadable`` counts the processes whose mappings we may not read
    (another user's, without root); ``gone`` those that exited while read.
    """

    processes: list[TracedProcess] = field(default_factory=list)
    without_probes: int = 0
    unreadable: int = 0
    gone: int = 0


def _read_text(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as stream:
            return stream.read()
    except OSError:
        return None


def _namespace(pid: int | str) -> int | None:
    try:
        return os.stat(f"/proc/{pid}/ns/mnt").st_ino
    except OSError:
        return None


def process_ids() -> list[int]:
    try:
        names = os.listdir("/proc")
    except OSError:
        return []
    return sorted(int(name) for name in names if name.isdigit())


def scan_all_processes(
    debug_dirs: tuple[str, ...] | None = debuginfo.DEFAULT_DEBUG_DIRS,
) -> SystemScan:
    """Every process with at least one probe site mapped, in pid order (this
    process excepted).  Each distinct mapped file is read once."""
    result = SystemScan()
    cache: FileCache = {}
    own = os.getpid()
    own_namespace = _namespace("self")
    for pid in process_ids():
        if pid == own:
            continue
        try:
            scanned = scan_process(pid, debug_dirs, cache)
        except FileAccessError as exc:
            if "permission denied" in exc.reason:
                result.unreadable += 1
            else:
                result.gone += 1
            continue
        if not scanned.files and not os.path.exists(f"/proc/{pid}"):
            result.gone += 1
            continue
        scanned.files = [entry for entry in scanned.files if entry.scanned.sites]
        if not scanned.files:
            result.without_probes += 1
            continue
        comm = (_read_text(f"/proc/{pid}/comm") or "?").strip()
        try:
            executable: str | None = os.readlink(f"/proc/{pid}/exe")
        except OSError:
            executable = None
        namespace = _namespace(pid)
        foreign = None not in (namespace, own_namespace) and namespace != own_namespace
        result.processes.append(TracedProcess(pid, comm, executable, foreign, scanned))
    return result
