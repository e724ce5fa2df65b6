"""Packages and images, read in place: .deb, .rpm, .whl/.zip, tarballs, OCI images.

Nothing is unpacked to disk.  Each member that starts like an ELF or
Mach-O file is read into memory (at most :data:`MAX_MEMBER` bytes) and
scanned from there; every other member is skipped after its first bytes.
A member is named ``ARCHIVE!MEMBER`` (``python3.11-minimal_3.11.2_amd64.deb!usr/bin/python3.11``),
and the container levels a user never asked about (a .deb's
``data.tar.xz``, an rpm's cpio payload, an image's layer blobs) are left
out of the name but kept in :class:`Origin`.

Formats, and what reads them:

* ``.deb``: an ``ar`` archive whose ``data.tar[.gz|.xz|.zst|.bz2]`` member
  holds the files (Debian 12 uses xz, Ubuntu zstd);
* ``.rpm``: the lead, the signature and main headers, then a compressed
  ``cpio`` payload (:mod:`usdtscan.rpm`, our own small reader);
* ``.whl``/``.zip``: :mod:`zipfile`;
* ``.tar`` and ``.tar.gz``/``.xz``/``.bz2``/``.zst``: :mod:`tarfile`,
  streamed, over :mod:`gzip`, :mod:`lzma`, :mod:`bz2` or zstd (the
  standard library's ``compression.zstd`` from Python 3.14, its
  ``backports.zstd`` before);
* an OCI image layout (a directory with ``oci-layout`` and ``index.json``),
  the same packed in a tarball (``docker save`` from Docker 25,
  ``podman save --format oci-archive``), and a ``docker save`` /
  ``podman save`` tarball with ``manifest.json``: every image's layers in
  order, each member named by its path in the image, with the layer's
  digest.  A file that a later layer replaces or deletes (a whiteout) is
  not listed: it is not in the image.

Archive bombs are bounded: a member claiming more than :data:`MAX_MEMBER`
bytes is refused without being read, decompression stops after
:data:`MAX_EXPANDED` bytes per archive or when the output passes
:data:`RATIO_FLOOR` bytes at more than :data:`MAX_RATIO` times the input,
and archives nest at most :data:`MAX_DEPTH` deep.
"""

from __future__ import annotations

import io
import json
import os
import posixpath
import stat
import struct
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, TypeVar

from .debuginfo import DEFAULT_DEBUG_DIRS
from .errors import FileAccessError, MalformedFileError, NotObjectFileError, UsdtscanError
from .fileio import MEMBERS_IN_MEMORY, ByteSource, BytesReader, FileReader, describe_os_error
from .magic import AR_MAGICS, ELF_MAGIC, is_archive, is_macho
from .model import ArchiveMember as Origin
from .model import ScannedFile

if TYPE_CHECKING:
    from .symbols import SymbolIndex

# Byte streams of many kinds (files, tar and zip members, decompressors): only
# read() is common to all, so they are typed loosely.
Stream = Any

MAX_MEMBER = 1 << 30
MAX_EXPANDED = 16 << 30
MAX_RATIO = 200
RATIO_FLOOR = 256 << 20
MAX_DEPTH = 4
HEAD = 8

RPM_MAGIC = b"\xed\xab\xee\xdb"
ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
_COMPRESSIONS = {
    b"\x1f\x8b": "gzip",
    b"\xfd7zXZ\x00": "xz",
    b"\x28\xb5\x2f\xfd": "zstd",
    b"BZh": "bzip2",
}
WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"


class ArchiveBombError(MalformedFileError):
    """Decompression went past one of the bounds."""


def compression_of(head: bytes) -> str | None:
    for magic, kind in _COMPRESSIONS.items():
        if head.startswith(magic):
            return kind
    return None


