"""Static ``ar`` archives (``libpython3.13.a``), read member by member.

Every ``--with-dtrace`` CPython build installs ``libpython3.X.a`` and
embedders link it, so its members' notes are the markers an embedding
program will carry.  Members are named ``ARCHIVE(MEMBER)``, as ``readelf``
and ``nm`` name them (``ARCHIVE[MEMBER]`` in a thin archive, as readelf does).

The format (``ar.h``, as GNU binutils and BSD/LLVM ``ar`` write it): an
8-byte magic, then members, each a 60-byte header (name, date, uid, gid,
mode, decimal size, "`\\n") followed by its data, padded to an even offset.
Special members:

* ``/`` (GNU symbol table, 32-bit big-endian offsets), ``/SYM64/`` (64-bit);
* ``//`` (GNU long names: ``/123`` in a header names the entry at offset
  123, each entry ending in ``/\\n``);
* ``__.SYMDEF``, ``__.SYMDEF SORTED``, ``__.SYMDEF_64`` (BSD ranlib tables),
  possibly with their name stored BSD-style;
* ``#1/LEN`` (BSD long name: the LEN bytes after the header are the name,
  counted in the member's size).

A thin archive (``!<thin>\\n``, ``ar --thin``) stores headers and tables
only: each member is the file its name gives, relative to the archive's
directory.  Every size and offset is checked against the data; a broken
archive raises :class:`MalformedFileError` naming the header's offset.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

from .errors import FileChangedError, MalformedFileError, UsdtscanError
from .fileio import MEMBERS_IN_MEMORY, ByteSource, BytesReader, SliceReader, opened
from .magic import AR_MAGICS, ELF_MAGIC, is_archive
from .model import ArchiveMember, ScannedFile
from .sieve import without_probes

AR_MAGIC, THIN_MAGIC = AR_MAGICS
_HEADER = 60
_FMAG = b"`\n"
_GNU_SYMBOLS = {"/": 4, "/SYM64/": 8}
_BSD_SYMBOLS = {"__.SYMDEF": 4, "__.SYMDEF SORTED": 4, "__.SYMDEF_64": 8, "__.SYMDEF_64 SORTED": 8}
_LONG_NAMES = "//"
LONG_NAMES = "names"  # Entry.table_kind of the GNU long-name table


@dataclass(frozen=True, slots=True)
class Member:
    """One member: its name, where its header is, and where its bytes are.

    ``data_offset`` is None in a thin archive, whose members are the files
    ``external`` names.
    """

    name: str
    header_offset: int
    size: int
    data_offset: int | None
    external: str | None = None


@dataclass(slots=True)
class Archive:
    """An archive's members, and where its symbol tables lie (read by
    :func:`symbol_index` only when asked: a scan needs none of them, and
    parsing the tables of /usr/lib's libraries cost more than their members)."""

    path: str
    thin: bool
    members: list[Member] = field(default_factory=list)
    symbol_table: str | None = None  # "gnu", "gnu64", "bsd", "bsd64" or None
    # (kind, offset, size) of each symbol table, in archive order
    symbol_tables: list[tuple[str, int, int]] = field(default_factory=list)

    def member_path(self, member: Member) -> str:
        """``lib.a(member.o)``; ``lib.a[member.o]`` for a thin archive, as readelf
        writes it (the brackets say the member is a file of its own)."""
        if self.thin:
            return f"{self.path}[{member.name}]"
        return f"{self.path}({member.name})"


def read_archive(path: str, data: ByteSource | bytes) -> Archive:
    """The members of an archive and where its symbol tables lie; raises
    MalformedFileError."""
    source = BytesReader(path, data) if isinstance(data, bytes) else data
    magic = source.head(8)
    if magic not in AR_MAGICS:
        raise MalformedFileError(path, "not an ar archive")
    archive = Archive(path, thin=magic == THIN_MAGIC)
    for entry in iter_entries(path, source, archive.thin):
        if entry.table_kind is None:
            archive.members.append(_member(archive, entry))
        elif entry.table_kind != LONG_NAMES:
            archive.symbol_table = archive.symbol_table or entry.table_kind
            place = (entry.table_kind, entry.content_offset, entry.content_size)
            archive.symbol_tables.append(place)
    return archive


def symbol_index(archive: Archive, data: ByteSource | bytes) -> dict[str, str]:
    """Symbol -> member name, from the archive's index (what the linker reads);
    the first table that names a symbol wins.  Raises MalformedFileError."""
    source = BytesReader(archive.path, data) if isinstance(data, bytes) else data
    by_header = {member.header_offset: member.name for member in archive.members}
    symbols: dict[str, str] = {}
    for kind, offset, size in archive.symbol_tables:
        table = source.read(offset, size, "ar symbol table")
        for symbol, header_offset in _symbols(archive.path, kind, table):
            member_name = by_header.get(header_offset)
            if member_name is not None:
                symbols.setdefault(symbol, member_name)
    return symbols


