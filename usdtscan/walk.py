"""Which files to read: the paths given, and with ``-r`` the object files below them.

A tree walk must not read every byte of every file, follow a symlink loop,
block on a FIFO, or list one inode twice (hard links, symlinked files), so
it looks at directory entries and first bytes only.  ``/usr/lib`` holds
tens of thousands of files and a few thousand objects: the walk must cost
little next to the scan, so it uses ``os.scandir`` (file types and inode
numbers come with the directory listing, without a ``stat`` per file) and
reads eight bytes of each regular file.

Pseudo file systems (``/proc``, ``/sys``, ``/dev``, cgroup, debugfs,
tracefs...) hold no object files, only thousands of entries that cost time
and errors: the walk does not enter a mount of one unless it was named as
a root.  ``one_file_system`` (``-x``) keeps it on each root's device, as
``find -xdev`` and ``du -x`` do.

The result is sorted by path under each root, whatever order the file
system lists entries in, so that output is reproducible; of several paths
to one inode the first in that order is kept.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import NamedTuple

from .fileio import describe_os_error
from .magic import ELF_MAGIC, is_archive, is_macho
from .model import ScannedFile


class Target(NamedTuple):
    """One thing to scan: a path, or a directory that could not be listed (``error``).

    ``check_magic`` is set for files found by the walk: they are skipped
    unless their first bytes are an object file's.  That check is left to
    whoever scans the file, so that it runs on every core.
    """

    path: str
    error: str | None = None
    check_magic: bool = False


@dataclass(slots=True)
class WalkStats:
    """What the walk saw, for the summary line: counts, not paths."""

    files: int = 0
    duplicates: int = 0
    special: int = 0
    listing_errors: int = 0
    mounts_skipped: int = 0


# File system types that hold kernel state, not files: a walk from / must
# not read /proc/kcore or list every process.  tmpfs is not here: /tmp and
# /run can hold real binaries.
PSEUDO_FILE_SYSTEMS = frozenset(
    {
        "autofs",
        "binfmt_misc",
        "bpf",
        "cgroup",
        "cgroup2",
        "configfs",
        "debugfs",
        "devpts",
        "devtmpfs",
        "efivarfs",
        "fusectl",
        "hugetlbfs",
        "mqueue",
        "nsfs",
        "proc",
        "pstore",
        "rpc_pipefs",
        "securityfs",
        "selinuxfs",
        "sysfs",
        "tracefs",
    }
)
MOUNTINFO = "/proc/self/mountinfo"


def pseudo_devices(mountinfo: str = MOUNTINFO) -> frozenset[int]:
    """The device numbers (``st_dev``) of the mounted pseudo file systems.

    Read from ``mountinfo`` (field 3 is ``major:minor``, the type follows
    the ``-`` separator); none when it cannot be read, so that a system
    without ``/proc`` walks everything.
    """
    devices: set[int] = set()
    try:
        with open(mountinfo, encoding="utf-8", errors="replace") as stream:
            lines = stream.read().splitlines()
    except OSError:
        return frozenset()
    for line in lines:
        fields = line.split()
        try:
            fstype = fields[fields.index("-", 6) + 1]
            major, minor = fields[2].split(":")
            device = os.makedev(int(major), int(minor))
        except (ValueError, IndexError):
            continue
        if fstype in PSEUDO_FILE_SYSTEMS or fstype.startswith("cgroup"):
            devices.add(device)
    return frozenset(devices)


def looks_like_object(head: bytes) -> bool:
    """Whether the first bytes of a file are those of an ELF or Mach-O file, or
    of an ``ar`` archive of objects (24 bytes tell one from a Debian package).

    The same test the scanner dispatches on, so a file skipped here is one
    it would have refused: a Java class file also starts with 0xcafebabe,
    but where a fat file has its slice count it has a version of 45 or more.
    """
    return head[:4] == ELF_MAGIC or is_macho(head) or is_archive(head)


def has_object_magic(path: str) -> bool:
    """Whether ``path`` starts like an ELF or Mach-O file; unreadable files say yes,
    so that the reader reports why it cannot be opened."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError:
        return True
    try:
        return looks_like_object(os.read(fd, 24))
    except OSError:
        return True
    finally:
        os.close(fd)


_Key = tuple[int, int]  # (device, inode)