def archive_kind(head: bytes) -> str | None:
    """What archive the first bytes announce, or None (a tar is found by
    its ``ustar`` magic at offset 257, so ``head`` should hold 262 bytes)."""
    if head.startswith(AR_MAGICS[0]) and head[8:24].rstrip(b" ").startswith(b"debian-binary"):
        return "deb"
    if head.startswith(RPM_MAGIC):
        return "rpm"
    if head.startswith(ZIP_MAGICS):
        return "zip"
    if compression_of(head) is not None:
        return "compressed"
    if head[257:262] == b"ustar":
        return "tar"
    return None


_T = TypeVar("_T")


def is_oci_layout(path: str) -> bool:
    return os.path.isfile(os.path.join(path, "oci-layout")) and os.path.isfile(
        os.path.join(path, "index.json")
    )


def looks_like_archive(path: str) -> bool:
    """For ``-r --archives``: whether the walk should open ``path`` as an archive."""
    if os.path.isdir(path):
        return is_oci_layout(path)
    try:
        with open(path, "rb") as stream:
            head = stream.read(262)
    except OSError:
        return False
    return archive_kind(head) is not None


def is_package(path: str) -> bool:
    """Whether ``path`` is a package or an image that :func:`read_package` opens:
    an OCI layout, or a regular file (never a FIFO, which would block the read)
    that starts as one of the archive kinds.  A static library is not one: its
    members are read by :mod:`usdtscan.archive`, named ``lib.a(m.o)``."""
    if os.path.isdir(path):
        return is_oci_layout(path)
    return os.path.isfile(path) and looks_like_archive(path)


# -- bounded streams -------------------------------------------------------------


class _Budget:
    """The decompressed bytes an archive (with all it nests) may still produce."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.expanded = 0

    def spend(self, produced: int, consumed: int) -> None:
        self.expanded += produced
        if self.expanded > MAX_EXPANDED:
            raise ArchiveBombError(
                self.path,
                f"stopped after {MAX_EXPANDED >> 30} GiB of decompressed data (an archive bomb?)",
            )
        if self.expanded > RATIO_FLOOR and self.expanded > MAX_RATIO * max(consumed, 1):
            raise ArchiveBombError(
                self.path,
                f"stopped: {self.expanded >> 20} MiB decompressed from {consumed >> 10} KiB "
                f"(over {MAX_RATIO}:1, an archive bomb?)",
            )


class _Counting(io.RawIOBase):
    """Counts what a decompressor has taken from its source."""

    def __init__(self, source: Stream) -> None:
        self.source = source
        self.consumed = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.source.read(len(buffer))
        buffer[: len(data)] = data
        self.consumed += len(data)
        return len(data)


class _Expanding(io.RawIOBase):
    """A decompressor's output, charged to the budget as it is read."""

    def __init__(self, stream: Stream, counter: _Counting, budget: _Budget) -> None:
        self.stream = stream
        self.counter = counter
        self.budget = budget

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.stream.read(len(buffer))
        buffer[: len(data)] = data
        self.budget.spend(len(data), self.counter.consumed)
        return len(data)


def _zstd_file(source: Stream) -> Stream:
    try:
        from compression import zstd  # type: ignore[import-not-found,unused-ignore]  # 3.14+
    except ImportError:
        from backports import zstd
    return zstd.ZstdFile(source)


def decompressed(source: Stream, kind: str, budget: _Budget) -> Stream:
    """A bounded stream of what ``source`` decompresses to."""
    import bz2
    import gzip
    import lzma

    counter = _Counting(source)
    raw: Stream = io.BufferedReader(counter)
    opener: dict[str, Callable[[Stream], Stream]] = {
        "gzip": lambda s: gzip.GzipFile(fileobj=s, mode="rb"),
        "xz": lambda s: lzma.LZMAFile(s),  # noqa: SIM115 (closed with the stream)
        "bzip2": lambda s: bz2.BZ2File(s),
        "zstd": _zstd_file,
    }
    stream = opener[kind](raw)
    return io.BufferedReader(_Expanding(stream, counter, budget), 1 << 16)


_READ_ERRORS: tuple[type[BaseException], ...] = (OSError, EOFError, ValueError, struct.error)