def _member(archive: Archive, entry: Entry) -> Member:
    if not archive.thin:
        return Member(entry.name, entry.header_offset, entry.content_size, entry.content_offset)
    base = os.path.dirname(archive.path)
    external = entry.name if os.path.isabs(entry.name) else os.path.join(base, entry.name)
    return Member(entry.name, entry.header_offset, entry.content_size, None, external)


def _symbols(path: str, kind: str, table: bytes) -> Iterator[tuple[str, int]]:
    width = 8 if kind.endswith("64") else 4
    if kind.startswith("gnu"):
        return _gnu_symbols(path, table, width)
    return _bsd_symbols(path, table, width)


@dataclass(frozen=True, slots=True)
class Entry:
    """One header of an archive and where its content lies.

    ``table_kind`` says the header is not a member: a symbol table
    (``gnu``, ``gnu64``, ``bsd``, ``bsd64``) or the long-name table
    (:data:`LONG_NAMES`).  In a thin archive
    the content of a member is not stored (``data_end`` is the header's end).
    """

    name: str
    header_offset: int
    size: int
    content_offset: int
    content_size: int
    data_end: int
    table_kind: str | None = None

    @property
    def next_offset(self) -> int:
        """Where the next header starts: members are padded to an even offset."""
        return self.data_end + (self.data_end & 1)


def parse_header(path: str, header: bytes, offset: int) -> tuple[str, int]:
    """The raw name (blank-stripped) and the size of one 60-byte member header.

    Shared by the static-library reader and the .deb reader
    (:mod:`usdtscan.packages`), which reads the same format.
    """
    if header[58:60] != _FMAG:
        raise MalformedFileError(path, "bad ar member header (no `\\n terminator)", offset)
    raw_name = header[:16].decode("latin-1").rstrip(" ")
    size_text = header[48:58].decode("latin-1").strip()
    if not size_text.isdigit():
        raise MalformedFileError(path, f"bad ar member size {size_text!r}", offset)
    return raw_name, int(size_text)


def iter_entries(
    path: str, source: ByteSource, thin: bool = False, partial: bool = False
) -> Iterator[Entry]:
    """Every header after the magic, in order, each checked against the file's
    size before it is yielded; the long-name table is read as it is met.

    A member that runs past the end raises; with ``partial`` (a .deb, whose
    ``data.tar`` is read as a stream) it is first yielded cut to what the
    file holds, so that the members of a cut download read before the cut
    are still listed.
    """
    long_names = b""
    offset = 8
    end = source.size
    while offset < end:
        if offset + 1 == end and source.read(offset, 1, "ar padding") == b"\n":
            return  # the padding byte after an odd-sized last member
        if offset + _HEADER > end:
            raise MalformedFileError(path, "truncated ar member header", offset)
        header = source.read(offset, _HEADER, "ar member header")
        raw_name, size = parse_header(path, header, offset)
        entry = _entry(path, source, offset, raw_name, size, long_names, thin)
        if entry.data_end > end:
            cut = MalformedFileError(
                path, f"ar member {entry.name!r} runs past the end ({size} bytes)", offset
            )
            if partial:
                held = max(0, min(entry.content_size, end - entry.content_offset))
                yield replace(entry, content_size=held)
            raise cut
        if size < entry.content_offset - offset - _HEADER:
            reason = f"ar member {entry.name!r}: name longer than member"
            raise MalformedFileError(path, reason, offset)
        if entry.table_kind == LONG_NAMES:
            long_names = source.read(entry.content_offset, entry.content_size, "ar long names")
        yield entry
        offset = entry.next_offset


def _entry(
    path: str,
    source: ByteSource,
    offset: int,
    raw_name: str,
    size: int,
    long_names: bytes,
    thin: bool,
) -> Entry:
    data_offset = offset + _HEADER
    name, name_length = _member_name(path, raw_name, long_names, source, data_offset, offset)
    if raw_name in _GNU_SYMBOLS:
        kind: str | None = "gnu" if _GNU_SYMBOLS[raw_name] == 4 else "gnu64"
    elif name in _BSD_SYMBOLS:
        kind = "bsd" if _BSD_SYMBOLS[name] == 4 else "bsd64"
    elif raw_name == _LONG_NAMES:
        kind = LONG_NAMES
    else:
        kind = None
    # A thin archive stores the symbol table and the long names, not the members.
    stored = size if (kind is not None or not thin) else 0
    data_end = data_offset + stored
    content_size = max(0, size - name_length)
    content_offset = data_offset + name_length
    return Entry(name, offset, size, content_offset, content_size, data_end, kind)


