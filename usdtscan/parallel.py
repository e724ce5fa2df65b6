"""Scan many files on every core, in the order they were given.

Scanning is CPU-bound Python, so threads would not help; forked worker
processes do, and fork (unlike spawn) costs no re-import.  Workers take
chunks of paths so that a tree of ten thousand small files does not pay
one round trip per file, and ``imap`` hands results back in input order,
so the output is the same whatever ``-j`` is.  A handful of files, or
``-j 1``, is scanned in this process: starting a pool costs more than it
saves, and a plain listing should not even import :mod:`multiprocessing`.
"""

from __future__ import annotations

import os
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, TextIO

from .errors import UsdtscanError
from .fileio import OPEN_FLAGS, FileReader
from .magic import ELF_MAGIC, is_archive, is_macho
from .model import ScannedFile
from .scan import scan_each_or_error, scan_if_object
from .sieve import without_probes
from .walk import Target

if TYPE_CHECKING:
    from multiprocessing.pool import AsyncResult, Pool

# Below this many files a pool's start-up outweighs the work.
MIN_FILES_FOR_POOL = 8
# Progress is redrawn at most this often (seconds).
REDRAW_INTERVAL = 0.1

_Options = tuple[tuple[str, ...] | None, str | None]
_options: _Options = (None, None)


def default_jobs() -> int:
    """The cores this process may run on (respects taskset and cgroup cpusets)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


# -r --archives: walked packages and images are opened too (explicit ones always are).
_archives = False


def _scan_target(target: Target) -> ScannedFile | list[ScannedFile] | None:
    """The scan of one target; None for a walked file that is not an object file;
    a list for a package or an image (docs/remote.rst)."""
    if target.error is not None:
        return ScannedFile(target.path, error=target.error)
    debug_dirs, arch = _options
    if target.check_magic:
        found = scan_if_object(target.path, debug_dirs, arch)
        if found is None:
            if not _archives:
                return None
            from .packages import looks_like_archive

            if not looks_like_archive(target.path):
                return None
            return _scan_package(target.path, debug_dirs, arch, None)
        if isinstance(found, list):  # a static library: one result per member
            return found
        scanned = found
    else:
        results = scan_each_or_error(target.path, debug_dirs, arch)
        if len(results) != 1 or results[0].member_of is not None:
            return results  # the members of an ar archive
        scanned = results[0]
    if scanned.error is not None and not scanned.sites and scanned.format is None:
        from .packages import is_oci_layout, looks_like_archive

        if is_oci_layout(target.path) or (
            scanned.error.startswith("not an ") and looks_like_archive(target.path)
        ):
            return _scan_package(target.path, debug_dirs, arch, scanned)
    return scanned


def _scan_package(
    path: str, debug_dirs: tuple[str, ...] | None, arch: str | None, fallback: ScannedFile | None
) -> list[ScannedFile] | ScannedFile:
    from .errors import UsdtscanError
    from .packages import scan_archive

    try:
        return scan_archive(path, debug_dirs, arch)
    except UsdtscanError as exc:
        return fallback if fallback is not None else ScannedFile(path, error=exc.reason)


def _set_options(options: _Options) -> None:
    global _options
    _options = options


def _start_worker(options: _Options) -> None:
    """A worker leaves Ctrl-C to the parent, which stops the pool and says so once."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _set_options(options)


def scan_targets(
    targets: Sequence[Target],
    jobs: int,
    debug_dirs: tuple[str, ...] | None,
    arch: str | None,
    tick: Callable[[], None] | None = None,
) -> Iterator[ScannedFile]:
    """One :class:`ScannedFile` per object file of each target (each member of
    an archive), or per error, in target order; ``tick`` is called once per
    target, skipped ones included."""
    for result in _results(targets, jobs, debug_dirs, arch):
        if tick is not None:
            tick()
        if isinstance(result, list):
            yield from result
        elif result is not None:
            yield result


def _results(
    targets: Sequence[Target],
    jobs: int,
    debug_dirs: tuple[str, ...] | None,
    arch: str | None,
) -> Iterator[_Result]:
    _set_options((debug_dirs, arch))
    if jobs <= 1 or len(targets) < MIN_FILES_FOR_POOL:
        yield from map(_scan_target, targets)
        return
    pooled = _Pooled(targets, min(jobs, len(targets)), (debug_dirs, arch))
    try:
        yield from pooled.results()
    finally:
        pooled.close()


_Result = ScannedFile | list[ScannedFile] | None
# What _answer_here says of a target that is worth a worker's time.
_DEFER = "defer"
_LIBRARY = "library"