def _stream_errors() -> tuple[type[BaseException], ...]:
    import lzma
    import tarfile
    import zipfile

    errors: list[type[BaseException]] = [
        *_READ_ERRORS,
        lzma.LZMAError,
        tarfile.TarError,
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
    ]
    try:
        from compression import zstd  # type: ignore[import-not-found,unused-ignore]  # 3.14+
    except ImportError:
        try:
            from backports import zstd
        except ImportError:
            return tuple(errors)
    errors.append(zstd.ZstdError)
    return tuple(errors)


# -- the reader ------------------------------------------------------------------


ScanBytes = Callable[[str, bytes], ScannedFile | list[ScannedFile]]


@dataclass(slots=True)
class _Layer:
    """What a layer puts in the image and removes from the layers below it."""

    paths: set[str] = field(default_factory=set)
    whiteouts: set[str] = field(default_factory=set)
    opaque: set[str] = field(default_factory=set)


class ArchiveReader:
    """Reads one archive (and what it nests), scanning object members with ``scan_bytes``."""

    def __init__(self, path: str, scan_bytes: ScanBytes) -> None:
        self.path = path
        self.scan_bytes = scan_bytes
        self.budget = _Budget(path)
        self.results: list[tuple[Origin, ScannedFile]] = []
        self.errors = _stream_errors()

    # A member's bytes, or why not.
    def _member_bytes(self, name: str, size: int | None, head: bytes, rest: Stream) -> bytes:
        if size is not None and size > MAX_MEMBER:
            raise ArchiveBombError(
                name, f"member claims {size} bytes, over the {MAX_MEMBER >> 20} MiB limit"
            )
        data: bytes = head + rest.read(MAX_MEMBER + 1 - len(head))
        if len(data) > MAX_MEMBER:
            raise ArchiveBombError(name, f"member is over the {MAX_MEMBER >> 20} MiB limit")
        if size is not None and len(data) != size:
            raise MalformedFileError(name, f"member truncated ({len(data)} of {size} bytes)")
        return data

    def member(self, origin: Origin, size: int | None, stream: Stream, depth: int) -> None:
        """One member: scanned if an object file, opened if an archive, else skipped."""
        display = f"{origin.archive}!{origin.member}"
        head = stream.read(HEAD)
        nested = None
        if not (head[:4] == ELF_MAGIC or is_macho(head)):
            if len(head) < 4:
                return
            head += stream.read(262 - len(head))
            nested = archive_kind(head)
            if nested is None and not is_archive(head):
                return
            if depth >= MAX_DEPTH:
                reason = f"archives nested deeper than {MAX_DEPTH}: not opened (an archive bomb?)"
                self.results.append((origin, ScannedFile(display, error=reason)))
                return
        try:
            data = self._member_bytes(display, size, head, stream)
        except UsdtscanError as exc:
            self.results.append((origin, ScannedFile(display, error=exc.reason)))
            return
        if nested is None:
            self._scanned(origin, self.scan_bytes(display, data))
            return
        if nested == "compressed" and not self._is_compressed_tar(data):
            return  # a .gz man page, not a tarball
        inner = ArchiveReader(display, self.scan_bytes)
        inner.budget = self.budget
        failure: ScannedFile | None = None
        try:
            inner.read(io.BytesIO(data), nested, depth + 1)
        except UsdtscanError as exc:
            failure = ScannedFile(display, error=exc.reason)
        for inner_origin, scanned in inner.results:
            self.results.append(
                (
                    replace(
                        inner_origin,
                        archive=origin.archive,
                        member=f"{origin.member}!{inner_origin.member}",
                    ),
                    scanned,
                )
            )
        if failure is not None:
            self.results.append((origin, failure))

    def _scanned(self, origin: Origin, scanned: ScannedFile | list[ScannedFile]) -> None:
        """Record a scan; a static library's members are named ``lib.a(m.o)``
        inside the package, as the listing names them outside."""
        if isinstance(scanned, ScannedFile):
            self.results.append((origin, scanned))
            return
        for one in scanned:
            inside = one.member_of.member if one.member_of is not None else None
            member = origin.member if inside is None else f"{origin.member}({inside})"
            self.results.append((replace(origin, member=member), one))

    def _is_compressed_tar(self, data: bytes) -> bool:
        kind = compression_of(data[:8])
        if kind is None:
            return False
        try:
            head: bytes = decompressed(io.BytesIO(data), kind, self.budget).read(512)
        except self.errors:
            return False
        return head[257:262] == b"ustar"

    def read(self, source: Stream, kind: str, depth: int = 0) -> None:
        """Every member of ``source``; raises MalformedFileError when the archive is broken."""
        try:
            if kind == "deb":
                self._deb(source, depth)
            elif kind == "rpm":
                self._rpm(source, depth)
            elif kind == "zip":
                self._zip(source, depth)
            elif kind in ("tar", "compressed"):
                self._tarball(source, depth)
            else:
                raise NotObjectFileError(self.path, "not an archive")
        except UsdtscanError:
            raise
        except self.errors as exc:
            raise MalformedFileError(self.path, _damage(exc)) from None

    # -- .deb ------------------------------------------------------------------

    def _deb(self, source: Stream, depth: int) -> None:
        """A .deb is an ``ar`` archive, read by :mod:`usdtscan.archive` as a static
        library is; its ``data.tar`` member is streamed from where it lies."""
        from .archive import iter_entries

        found = False
        ar = _byte_source(self.path, source)
        for entry in iter_entries(self.path, ar, partial=True):
            if entry.table_kind is not None or not entry.name.startswith("data.tar"):
                continue
            found = True
            stream = _SourceStream(ar, entry.content_offset, entry.content_size)
            self._tar(_maybe_decompressed(stream, self.budget), depth, (entry.name,), None)
        if not found:
            raise MalformedFileError(self.path, "a .deb without a data.tar member")

    # -- .rpm ------------------------------------------------------------------

    def _rpm(self, source: Stream, depth: int) -> None:
        from . import rpm

        package = rpm.read_headers(self.path, source)
        payload = _maybe_decompressed(source, self.budget)
        for name, size, stream in rpm.cpio_members(self.path, payload):
            member = name.lstrip("./") if name.startswith("./") else name.lstrip("/")
            origin = Origin(self.path, member, (package.payload_name,), None, None, "/" + member)
            self.member(origin, size, stream, depth)

    # -- .zip / .whl -----------------------------------------------------------

    def _zip(self, source: Stream, depth: int) -> None:
        import zipfile

        with zipfile.ZipFile(source) as archive:
            for info in archive.infolist():
                if info.is_dir():
                    continue
                origin = Origin(self.path, info.filename)
                if info.file_size > MAX_MEMBER:
                    self.member(origin, info.file_size, io.BytesIO(), depth)
                    continue
                with archive.open(info) as stream:
                    self.member(origin, info.file_size, _Charged(stream, self.budget), depth)

    # -- tarballs and images ---------------------------------------------------

    def _tarball(self, source: Stream, depth: int) -> None:
        """A plain or compressed tar; an image if it holds an image's index."""
        import tarfile

        seekable = _seekable(source)
        if seekable and compression_of(_peek(source, 8)) is None:
            try:
                archive = tarfile.open(fileobj=source, mode="r:")  # noqa: SIM115 (see else)
                names = {_clean(name) for name in archive.getnames()}
            except self.errors:
                names = set()  # the streaming read below says what is wrong, and where
            else:
                with archive:
                    if "manifest.json" in names or {"oci-layout", "index.json"} <= names:
                        ImageReader(self, _TarStore(archive)).read(depth)
                        return
            source.seek(0)
        self._tar(_maybe_decompressed(source, self.budget), depth, (), None)

    def _tar(
        self,
        stream: Stream,
        depth: int,
        containers: tuple[str, ...],
        image: tuple[str, str, _Layer] | None,
    ) -> None:
        """Stream a tar: each regular member once (hard and symbolic links are
        other names for a member already seen, as ``-r`` lists an inode once)."""
        import tarfile

        ended: Any = _StopAtEnd(stream)
        with tarfile.open(fileobj=ended, mode="r|") as archive:
            for info in archive:
                name = _clean(info.name)
                if image is not None:
                    _record(image[2], name)
                if not info.isreg() or not name:
                    continue
                if image is not None and posixpath.basename(name).startswith(WHITEOUT):
                    continue
                extracted = archive.extractfile(info)
                if extracted is None:
                    continue
                installed = "/" + name if containers or image is not None else None
                origin = Origin(
                    self.path,
                    name,
                    containers,
                    None if image is None else image[0],
                    None if image is None else image[1],
                    installed,
                )
                self.member(origin, info.size, extracted, depth)