def _member_name(
    path: str,
    raw: str,
    long_names: bytes,
    data: ByteSource,
    data_offset: int,
    header_offset: int,
) -> tuple[str, int]:
    """(name, bytes of name stored in the member's data) for one header."""
    if raw in _GNU_SYMBOLS or raw == _LONG_NAMES:
        return raw, 0
    if raw.startswith("#1/") and raw[3:].isdigit():
        length = int(raw[3:])
        if data_offset + length > data.size:
            raise MalformedFileError(path, "BSD long member name runs past the end", header_offset)
        name = data.read(data_offset, length, "BSD long member name").split(b"\0", 1)[0]
        return name.decode("utf-8", "replace"), length
    if raw.startswith("/") and raw[1:].isdigit():
        start = int(raw[1:])
        if start >= len(long_names):
            raise MalformedFileError(
                path, f"long member name {raw!r} outside the // table", header_offset
            )
        stop = long_names.find(b"\n", start)
        entry = long_names[start : stop if stop >= 0 else len(long_names)]
        return entry.rstrip(b"/").decode("utf-8", "replace"), 0
    # GNU ends short names with "/"; BSD pads with spaces.
    return (raw[:-1] if raw.endswith("/") else raw), 0


def _gnu_symbols(path: str, table: bytes, width: int) -> Iterator[tuple[str, int]]:
    """GNU ``/`` and ``/SYM64/``: count, then big-endian header offsets, then names."""
    code = ">I" if width == 4 else ">Q"
    if len(table) < width:
        return
    (count,) = struct.unpack_from(code, table)
    names_at = width + count * width
    if names_at > len(table):
        raise MalformedFileError(path, f"ar symbol table claims {count} symbols, too many")
    offsets = struct.unpack_from(f">{count}{code[1]}", table, width)
    names = table[names_at:].split(b"\0")
    for member_offset, name in zip(offsets, names, strict=False):
        yield name.decode("utf-8", "replace"), member_offset


def _bsd_symbols(path: str, table: bytes, width: int) -> Iterator[tuple[str, int]]:
    """BSD ``__.SYMDEF``: a byte count, (string index, header offset) pairs, a string
    table.  Written in the target's byte order, so the order that fits is used."""
    for order in ("<", ">"):
        code = order + ("I" if width == 4 else "Q")
        pairs = _bsd_pairs(table, code, width)
        if pairs is not None:
            yield from pairs
            return
    raise MalformedFileError(path, "BSD ar symbol table sizes do not fit its member")


