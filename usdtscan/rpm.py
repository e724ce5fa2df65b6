"""A small rpm reader: enough to stream the files of the payload.

An rpm file is (rpm's ``lib/rpmlead.c``, ``lib/header.c``, and the
"RPM file format" chapter of the rpm documentation):

1. the *lead*, 96 bytes starting ``ed ab ee db``, kept only for ``file(1)``;
2. the *signature* header, padded to a multiple of 8 bytes;
3. the main *header*;
4. the *payload*: a ``cpio`` archive (``newc``, magic ``070701``, or
   ``070702`` with checksums), compressed as the header's
   ``PAYLOADCOMPRESSOR`` tag says (gzip, bzip2, xz, lzma or zstd).

Each header is a magic ``8e ad e8 01``, four reserved bytes, the number of
index entries and the size of the data store (both 32-bit big-endian), then
16-byte index entries (tag, type, offset, count) and the store.  We read
only the payload format and compressor tags; the payload itself is sniffed
by its magic as well, because that is what rpm2cpio trusts.

Why our own rather than the ``rpmfile`` package from PyPI: it seeks, so it
cannot read an rpm inside a stream (a layer, a tarball of rpms), its zstd
support needs another package (``zstandard``), and what we need is 60 lines.
Files over 4 GiB (``07070X``-style stripped cpio, rpm 4.12's large-file
payloads) are reported as unsupported rather than misread.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .errors import MalformedFileError

Stream = Any  # any object with read()

LEAD_SIZE = 96
LEAD_MAGIC = b"\xed\xab\xee\xdb"
HEADER_MAGIC = b"\x8e\xad\xe8\x01"
TAG_PAYLOADFORMAT = 1124
TAG_PAYLOADCOMPRESSOR = 1125
TYPE_STRING = 6
MAX_HEADER = 256 << 20  # rpm's own limit on a header's index + store
CPIO_HEADER = 110
CPIO_MAGICS = (b"070701", b"070702")
CPIO_TRAILER = "TRAILER!!!"


@dataclass(frozen=True, slots=True)
class Package:
    payload_format: str
    compressor: str

    @property
    def payload_name(self) -> str:
        """How the payload is named in ``Origin.containers``: ``cpio.zstd``."""
        return f"{self.payload_format}.{self.compressor}"


def _exactly(path: str, source: Stream, size: int, what: str, offset: int) -> bytes:
    data: bytes = source.read(size)
    if len(data) != size:
        raise MalformedFileError(path, f"truncated rpm {what}", offset)
    return data


def _header(path: str, source: Stream, offset: int, what: str) -> tuple[dict[int, str], int]:
    """The string tags of one header and its size on disk (before padding)."""
    intro = _exactly(path, source, 16, what, offset)
    if intro[:4] != HEADER_MAGIC:
        raise MalformedFileError(path, f"bad rpm {what} magic", offset)
    entries, store_size = struct.unpack(">II", intro[8:16])
    if entries * 16 + store_size > MAX_HEADER:
        raise MalformedFileError(path, f"rpm {what} claims {entries} entries, too large", offset)
    index = _exactly(path, source, entries * 16, what, offset + 16)
    store = _exactly(path, source, store_size, what, offset + 16 + entries * 16)
    strings: dict[int, str] = {}
    for tag, kind, start, _count in struct.iter_unpack(">IIiI", index):
        if kind != TYPE_STRING or tag not in (TAG_PAYLOADFORMAT, TAG_PAYLOADCOMPRESSOR):
            continue
        if not 0 <= start < store_size:
            raise MalformedFileError(path, f"rpm {what} tag {tag} points outside its store", offset)
        end = store.find(b"\0", start)
        strings[tag] = store[start : end if end >= 0 else store_size].decode("ascii", "replace")
    return strings, 16 + entries * 16 + store_size


def read_headers(path: str, source: Stream) -> Package:
    """Read the lead and both headers, leaving ``source`` at the payload."""
    lead = _exactly(path, source, LEAD_SIZE, "lead", 0)
    if lead[:4] != LEAD_MAGIC:
        raise MalformedFileError(path, "not an rpm (bad lead magic)", 0)
    _signature, size = _header(path, source, LEAD_SIZE, "signature header")
    padding = -size % 8
    _exactly(path, source, padding, "signature padding", LEAD_SIZE + size)
    tags, _ = _header(path, source, LEAD_SIZE + size + padding, "header")
    payload_format = tags.get(TAG_PAYLOADFORMAT, "cpio")
    if payload_format != "cpio":
        raise MalformedFileError(path, f"rpm payload format {payload_format!r} is not supported")
    return Package(payload_format, tags.get(TAG_PAYLOADCOMPRESSOR, "gzip"))


def cpio_members(path: str, source: Stream) -> Iterator[tuple[str, int, Stream]]:
    """Each regular file of a ``newc`` cpio stream: name, size, and a stream of its bytes.

    The stream must be read (or not) before the next member is asked for.
    Hard-linked files carry their data on the last link only; the others
    have size 0 and are skipped, so each file's bytes are scanned once.
    """
    offset = 0
    while True:
        header = source.read(CPIO_HEADER)
        if len(header) < CPIO_HEADER:
            raise MalformedFileError(path, "truncated cpio payload (no trailer)", offset)
        magic = header[:6]
        if magic not in CPIO_MAGICS:
            if magic.startswith(b"07070"):
                raise MalformedFileError(path, f"cpio format {magic.decode()} is not supported")
            raise MalformedFileError(path, "bad cpio header in the rpm payload", offset)
        try:
            fields = [int(header[6 + 8 * i : 14 + 8 * i], 16) for i in range(13)]
        except ValueError:
            raise MalformedFileError(path, "bad cpio header field", offset) from None
        mode, size, name_size = fields[1], fields[6], fields[11]
        name_bytes = source.read(name_size)
        if len(name_bytes) != name_size:
            raise MalformedFileError(path, "truncated cpio file name", offset)
        source.read(-(CPIO_HEADER + name_size) % 4)
        name = name_bytes.rstrip(b"\0").decode("utf-8", "backslashreplace")
        if name == CPIO_TRAILER:
            return
        member = Bounded(source, size)
        if mode & 0o170000 == 0o100000 and size:
            yield name, size, member
        member.skip_rest()
        if member.remaining:
            raise MalformedFileError(path, f"cpio member {name!r} is truncated", offset)
        source.read(-size % 4)
        offset += CPIO_HEADER + name_size + size


class Bounded(io.RawIOBase):
    """The next ``size`` bytes of a stream, as a stream."""

    def __init__(self, source: Stream, size: int) -> None:
        self.source = source
        self.remaining = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.source.read(min(len(buffer), self.remaining))
        buffer[: len(data)] = data
        self.remaining -= len(data)
        return len(data)

    def skip_rest(self) -> None:
        while self.remaining:
            data = self.source.read(min(self.remaining, 1 << 20))
            if not data:
                return
            self.remaining -= len(data)