class _StopAtEnd:
    """Ends a tar stream at its end: :mod:`tarfile` skips a member by reading
    its claimed size in 10 KiB blocks, past the end too, so a member claiming
    a terabyte would cost 10**8 empty reads.  A second read at the end raises."""

    def __init__(self, stream: Stream) -> None:
        self.stream = stream
        self.ended = False

    def read(self, size: int = -1) -> bytes:
        data: bytes = self.stream.read(size)
        if data or size == 0:
            return data
        if self.ended:
            raise EOFError("unexpected end of data")
        self.ended = True
        return data


class _Charged(io.RawIOBase):
    """A zip member's stream, charged to the budget (zip members are compressed)."""

    def __init__(self, stream: Stream, budget: _Budget) -> None:
        self.stream = stream
        self.budget = budget
        self.consumed = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data: bytes = self.stream.read(size)
        # Each zip member is bounded by MAX_MEMBER already: count the total only.
        self.budget.spend(len(data), MAX_EXPANDED)
        return data


def _maybe_decompressed(stream: Stream, budget: _Budget) -> Stream:
    buffered = stream if hasattr(stream, "peek") else io.BufferedReader(stream)
    kind = compression_of(buffered.peek(8)[:8])
    return buffered if kind is None else decompressed(buffered, kind, budget)