def _bsd_pairs(table: bytes, code: str, width: int) -> list[tuple[str, int]] | None:
    if len(table) < width:
        return None
    (ranlib_bytes,) = struct.unpack_from(code, table)
    strings_at = width + ranlib_bytes
    if ranlib_bytes % (2 * width) or strings_at + width > len(table):
        return None
    (strings_size,) = struct.unpack_from(code, table, strings_at)
    strings = table[strings_at + width : strings_at + width + strings_size]
    if len(strings) != strings_size:
        return None
    pairs = []
    for index in range(ranlib_bytes // (2 * width)):
        string_index, member_offset = struct.unpack_from(
            code[0] + code[1] * 2, table, width + index * 2 * width
        )
        if string_index >= len(strings):
            return None
        name = strings[string_index:].split(b"\0", 1)[0]
        pairs.append((name.decode("utf-8", "replace"), member_offset))
    return pairs


def member_data(archive: Archive, data: ByteSource, member: Member) -> bytes:
    """The bytes of one member; a thin archive's member is read from its file.

    Raises OSError for a thin member that cannot be read.
    """
    if member.data_offset is not None:
        return data.read(member.data_offset, member.size, f"ar member {member.name}")
    assert member.external is not None
    with open(member.external, "rb") as file:
        return file.read()


def object_members(
    archive: Archive, data: ByteSource
) -> Iterator[tuple[Member, bytes | None, str | None]]:
    """(member, its bytes, None) for each ELF member, or (member, None, reason)
    for one that cannot be read; members that are not ELF are skipped, as the
    linker skips them."""
    for member in archive.members:
        try:
            content = member_data(archive, data, member)
        except OSError as exc:
            yield member, None, f"thin archive member {member.external}: {exc.strerror or exc}"
            continue
        if content[:4] == ELF_MAGIC:
            yield member, content, None


def member_source(archive: Archive, data: ByteSource, member: Member) -> ByteSource:
    """One member, to be read where it lies (a thin archive's member is its own
    file, read whole).  Raises OSError for a thin member that cannot be read."""
    name = archive.member_path(member)
    if member.data_offset is not None:
        return SliceReader(name, data, member.data_offset, member.size)
    assert member.external is not None
    with open(member.external, "rb") as file:
        return BytesReader(name, file.read())


MemberScanner = Callable[[ByteSource, "MemberReader"], ScannedFile]
"""Scans one ELF member from its bytes; the second argument reads them again,
for the member's symbol table on first use.  :mod:`usdtscan.scan` passes its
scanner in, so that the archive reader, which it dispatches to, does not
import it back."""


def scan_library(
    path: str, data: ByteSource, scan_member: MemberScanner, walked: bool = False
) -> list[ScannedFile]:
    """One ScannedFile per ELF member, named ``ARCHIVE(MEMBER)``, in archive order.

    The members of an archive found by ``-r`` (``walked``) have only their
    ``.note.stapsdt`` sections read, as the other files of the walk.

    Raises MalformedFileError when the archive's own structure is broken,
    or FileChangedError when it changed while its members were read; a
    member that is broken is that member's ``error``.  Each member's
    ``archive`` says which archive it came from, for the listing.
    """
    archive = read_archive(path, data)
    results = []
    for member in archive.members:
        scanned = _scan_member(archive, data, member, scan_member, walked)
        if scanned is None:
            continue
        if scanned.error is not None:
            changed = data.changed()
            if changed is not None:
                raise FileChangedError(path, changed)
        results.append(scanned)
    return results


def _scan_member(
    archive: Archive, data: ByteSource, member: Member, scan_member: MemberScanner, walked: bool
) -> ScannedFile | None:
    """The scan of one member; None for a member that is not ELF (the linker
    skips those too)."""
    where = ArchiveMember(archive.path, member.name)
    try:
        source = member_source(archive, data, member)
    except OSError as exc:
        reason = f"thin archive member {member.external}: {exc.strerror or exc}"
        return ScannedFile(archive.member_path(member), error=reason, member_of=where)
    if source.head(4) != ELF_MAGIC:
        return None
    # Most members hold no probe: their section headers say so.
    scanned = without_probes(source, sdt_section_only=walked)
    if scanned is None:
        scanned = _scan_member_notes(archive, member, source, scan_member)
    scanned.member_of = where
    return scanned


def _scan_member_notes(
    archive: Archive, member: Member, source: ByteSource, scan_member: MemberScanner
) -> ScannedFile:
    try:
        return scan_member(source, MemberReader(archive.path, member))
    except UsdtscanError as exc:
        return ScannedFile(source.path, error=exc.reason)


def each_object(path: str) -> Iterator[tuple[str, str | None]]:
    """For readers that open what they read by path (``usdtscan check``'s lint):
    ``(path, None)`` for any file but a static library; for one, each ELF
    member as ``(lib.a(m.o), None)``, its bytes held in
    :data:`~usdtscan.fileio.MEMBERS_IN_MEMORY` (which
    :func:`~usdtscan.fileio.opened` serves) until the next member is asked
    for.  ``(name, reason)`` for an archive or member that cannot be read.
    """
    try:
        with opened(path) as reader:
            if not is_archive(reader.head(24)):
                yield path, None
                return
            yield from _held_members(path, reader)
    except UsdtscanError as exc:
        yield path, exc.reason


def _held_members(path: str, reader: ByteSource) -> Iterator[tuple[str, str | None]]:
    archive = read_archive(path, reader)
    for member in archive.members:
        name = archive.member_path(member)
        try:
            content = member_data(archive, reader, member)
        except OSError as exc:
            yield name, f"thin archive member {member.external}: {exc.strerror or exc}"
            continue
        if content[:4] != ELF_MAGIC:
            continue
        MEMBERS_IN_MEMORY[name] = content
        try:
            yield name, None
        finally:
            MEMBERS_IN_MEMORY.pop(name, None)


@dataclass(frozen=True, slots=True)
class MemberReader:
    """Reads one member's bytes again, for its symbol table on first use.

    An object, not a closure: scans run in worker processes (``-j``), and
    their results, this included, are pickled back.
    """

    archive_path: str
    member: Member

    def __call__(self) -> bytes:
        if self.member.external is not None:
            with open(self.member.external, "rb") as file:
                return file.read()
        assert self.member.data_offset is not None
        with opened(self.archive_path) as data:
            return data.read(self.member.data_offset, self.member.size, "ar member")
