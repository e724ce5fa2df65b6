"""Reading object files with ``pread``: only the bytes asked for, and no SIGBUS.

A mapped file that shrinks while it is read kills the process with SIGBUS
on the first touch of a page past the new end: no message, and every
earlier result of a tree scan lost.  A tree under a running build or a
package upgrade does exactly that.  So the readers ask for what they need
(headers, the section header table, note sections, symbol tables, the bytes
at each site) with ``os.pread``, and a read that comes back short is one
:class:`~usdtscan.errors.MalformedFileError` saying the file changed.

Small reads go through a few cached blocks: the ELF header, the program
headers and the early note sections of a typical file share the first
block, and the code windows of neighbouring sites share theirs, so a file
costs a handful of system calls rather than one per structure.

:class:`BytesReader` serves the same interface over bytes already in
memory (tests, fuzzers and callers holding a file's content).
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

from .errors import FileAccessError, FileChangedError, MalformedFileError, NotObjectFileError

# The first read of a file: enough for the magic and the ELF header.  A tree
# walk reads this much of every file, so it is kept to one page's worth.
HEAD_SIZE = 64
# Reads up to this size are served from cached blocks of BLOCK_SIZE bytes.
BLOCK_SIZE = 16384
SMALL_READ = 1024
CACHED_BLOCKS = 8

OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC

# Members of packages and images held in memory under their ARCHIVE!member
# names (usdtscan.packages.members_in_memory): opened() serves them to the
# readers that open a file by its path (check --cpython on a .deb).
MEMBERS_IN_MEMORY: dict[str, bytes] = {}

_KIND_OF_SPECIAL = {
    stat.S_IFIFO: "a FIFO",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
}


def describe_os_error(
    exc: OSError, missing: str = "no such file or directory", denied: str = "permission denied"
) -> str:
    """The reason part of ``usdtscan: PATH: reason`` for a failed system call:
    the one describer of every reader (files, archives, walks, processes).

    ``missing`` and ``denied`` let a caller say what is missing or refused in
    its own terms (a process, for ``/proc/PID/maps``).
    """
    if exc.errno in (errno.ENOENT, errno.ESRCH):
        return missing
    if exc.errno in (errno.EACCES, errno.EPERM):
        return denied
    if exc.errno == errno.ELOOP:
        return "too many levels of symbolic links"
    return exc.strerror or str(exc)


class ByteSource(Protocol):
    """What the container readers need from a file: its size and bytes at an offset."""

    path: str

    @property
    def size(self) -> int: ...

    def read(self, offset: int, size: int, what: str) -> bytes: ...

    def head(self, size: int) -> bytes: ...

    def changed(self) -> str | None: ...


def past_end(path: str, what: str, offset: int, size: int, file_size: int) -> MalformedFileError:
    return MalformedFileError(
        path,
        f"{what} ({size:#x} bytes) runs past the end of the file ({file_size:#x} bytes)",
        offset,
    )


class BytesReader:
    """A :class:`ByteSource` over bytes in memory."""

    def __init__(self, path: str, data: bytes | bytearray | memoryview) -> None:
        self.path = path
        self._data = data
        self.size = len(data)

    def read(self, offset: int, size: int, what: str) -> bytes:
        if offset < 0 or size < 0 or offset + size > self.size:
            raise past_end(self.path, what, offset, size, self.size)
        return bytes(self._data[offset : offset + size])

    def head(self, size: int) -> bytes:
        return bytes(self._data[:size])

    def changed(self) -> str | None:
        """Bytes in memory do not change under us."""
        return None


class SliceReader:
    """A :class:`ByteSource` over ``size`` bytes at ``offset`` of another one: a
    member of an ``ar`` archive, read in place.

    Copying each member out of a static library would read all of it (the
    libraries under ``/usr/lib`` hold half a gigabyte of members) where a
    member without probes needs only its headers.  Offsets are the
    member's own, and a read past its end is refused as
    :class:`BytesReader` refuses it, naming the member.
    """

    def __init__(self, path: str, source: ByteSource, offset: int, size: int) -> None:
        self.path = path
        self._source = source
        self._offset = offset
        self.size = size
        self._head: bytes | None = None

    def read(self, offset: int, size: int, what: str) -> bytes:
        if offset < 0 or size < 0 or offset + size > self.size:
            raise past_end(self.path, what, offset, size, self.size)
        return self._source.read(self._offset + offset, size, what)

    def head(self, size: int) -> bytes:
        """Up to ``size`` bytes (at most :data:`HEAD_SIZE`) from the member's start."""
        if self._head is None:
            length = min(HEAD_SIZE, self.size)
            self._head = self._source.read(self._offset, length, "file header")
        return self._head[:size]

    def changed(self) -> str | None:
        """Whether the archive changed is the archive's reader's to say."""
        return None