def _peek(source: Stream, size: int) -> bytes:
    position = source.tell()
    data: bytes = source.read(size)
    source.seek(position)
    return data


def _seekable(source: Stream) -> bool:
    try:
        return bool(source.seekable())
    except (AttributeError, OSError, ValueError):
        return False


def _clean(name: str) -> str:
    """A member name as a relative POSIX path (``./usr/bin/x`` -> ``usr/bin/x``)."""
    parts = [p for p in name.split("/") if p not in ("", ".")]
    return "/".join(parts)


def _record(layer: _Layer, name: str) -> None:
    base = posixpath.basename(name)
    directory = posixpath.dirname(name)
    if base == OPAQUE:
        layer.opaque.add(directory)
    elif base.startswith(WHITEOUT):
        layer.whiteouts.add(posixpath.join(directory, base[len(WHITEOUT) :]))
    else:
        layer.paths.add(name)


def _hidden_by(path: str, upper: _Layer) -> bool:
    if path in upper.paths or path in upper.whiteouts:
        return True
    parent = posixpath.dirname(path)
    while parent:
        if parent in upper.whiteouts or parent in upper.opaque:
            return True
        parent = posixpath.dirname(parent)
    return "" in upper.opaque


def _damage(exc: BaseException) -> str:
    """What a decompressor's, tarfile's or zipfile's exception says of the archive
    (a failed system call is described as every reader describes one)."""
    if isinstance(exc, OSError) and exc.errno is not None:
        return f"broken archive: {describe_os_error(exc)}"
    text = str(exc) or type(exc).__name__
    if isinstance(exc, EOFError):
        return f"truncated archive ({text})"
    return f"broken archive: {text}"


def _byte_source(path: str, stream: Stream) -> ByteSource:
    """The package as a :class:`~usdtscan.fileio.ByteSource`: the open file
    itself, or the bytes of a package nested in another (held in memory)."""
    if isinstance(stream, io.BytesIO):
        return BytesReader(path, stream.getvalue())
    return FileReader(path, stream.fileno())