def _answer_here(target: Target) -> _Result | str:
    """The answer for a walked file when it is cheaper to give here than to ship
    the file to a worker and its answer back: a file that is not an object, an
    ELF file whose headers say it holds no probe (:mod:`usdtscan.sieve`), and
    (``_LIBRARY``) a static library, whose 24,000 members under /usr/lib cost
    as much to pickle back as to read.  ``_DEFER`` for the rest.
    """
    if target.error is not None or not target.check_magic:
        return _DEFER
    try:
        fd = os.open(target.path, OPEN_FLAGS)
    except OSError:
        return _DEFER  # the worker says why (or skips a file that vanished)
    try:
        reader = FileReader(target.path, fd)
        head = reader.head(24)
        if head[:4] == ELF_MAGIC:
            return without_probes(reader, sdt_section_only=True) or _DEFER
        if is_archive(head):
            return _LIBRARY
        return _DEFER if (_archives or is_macho(head)) else None
    except UsdtscanError:
        return _DEFER
    finally:
        os.close(fd)


class _Pooled:
    """Targets answered here or by worker processes, in target order.

    Only the files that need a full read go to the workers, in batches, so
    that a tree of 60,000 small files is not 60,000 round trips (and 24,000
    pickled archive members); the pool is started when the first such file
    is met, so a tree without one never forks.
    """

    def __init__(self, targets: Sequence[Target], jobs: int, options: _Options) -> None:
        self.targets = targets
        self.jobs = jobs
        self.options = options
        # Batches big enough that a tree of object files is not one round trip
        # per file, small enough that a few huge libraries share no batch.
        self.batch_size = max(1, min(64, len(targets) // (jobs * 16)))
        self.pool: Pool | None = None
        self.batch: list[Target] = []
        # Answers in target order: ready ones, or (batch, index in it).
        self.pending: deque[tuple[_Result, None, int] | tuple[None, _Batch, int]] = deque()
        self.batch_slot: _Batch = _Batch()

    def results(self) -> Iterator[_Result]:
        for target in self.targets:
            here = _answer_here(target)
            if here == _LIBRARY:
                here = _scan_target(target)
            if here == _DEFER:
                self.pending.append((None, self.batch_slot, len(self.batch)))
                self.batch.append(target)
                if len(self.batch) >= self.batch_size:
                    self._submit()
            else:
                assert not isinstance(here, str)
                self.pending.append((here, None, 0))
            yield from self._ready(wait=False)
        self._submit()
        yield from self._ready(wait=True)

    def _submit(self) -> None:
        if not self.batch:
            return
        if self.pool is None:
            import multiprocessing

            context = multiprocessing.get_context("fork")
            self.pool = context.Pool(self.jobs, initializer=_start_worker, initargs=(self.options,))
        self.batch_slot.result = self.pool.map_async(_scan_target, self.batch)
        self.batch = []
        self.batch_slot = _Batch()

    def _ready(self, wait: bool) -> Iterator[_Result]:
        while self.pending:
            answer, batch, index = self.pending[0]
            if batch is not None:
                if batch.result is None or not (wait or batch.result.ready()):
                    return
                answer = batch.result.get()[index]
            self.pending.popleft()
            yield answer

    def close(self) -> None:
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()


class _Batch:
    """Targets sent to the workers together; ``result`` once submitted."""

    result: AsyncResult[list[_Result]] | None = None


class Progress:
    """A one-line ``[####    ] 120/4000 files`` bar on a terminal, redrawn in place.

    It writes to stderr only, and only when that is a terminal, so that a
    pipe or a log file never receives carriage returns.
    """

    def __init__(self, total: int, stream: TextIO | None = None) -> None:
        self.total = total
        self.stream = sys.stderr if stream is None else stream
        self.done = 0
        self._drawn = 0.0
        self._width = 0

    @staticmethod
    def wanted(stream: TextIO | None = None) -> bool:
        stream = sys.stderr if stream is None else stream
        try:
            return stream.isatty()
        except (AttributeError, ValueError):
            return False

    def advance(self) -> None:
        self.done += 1
        now = time.monotonic()
        if now - self._drawn >= REDRAW_INTERVAL or self.done == self.total:
            self._drawn = now
            self._draw()

    def _draw(self) -> None:
        filled = 30 * self.done // max(1, self.total)
        line = f"[{'#' * filled}{' ' * (30 - filled)}] {self.done}/{self.total} files"
        self._width = len(line)
        self.stream.write("\r" + line)
        self.stream.flush()

    def clear(self) -> None:
        if self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
