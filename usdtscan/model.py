"""The probe model shared by every container format and every output.

A *site* is one place in the code where a probe fires: one stapsdt note, or
one DOF offset.  A *probe* is the ``provider:name`` pair that users attach
to; it groups sites.  Sites are never merged, because an inlined or
duplicated probe has one site per copy and each needs its own uprobe.

Addresses are plain ints; ``None`` means "does not apply" (no semaphore,
no loadable segment, an unrelocated object file), never zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from .basetypes import Argument as Argument
from .basetypes import BaseAdjustment as BaseAdjustment
from .basetypes import FileFormat as FileFormat
from .basetypes import SiteKind as SiteKind
from .basetypes import StrEnum as StrEnum

if TYPE_CHECKING:
    from .analysis import FileReport


@dataclass(frozen=True, slots=True)
class NoteValues:
    """The three addresses exactly as stored in the note, before any adjustment."""

    pc: int
    base: int
    semaphore: int


@dataclass(frozen=True, slots=True)
class Stability:
    """One DTrace stability attribute: name and data stability, dependency class."""

    name: str
    data: str
    dependency_class: str


@dataclass(frozen=True, slots=True)
class DofInfo:
    """What a DOF probe record says about one site, beyond the common fields.

    ``offset`` is the stored offset as the kernel reads it (signed on
    Mach-O); ``section`` names the container section holding the DOF;
    ``stability`` maps provider, module, function, name and args to the
    provider's attributes.  ``instruction`` is the disassembly of the
    patched site when capstone is installed, and ``verified`` says whether
    the site's bytes are the pattern the linker writes (None: not checked).
    """

    offset: int
    section: str
    native_types: tuple[str, ...]
    translated_types: tuple[str, ...]
    argmap: tuple[int, ...]
    stability: tuple[tuple[str, Stability], ...]
    dof_function: str = ""
    instruction: str | None = None
    verified: bool | None = None


@dataclass(frozen=True, slots=True)
class CodeWindow:
    """Bytes of the file around a site, kept so that the instruction there can be
    checked and disassembled after the file is closed.

    ``data`` starts at link-time ``address``; the site is ``site_offset``
    bytes into it.
    """

    address: int
    data: bytes
    site_offset: int


class SymbolLookup(Protocol):
    """Name-to-address and address-to-name lookups in a file's symbol table."""

    def address_of(self, name: str) -> int | None: ...

    def symbol_at(self, address: int) -> tuple[str, int] | None: ...


@dataclass(frozen=True, slots=True)
class StapsdtInfo:
    """What a stapsdt note says about one site, beyond the common fields.

    ``note`` holds the three addresses exactly as stored (readelf's
    Location, Base and Semaphore); ``base_adjustment`` says how the site's
    address was derived from them; ``note_size`` is the descriptor's size
    in bytes (readelf's data size).
    """

    note: NoteValues
    base_adjustment: BaseAdjustment
    note_size: int


@dataclass(frozen=True, slots=True)
class Site:
    """One place where a probe fires, whichever record describes it.

    The common fields are what every consumer attaches with:

    - ``provider``, ``name``: the probe; ``args_raw`` is the argument string
      as stored (for DOF, the native argument types joined by ``, ``) and
      ``args`` its arguments one by one;
    - ``address``: the site's link-time address, after the base adjustment
      (None in an object file whose DOF was not relocated); ``file_offset``:
      where its bytes are in the file, the uprobe offset (None when the
      bytes are not in this file, or in a relocatable object);
    - ``semaphore_address`` and ``semaphore_file_offset``: the stapsdt
      semaphore (the uprobe's reference counter), None for none; DOF sites
      have none (their is-enabled sites play that part);
    - ``function``: the enclosing symbol as ``name+0xoffset``, as stored
      (mangled), None when no symbol covers the site;
    - ``kind``: which record describes the site (:class:`SiteKind`);
      ``section``: the container section holding that record, and
      ``note_offset`` the record's file offset (a stapsdt note, or a DOF
      probe record);
    - ``warnings``: what is odd about this site, one sentence each;
    - ``traced_pc``: the pc the kernel traces when it is not ``address``
      (Mach-O's x86 is-enabled sites); None means ``address``;
    - ``code``: the bytes around the site, for the instruction check.

    The rest depends on the kind: ``stapsdt`` holds what the note says
    (:class:`StapsdtInfo`), ``dof`` what the DOF probe record says
    (:class:`DofInfo`); exactly one of them is set.
    """

    provider: str
    name: str
    args_raw: str
    args: tuple[Argument, ...]
    address: int | None
    file_offset: int | None
    semaphore_address: int | None
    semaphore_file_offset: int | None
    function: str | None
    kind: SiteKind = SiteKind.STAPSDT
    section: str | None = None
    note_offset: int | None = None
    warnings: tuple[str, ...] = ()
    traced_pc: int | None = None
    code: CodeWindow | None = None
    stapsdt: StapsdtInfo | None = None
    dof: DofInfo | None = None

    @property
    def probe_id(self) -> str:
        return f"{self.provider}:{self.name}"

    # Before the stapsdt-only fields moved into ``stapsdt``, they were fields
    # of Site: these read-only aliases keep code written then working.
    @property
    def note(self) -> NoteValues | None:
        """Alias of ``stapsdt.note`` (None for a DOF site), kept for older callers."""
        return None if self.stapsdt is None else self.stapsdt.note

    @property
    def base_adjustment(self) -> BaseAdjustment | None:
        """Alias of ``stapsdt.base_adjustment`` (None for a DOF site), kept for older callers."""
        return None if self.stapsdt is None else self.stapsdt.base_adjustment

    @property
    def note_size(self) -> int | None:
        """Alias of ``stapsdt.note_size`` (None for a DOF site), kept for older callers."""
        return None if self.stapsdt is None else self.stapsdt.note_size

    @property
    def function_name(self) -> str | None:
        """The function without its ``+0x..`` offset, for dtrace-style listings."""
        if self.function is None:
            return None
        return self.function.rsplit("+", 1)[0]