class _SourceStream(io.RawIOBase):
    """``size`` bytes at ``offset`` of a ByteSource, as a stream."""

    def __init__(self, source: ByteSource, offset: int, size: int) -> None:
        self.source = source
        self.position = offset
        self.remaining = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        size = min(len(buffer), self.remaining, 1 << 20)
        if not size:
            return 0
        data = self.source.read(self.position, size, "package member")
        buffer[:size] = data
        self.position += size
        self.remaining -= size
        return size


# -- images ----------------------------------------------------------------------


class _DirStore:
    def __init__(self, root: str) -> None:
        self.root = root

    def open(self, name: str) -> Stream:
        path = os.path.join(self.root, _clean(name))
        try:
            return open(path, "rb")
        except OSError as exc:
            raise MalformedFileError(self.root, f"image blob {name}: {exc.strerror}") from None

    def has(self, name: str) -> bool:
        return os.path.isfile(os.path.join(self.root, _clean(name)))


class _TarStore:
    def __init__(self, archive: Any) -> None:
        self.archive = archive
        self.members = {_clean(m.name): m for m in archive.getmembers()}

    def _resolve(self, name: str) -> Any:
        member = self.members.get(_clean(name))
        for _ in range(8):  # docker save links identical layers to one another
            if member is None or not (member.issym() or member.islnk()):
                break
            target = member.linkname
            if member.issym():
                target = posixpath.join(posixpath.dirname(_clean(member.name)), target)
            member = self.members.get(posixpath.normpath(_clean(target)))
        return member

    def open(self, name: str) -> Stream:
        member = self._resolve(name)
        stream = None if member is None else self.archive.extractfile(member)
        if stream is None:
            raise MalformedFileError(self.archive.name or "image", f"no image blob {name}")
        return stream

    def has(self, name: str) -> bool:
        return self._resolve(name) is not None


def _blob_name(digest: str) -> str:
    algorithm, _, hexdigest = digest.partition(":")
    if not algorithm or not hexdigest or "/" in digest or ".." in digest:
        raise ValueError(f"bad digest {digest!r}")
    return f"blobs/{algorithm}/{hexdigest}"


class ImageReader:
    """Every image of an OCI layout or a docker/podman save tarball, layer by layer."""

    def __init__(self, reader: ArchiveReader, store: _DirStore | _TarStore) -> None:
        self.reader = reader
        self.store = store

    def _json(self, name: str) -> Any:
        with self.store.open(name) as stream:
            data = stream.read(64 << 20)
        try:
            return json.loads(data)
        except ValueError as exc:
            raise MalformedFileError(self.reader.path, f"{name}: not JSON ({exc})") from None

    def read(self, depth: int) -> None:
        images: list[tuple[str, list[tuple[str, str]]]] = []  # (name, [(layer id, blob)])
        if self.store.has("index.json"):
            self._oci_index(self._json("index.json"), images, None, 0)
        if not images and self.store.has("manifest.json"):
            for entry in _list(self._json("manifest.json")):
                tags = entry.get("RepoTags") or []
                name = tags[0] if tags else str(entry.get("Config", "image"))
                diff_ids = self._diff_ids(str(entry.get("Config", "")))
                blobs = [str(layer) for layer in _list(entry.get("Layers"))]
                ids = diff_ids if len(diff_ids) == len(blobs) else blobs
                images.append((name, list(zip(ids, blobs, strict=True))))
        if not images:
            raise MalformedFileError(self.reader.path, "an image without a manifest")
        for name, layers in images:
            self._image(name, layers, depth)

    def _diff_ids(self, config: str) -> list[str]:
        if not config or not self.store.has(config):
            return []
        rootfs = self._json(config).get("rootfs") or {}
        return [str(d) for d in _list(rootfs.get("diff_ids"))]

    def _oci_index(
        self,
        index: Any,
        images: list[tuple[str, list[tuple[str, str]]]],
        name: str | None,
        level: int,
    ) -> None:
        if level > 4:
            raise MalformedFileError(self.reader.path, "image indexes nest too deep")
        for descriptor in _list(index.get("manifests") if isinstance(index, dict) else None):
            if not isinstance(descriptor, dict):
                continue
            annotations = descriptor.get("annotations") or {}
            label = annotations.get("org.opencontainers.image.ref.name") or name
            platform = descriptor.get("platform") or {}
            if platform.get("architecture"):
                arch = "/".join(
                    str(platform[k]) for k in ("os", "architecture", "variant") if platform.get(k)
                )
                label = f"{label or 'image'} [{arch}]"
            digest = str(descriptor.get("digest", ""))
            document = self._json(_blob_name(digest))
            media = str(descriptor.get("mediaType") or document.get("mediaType") or "")
            if "index" in media or "manifest.list" in media or "manifests" in document:
                self._oci_index(document, images, label, level + 1)
                continue
            layers = [
                (str(layer.get("digest")), _blob_name(str(layer.get("digest"))))
                for layer in _list(document.get("layers"))
                if isinstance(layer, dict)
            ]
            images.append((label or digest, layers))

    def _image(self, name: str, layers: list[tuple[str, str]], depth: int) -> None:
        reader = self.reader
        start = len(reader.results)
        recorded: list[_Layer] = []
        for layer_id, blob in layers:
            layer = _Layer()
            with self.store.open(blob) as stream:
                tar = _maybe_decompressed(stream, reader.budget)
                reader._tar(tar, depth, (blob,), (name, layer_id, layer))
            recorded.append(layer)
        # Drop what a later layer replaced or deleted: it is not in the image.
        order = {layer_id: i for i, (layer_id, _blob) in enumerate(layers)}
        kept = []
        for origin, scanned in reader.results[start:]:
            position = order.get(origin.layer or "", -1)
            path = origin.member.split("!", 1)[0]
            if any(_hidden_by(path, upper) for upper in recorded[position + 1 :]):
                continue
            kept.append((origin, scanned))
        reader.results[start:] = kept


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