class FileReader:
    """A :class:`ByteSource` over an open file descriptor, read with ``pread``.

    ``size`` and the file's identity come from one ``fstat``, taken when
    first needed: a tree walk that reads the first block of a text file and
    moves on never pays for it.  :meth:`changed` compares that ``fstat``
    with a new one, so a file rewritten in place (same size) is caught too.
    """

    def __init__(self, path: str, fd: int, info: os.stat_result | None = None) -> None:
        self.path = path
        self.fd = fd
        self._info = info
        self._head: bytes | None = None
        self._blocks: dict[int, bytes] = {}

    @property
    def info(self) -> os.stat_result:
        if self._info is None:
            try:
                self._info = os.fstat(self.fd)
            except OSError as exc:
                raise FileAccessError(self.path, describe_os_error(exc)) from None
        return self._info

    @property
    def size(self) -> int:
        return self.info.st_size

    def read(self, offset: int, size: int, what: str) -> bytes:
        """``size`` bytes at ``offset``, or an error naming ``what`` could not be read."""
        if offset < 0 or size < 0 or offset + size > self.size:
            raise past_end(self.path, what, offset, size, self.size)
        if self._head is not None and offset + size <= len(self._head):
            return self._head[offset : offset + size]
        if size <= SMALL_READ:
            block = offset // BLOCK_SIZE
            start = offset - block * BLOCK_SIZE
            if start + size <= BLOCK_SIZE:
                data = self._block(block, what)
                if start + size <= len(data):
                    return data[start : start + size]
                raise self._shrank(what, offset, size)
        data = self._pread(size, offset, what)
        if len(data) != size:
            raise self._shrank(what, offset, size)
        return data

    def head(self, size: int) -> bytes:
        """Up to ``size`` bytes (at most :data:`HEAD_SIZE`) from the start, fewer in a
        shorter file: one small read, for the magic check of every file of a walk."""
        if self._head is None:
            self._head = self._pread(HEAD_SIZE, 0, "file header")
        return self._head[:size]

    def _block(self, index: int, what: str) -> bytes:
        data = self._blocks.get(index)
        if data is None:
            if len(self._blocks) >= CACHED_BLOCKS:
                del self._blocks[next(iter(self._blocks))]
            data = self._pread(BLOCK_SIZE, index * BLOCK_SIZE, what)
            self._blocks[index] = data
        return data

    def _pread(self, size: int, offset: int, what: str) -> bytes:
        try:
            return os.pread(self.fd, size, offset)
        except OSError as exc:
            if exc.errno == errno.EISDIR:
                raise FileAccessError(self.path, "is a directory (use -r to scan it)") from None
            if exc.errno == errno.ESPIPE:
                raise FileAccessError(self.path, "is not a regular file") from None
            raise FileAccessError(
                self.path, f"cannot read {what}: {describe_os_error(exc)}"
            ) from None

    def _shrank(self, what: str, offset: int, size: int) -> FileChangedError:
        now = self._current_size()
        was = self.size
        detail = f"it is now {now:#x} bytes, was {was:#x}" if now is not None else "it is gone"
        return FileChangedError(
            self.path,
            f"file changed while being read: {what} ({size:#x} bytes) is cut off ({detail})",
            offset,
        )

    def _current_size(self) -> int | None:
        try:
            return os.fstat(self.fd).st_size
        except OSError:
            return None

    def changed(self) -> str | None:
        """Why the file is no longer what was read (size or modification time), or None."""
        if self._info is None:
            return None
        try:
            now = os.fstat(self.fd)
        except OSError as exc:
            return f"cannot stat the file again: {describe_os_error(exc)}"
        before = self._info
        if now.st_size != before.st_size:
            return (
                f"file changed while being read: it is now {now.st_size:#x} bytes, "
                f"was {before.st_size:#x}"
            )
        if now.st_mtime_ns != before.st_mtime_ns:
            return "file changed while being read (modified during the scan)"
        return None


@contextmanager
def opened(path: str, known_regular: bool = False) -> Iterator[FileReader | BytesReader]:
    """The regular file ``path``, open for :class:`FileReader` reads.

    Opened read-only, non-blocking and without becoming a controlling
    terminal, so that a FIFO or a device is refused before anything reads
    from it.  ``known_regular`` skips the ``fstat`` that refuses them, for
    files a directory listing already showed to be regular (a file swapped
    for a FIFO since then fails its first read, cleanly).  A member of a
    package held in :data:`MEMBERS_IN_MEMORY` is served from memory.
    """
    if MEMBERS_IN_MEMORY and path in MEMBERS_IN_MEMORY:
        yield BytesReader(path, MEMBERS_IN_MEMORY[path])
        return
    try:
        fd = os.open(path, OPEN_FLAGS)
    except OSError as exc:
        raise FileAccessError(path, describe_os_error(exc)) from None
    try:
        reader = FileReader(path, fd)
        if not known_regular:
            info = reader.info
            if stat.S_ISDIR(info.st_mode):
                raise FileAccessError(path, "is a directory (use -r to scan it)")
            if not stat.S_ISREG(info.st_mode):
                kind = _KIND_OF_SPECIAL.get(stat.S_IFMT(info.st_mode), "not a regular file")
                raise FileAccessError(path, f"is {kind}, not a regular file")
            if info.st_size == 0:
                raise NotObjectFileError(path, "empty file")
        yield reader
    finally:
        os.close(fd)