class _Walker:
    """One walk below ``root``: every regular file with its (device, inode), and
    the directories that could not be listed.

    Symlinks to files are kept (their target's inode dedupes them);
    symlinks to directories are not descended, and a directory reached
    twice (a bind mount of an ancestor) is skipped.  A directory on another
    device than its parent is a mount point: it is skipped with
    ``one_file_system``, or when it is a pseudo file system.  An entry that
    vanishes between the listing of its directory and its own ``stat`` or
    listing (a tree under a running build) is skipped, as ``find
    -ignore_readdir_race`` skips it: it is no longer there to scan.
    """

    def __init__(self, root: str, stats: WalkStats, images: bool, one_file_system: bool) -> None:
        self.root = root
        self.stats = stats
        self.images = images
        self.one_file_system = one_file_system
        self.files: list[tuple[str, _Key]] = []
        self.failures: list[tuple[str, str]] = []
        self._visited: set[_Key] = set()
        self._pseudo: frozenset[int] | None = None

    def run(self) -> None:
        pending: list[tuple[str, int | None]] = [(self.root, None)]
        while pending:
            directory, parent_device = pending.pop()
            try:
                listed = self._list(directory, parent_device)
            except OSError as exc:
                if isinstance(exc, FileNotFoundError) and directory != self.root:
                    continue  # vanished since its parent was listed
                reason = f"cannot list directory: {describe_os_error(exc)}"
                self.failures.append((directory, reason))
                continue
            if listed is not None:
                device, listing = listed
                pending.extend((path, device) for path in self._entries(listing, device))

    def _list(
        self, directory: str, parent_device: int | None
    ) -> tuple[int, list[os.DirEntry[str]]] | None:
        """The device and entries of ``directory``; None when it is not to be entered."""
        info = os.stat(directory)
        key = (info.st_dev, info.st_ino)
        if key in self._visited:
            return None
        self._visited.add(key)
        if parent_device is not None and info.st_dev != parent_device:
            if self._pseudo is None:
                self._pseudo = pseudo_devices()
            if self.one_file_system or info.st_dev in self._pseudo:
                self.stats.mounts_skipped += 1
                return None
        with os.scandir(directory) as entries:
            listing = list(entries)
        if self.images and directory != self.root and any(e.name == "oci-layout" for e in listing):
            self.files.append((directory, key))  # an OCI image layout: read as one image
            return None
        return info.st_dev, listing

    def _entries(self, listing: list[os.DirEntry[str]], device: int) -> Iterator[str]:
        """Record the files of one listing; the subdirectories to walk."""
        for entry in listing:
            try:
                if entry.is_symlink():
                    target = os.stat(entry.path)  # raises on a loop or dangling link
                    if stat.S_ISREG(target.st_mode):
                        self.files.append((entry.path, (target.st_dev, target.st_ino)))
                    elif not stat.S_ISDIR(target.st_mode):
                        self.stats.special += 1
                elif entry.is_dir(follow_symlinks=False):
                    yield entry.path
                elif entry.is_file(follow_symlinks=False):
                    self.files.append((entry.path, (device, entry.inode())))
                else:
                    self.stats.special += 1
            except OSError:
                continue  # a dangling or looping symlink, or a vanished entry: nothing to report


def walk_tree(
    root: str,
    seen: set[tuple[int, int]],
    stats: WalkStats | None = None,
    images: bool = False,
    one_file_system: bool = False,
) -> Iterator[Target]:
    """Each regular file below ``root``, sorted by path, each inode once, to be
    scanned if it has an object magic; then each directory that could not be listed."""
    stats = WalkStats() if stats is None else stats
    walker = _Walker(root, stats, images, one_file_system)
    walker.run()
    walker.files.sort()
    for path, key in walker.files:
        if key in seen:
            stats.duplicates += 1
            continue
        seen.add(key)
        stats.files += 1
        yield Target(path, None, True)
    for directory, reason in sorted(walker.failures):
        stats.listing_errors += 1
        yield Target(directory, reason)


def expand(
    paths: Iterable[str],
    recursive: bool,
    stats: WalkStats | None = None,
    archives: bool = False,
    one_file_system: bool = False,
) -> Iterator[Target]:
    """The files to scan.  Explicit paths are passed through as given (a file
    that is not an object file is then an error, not skipped); a directory
    named as a root is walked whatever its file system.  With ``archives``,
    an OCI image layout met by the walk is one target."""
    stats = WalkStats() if stats is None else stats
    seen: set[tuple[int, int]] = set()
    for path in paths:
        is_image = archives and os.path.isfile(os.path.join(path, "oci-layout"))
        if recursive and os.path.isdir(path) and not is_image:
            yield from walk_tree(path, seen, stats, archives, one_file_system)
        else:
            stats.files += 1
            yield Target(path)


def object_files(targets: Iterable[Target]) -> Iterator[Target]:
    """The targets that are worth scanning: explicit ones, and walked files with
    an object magic (for callers that want the list without scanning)."""
    for target in targets:
        if not target.check_magic or has_object_magic(target.path):
            yield target


class Tally:
    """The counts of the closing line of ``-r``, kept as the files stream past (none
    of them is kept).

    The members of static libraries are counted as members, with their
    archives, not as ELF files: ``/usr/lib`` holds 3,000 ELF files and
    24,000 archive members, and "27,000 ELF" would say neither.
    """

    def __init__(self) -> None:
        self.elf = self.macho = self.members = self.with_probes = 0
        self.sites = self.probes = self.errors = 0
        self.archives: set[str] = set()

    def add(self, scanned: ScannedFile) -> None:
        library = scanned.static_library
        if library is not None:
            self.members += 1
            self.archives.add(library)
        elif scanned.format == "elf":
            self.elf += 1
        elif scanned.format == "macho":
            self.macho += 1
        self.with_probes += bool(scanned.sites)
        self.sites += len(scanned.sites)
        self.probes += len({(s.provider, s.name) for s in scanned.sites})
        self.errors += scanned.error is not None

    def line(self, stats: WalkStats) -> str:
        """How much was looked at and what came of it."""
        kinds = f"{self.elf} ELF, {self.macho} Mach-O"
        if self.members:
            kinds += f", {len(self.archives)} ar archives ({self.members} members)"
        return (
            f"usdtscan: {stats.files} files seen, {kinds}, {self.with_probes} with probes, "
            f"{self.probes} probes, {self.sites} sites, {self.errors} errors"
        )


def summary(stats: WalkStats, files: Iterable[ScannedFile]) -> str:
    """The closing line of ``-r`` for files already scanned (:class:`Tally`)."""
    tally = Tally()
    for scanned in files:
        tally.add(scanned)
    return tally.line(stats)