# -- entry points ----------------------------------------------------------------


def _open_file(path: str) -> Stream:
    try:
        stream = open(path, "rb")  # noqa: SIM115 (closed by the caller)
    except OSError as exc:
        raise FileAccessError(path, describe_os_error(exc)) from None
    info = os.fstat(stream.fileno())
    if not stat.S_ISREG(info.st_mode):
        stream.close()
        raise FileAccessError(path, "not a regular file")
    return stream


def read_package(path: str, scan_bytes: ScanBytes) -> list[tuple[Origin, ScannedFile]]:
    """Every object member of the archive or image at ``path``, scanned.

    Raises :class:`UsdtscanError` when ``path`` cannot be opened or is not
    an archive.  Damage found later is returned as a final entry whose
    ``ScannedFile.error`` says what is wrong, after the members read before it.
    """
    reader = ArchiveReader(path, scan_bytes)
    if os.path.isdir(path):
        if not is_oci_layout(path):
            raise FileAccessError(path, "is a directory (use -r to scan it)")
        try:
            ImageReader(reader, _DirStore(path)).read(0)
        except UsdtscanError as exc:
            reader.results.append((Origin(path, ""), ScannedFile(path, error=exc.reason)))
        except reader.errors as exc:
            reader.results.append((Origin(path, ""), ScannedFile(path, error=_damage(exc))))
        return reader.results
    with _open_file(path) as stream:
        kind = archive_kind(stream.read(262))
        if kind is None:
            raise NotObjectFileError(path, "not an archive")
        stream.seek(0)
        try:
            reader.read(stream, kind)
        except UsdtscanError as exc:
            reader.results.append((Origin(path, ""), ScannedFile(path, error=exc.reason)))
    return reader.results


def scan_member_bytes(
    path: str, data: bytes, debug_dirs: tuple[str, ...] | None, arch: str | None
) -> ScannedFile | list[ScannedFile]:
    """Scan one member held in memory (each ELF member of a static library).
    Its symbol table is read now, while the bytes are here, for the members
    that have probes (symbol operands)."""
    from .scan import FileSymbols, scan_data

    if is_archive(data[:24]):
        return _scan_static_library(path, data, debug_dirs, arch)
    try:
        scanned = scan_data(path, data, debug_dirs, arch)
    except UsdtscanError as exc:
        return ScannedFile(path, error=exc.reason)
    symbols = scanned.symbols
    if isinstance(symbols, FileSymbols) and symbols.debug_path is None:
        scanned.symbols = _symbol_index(path, data)
    return scanned


