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
from collections.abc import Callable, Iterator, Sequence
from typing import TextIO

from .model import ScannedFile
from .scan import scan_each_or_error, scan_if_object
from .walk import Target

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
) -> Iterator[ScannedFile | list[ScannedFile] | None]:
    _set_options((debug_dirs, arch))
    if jobs <= 1 or len(targets) < MIN_FILES_FOR_POOL:
        yield from map(_scan_target, targets)
        return
    import multiprocessing

    jobs = min(jobs, len(targets))
    # Chunks big enough that a tree of small files is not one round trip per
    # file, small enough that a few huge libraries do not end up in one chunk.
    chunk = max(1, min(64, len(targets) // (jobs * 16)))
    context = multiprocessing.get_context("fork")
    with context.Pool(jobs, initializer=_start_worker, initargs=((debug_dirs, arch),)) as pool:
        yield from pool.imap(_scan_target, targets, chunksize=chunk)


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