@dataclass(frozen=True, slots=True)
class Probe:
    """All the sites of one ``provider:name`` in one file."""

    provider: str
    name: str
    sites: tuple[Site, ...]

    @property
    def probe_id(self) -> str:
        return f"{self.provider}:{self.name}"

    @property
    def semaphore_address(self) -> int | None:
        """The semaphore shared by the sites; sites of one probe share one by construction."""
        for site in self.sites:
            if site.semaphore_address is not None:
                return site.semaphore_address
        return None


@dataclass(frozen=True, slots=True)
class OtherNote:
    """A note with owner ``stapsdt`` but a type we do not know; reported, never dropped."""

    section: str
    type: int
    size: int
    offset: int


@dataclass(slots=True)
class Slice:
    """One architecture of a Mach-O file (a thin file has exactly one).

    ``offset`` and ``size`` locate the slice in the file; site file offsets
    are file offsets, slice offset included.
    """

    arch: str
    cputype: int
    cpusubtype: int
    offset: int
    size: int
    bits: int
    endian: str
    filetype: str | None = None
    sites: list[Site] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def probes(self) -> list[Probe]:
        return group_sites(self.sites)


@dataclass(frozen=True, slots=True)
class ArchiveMember:
    """Where a file read from inside a package or an image lies.

    ``containers`` are the levels between the archive and the member that
    its name leaves out (a .deb's ``data.tar.xz``, an image's layer blob);
    ``image_path`` is its path in the installed system or the image
    (``/usr/bin/python3.11``); ``image`` and ``layer`` name the image and the
    layer's digest, for images.
    """

    archive: str
    member: str
    containers: tuple[str, ...] = ()
    image: str | None = None
    layer: str | None = None
    image_path: str | None = None


@dataclass(frozen=True, slots=True)
class LoadedAs:
    """How a listed library was reached from a file the user named (it needs it)."""

    name: str  # the DT_NEEDED entry
    needed_by: str  # the object whose DT_NEEDED names it
    found_by: str  # the loader's search step: DT_RUNPATH, ld.so.cache, ...


@dataclass(slots=True)
class ScannedFile:
    """Everything found in one input file.

    ``error`` is set when the file could not be read completely; ``sites``
    then holds whatever was read before the damage (a partial result).
    """

    path: str
    format: FileFormat | None = None
    machine: str | None = None
    bits: int | None = None
    endian: str | None = None
    elf_type: str | None = None
    error: str | None = None
    sites: list[Site] = field(default_factory=list)
    other_notes: list[OtherNote] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    function_source: str | None = None
    slices: list[Slice] = field(default_factory=list)
    symbols: SymbolLookup | None = None
    member_of: ArchiveMember | None = None
    # Said about the file in the listing (where the probes of its libraries are).
    notes: list[str] = field(default_factory=list)
    loaded_as: LoadedAs | None = None

    @property
    def static_library(self) -> str | None:
        """The ``ar`` archive this file is a member of (named ``lib.a(m.o)``, or
        ``lib.a[m.o]`` when thin); None for any other file, package members included."""
        member = self.member_of
        if member is None or member.containers:
            return None
        shapes = (f"{member.archive}({member.member})", f"{member.archive}[{member.member}]")
        return member.archive if self.path in shapes else None

    @property
    def probes(self) -> list[Probe]:
        return group_sites(self.sites)

    def analyze(self, demangle: bool = True) -> FileReport:
        """The analysis of this file: decoded arguments, verdicts, site checks, uprobe
        events, demangled function names (:mod:`usdtscan.analysis`; computed as
        they are read)."""
        from .analysis import analyze_scanned

        return analyze_scanned(self, demangle)


@dataclass(slots=True)
class ReaderResult:
    """What one container reader (stapsdt notes, Mach-O, ``.SUNW_dof``) found in a
    file, returned to :mod:`usdtscan.scan`, which folds it into the file's
    :class:`ScannedFile` (readers never see the ScannedFile).

    ``error`` is damage met after the headers, ``sites`` holding what was
    read before it.  A streaming reader (:func:`usdtscan.stapsdt.iter_sites`)
    yields its sites instead of keeping them and counts them in ``streamed``
    (:func:`usdtscan.stapsdt.drain` keeps them in ``sites``).  ``format``, ``machine``, ``bits`` and
    ``endian`` are set by a reader that knows them (Mach-O's slices); ELF's
    come from the ELF header, before the first site.
    """

    sites: list[Site] = field(default_factory=list)
    streamed: int = 0
    other_notes: list[OtherNote] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    error: str | None = None
    function_source: str | None = None
    slices: list[Slice] = field(default_factory=list)
    format: FileFormat | None = None
    machine: str | None = None
    bits: int | None = None
    endian: str | None = None


def group_sites(sites: list[Site]) -> list[Probe]:
    """Group sites by ``provider:name``, in order of each probe's first site."""
    groups: dict[tuple[str, str], list[Site]] = {}
    for site in sites:
        groups.setdefault((site.provider, site.name), []).append(site)
    return [Probe(provider, name, tuple(group)) for (provider, name), group in groups.items()]