def _scan_static_library(
    path: str, data: bytes, debug_dirs: tuple[str, ...] | None, arch: str | None
) -> ScannedFile | list[ScannedFile]:
    from .archive import MemberReader, scan_library
    from .scan import FileSymbols, member_scanner

    try:
        members = scan_library(path, BytesReader(path, data), member_scanner(debug_dirs, arch))
    except UsdtscanError as exc:
        return ScannedFile(path, error=exc.reason)
    for scanned in members:
        symbols = scanned.symbols
        if isinstance(symbols, FileSymbols) and isinstance(symbols.reread, MemberReader):
            member = symbols.reread.member
            if member.data_offset is not None:
                start = member.data_offset
                scanned.symbols = _symbol_index(scanned.path, data[start : start + member.size])
    return members


def _symbol_index(path: str, data: bytes) -> SymbolIndex | None:
    from .elf import ElfFile
    from .symbols import symbol_index

    try:
        return symbol_index(ElfFile(path, data))
    except UsdtscanError:
        return None


def scan_archive(
    path: str,
    debug_dirs: tuple[str, ...] | None = DEFAULT_DEBUG_DIRS,
    arch: str | None = None,
) -> list[ScannedFile]:
    """One :class:`ScannedFile` per object member of the archive or image at
    ``path`` (``member_of`` says where it lies), then one with ``error`` set
    if the archive is damaged; raises :class:`UsdtscanError` when ``path``
    cannot be opened or is not an archive."""

    def scan_bytes(display: str, data: bytes) -> ScannedFile | list[ScannedFile]:
        return scan_member_bytes(display, data, debug_dirs, arch)

    results = []
    for origin, scanned in read_package(path, scan_bytes):
        if origin.member:
            scanned.member_of = origin
        results.append(scanned)
    return results


def visit_members(path: str, visit: Callable[[str], _T]) -> tuple[list[_T], str | None]:
    """``visit(ARCHIVE!member)`` for each object member of the package or image at
    ``path``, one at a time, while :data:`~usdtscan.fileio.MEMBERS_IN_MEMORY`
    holds that member's bytes (for readers that take a path, as the lint does);
    the results, and the damage that stopped the read (None: read whole).
    Raises :class:`UsdtscanError` when ``path`` cannot be opened or is not an archive."""
    results: list[_T] = []

    def keep(display: str, data: bytes) -> ScannedFile:
        MEMBERS_IN_MEMORY[display] = data
        try:
            results.append(visit(display))
        finally:
            MEMBERS_IN_MEMORY.pop(display, None)
        return ScannedFile(display)

    damage = next((s.error for _, s in read_package(path, keep) if s.error is not None), None)
    return results, damage


@contextmanager
def members_in_memory(path: str, wanted: Callable[[str], bool]) -> Iterator[list[str]]:
    """The object members of an archive whose names ``wanted`` accepts, held
    in memory so that readers taking a path (:func:`usdtscan.scan.mapped`)
    open ``ARCHIVE!member`` as a file; released on exit.  A damaged archive
    yields the members read before the damage and then raises."""
    held: list[str] = []
    failure: str | None = None

    def keep(display: str, data: bytes) -> ScannedFile:
        member = display[len(path) + 1 :].split("!")[-1]
        if wanted(member):
            MEMBERS_IN_MEMORY[display] = data
            held.append(display)
        return ScannedFile(display)

    try:
        for _origin, scanned in read_package(path, keep):
            if scanned.error is not None and failure is None:
                failure = scanned.error
        if failure is not None and not held:
            raise MalformedFileError(path, failure)
        yield held
    finally:
        for name in held:
            MEMBERS_IN_MEMORY.pop(name, None)
