"""SystemTap SDT notes: from ELF notes to probe sites.

Each note of owner ``stapsdt`` and type 3 describes one site: the pc of the
probe's ``nop``, the link-time address of ``.stapsdt.base``, the semaphore's
address (0 for none), then three NUL-terminated strings: provider, name and
the argument string.  If prelink or a linker script moved the code, the pc
in the note is stale; the difference between where ``.stapsdt.base`` ended up
and the base the note recorded fixes it, exactly as libbpf, bcc and GDB do.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass

from .args.tokenize import tokenize
from .elf import PF_W, PF_X, ElfFile, ElfType, Note, SegmentType
from .errors import FileChangedError, MalformedFileError
from .model import (
    BaseAdjustment,
    CodeWindow,
    NoteValues,
    OtherNote,
    ReaderResult,
    Site,
    SiteKind,
    StapsdtInfo,
)
from .reloc import relocated_section_data
from .symbols import FunctionIndex, function_index, has_symtab

STAPSDT_OWNER = b"stapsdt"
NT_STAPSDT = 3
BASE_SECTION = ".stapsdt.base"
NOTE_SECTION = ".note.stapsdt"  # where sys/sdt.h puts the notes
# Bytes kept around each site: three instructions either side on fixed-width
# architectures, and room to re-synchronise x86 decoding before the site.
CODE_BEFORE = 32
CODE_AFTER = 24
# Note sections up to this size are walked twice: once for the site addresses,
# so that only the function symbols holding a site are kept and sorted (a
# libLLVM's 60,000 functions for its ten sites), then to build the sites.
ADDRESS_PREPASS_LIMIT = 1 << 18


@dataclass(frozen=True, slots=True)
class RawNote:
    """The decoded fields of one stapsdt note, before any interpretation."""

    values: NoteValues
    provider: str
    name: str
    args: str
    warnings: tuple[str, ...]
    section: str
    offset: int
    size: int


def _decode(raw: bytes, what: str, warnings: list[str]) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        warnings.append(f"{what} is not valid UTF-8")
        return raw.decode("utf-8", "backslashreplace")


def decode_note(elf: ElfFile, note: Note, section: str) -> RawNote:
    """Split a stapsdt descriptor; raises MalformedFileError if it is too short."""
    desc = note.desc
    width = elf.addr_size
    if len(desc) < 3 * width + 3:
        raise MalformedFileError(
            elf.path, f"stapsdt note too small ({len(desc)} bytes)", note.offset
        )
    values = NoteValues(
        elf.read_address(desc, 0), elf.read_address(desc, width), elf.read_address(desc, 2 * width)
    )
    strings: list[bytes] = []
    position = 3 * width
    for what in ("provider", "name", "argument string"):
        end = desc.find(b"\0", position)
        if end < 0:
            raise MalformedFileError(
                elf.path, f"stapsdt note: {what} is not NUL-terminated", note.offset
            )
        strings.append(desc[position:end])
        position = end + 1
    warnings: list[str] = []
    if any(desc[position:]):
        warnings.append(
            f"{len(desc) - position} bytes after the argument string in the note are not NUL"
        )
    provider = _decode(strings[0], "provider", warnings)
    name = _decode(strings[1], "name", warnings)
    args = _decode(strings[2], "argument string", warnings)
    return RawNote(values, provider, name, args, tuple(warnings), section, note.offset, len(desc))


# What the note walk yields, in file order: a stapsdt note, a note of owner
# stapsdt with a type we do not know, or a warning about a note section.
NoteItem = RawNote | OtherNote | str


def iter_raw_notes(elf: ElfFile, sdt_section_only: bool = False) -> Iterator[NoteItem]:
    """Every stapsdt note of every SHT_NOTE section, in file order, with what is odd.

    A note of owner ``stapsdt`` with another type is yielded as an
    :class:`OtherNote` followed by the warning about it; a relocation that
    could not be applied to an object file's notes is a warning (a str).
    ``sdt_section_only`` reads only the sections named ``.note.stapsdt``,
    the one sys/sdt.h writes: a tree walk then leaves the build ID, ABI tag
    and property notes of thousands of files unread.
    """
    relocatable = elf.e_type == ElfType.REL
    for section in elf.note_sections():
        if sdt_section_only and section.name != NOTE_SECTION:
            continue
        data = None
        if relocatable:
            data, problems = relocated_section_data(elf, section)
            yield from problems
        for note in elf.notes(section, data):
            if note.name != STAPSDT_OWNER:
                continue
            if note.type != NT_STAPSDT:
                yield OtherNote(section.name, note.type, len(note.desc), note.offset)
                yield (
                    f"note of owner stapsdt with unknown type {note.type} "
                    f"at file offset {note.offset:#x}"
                )
                continue
            yield decode_note(elf, note, section.name)


class SiteBuilder:
    """Turns raw notes into sites: base adjustment, file offsets and functions."""

    def __init__(
        self,
        elf: ElfFile,
        debug_functions: Callable[[], FunctionIndex | None] | None = None,
        near: Callable[[SiteBuilder], list[int] | None] | None = None,
    ) -> None:
        self.elf = elf
        self._debug_functions = debug_functions
        self._near = near
        self.relocatable = elf.e_type == ElfType.REL
        base_section = elf.section_by_name(BASE_SECTION)
        self.base_address = None if base_section is None else base_section.addr
        self._functions: FunctionIndex | None = None
        self._functions_loaded = False
        self.missing_file_data = False

    @property
    def functions(self) -> FunctionIndex | None:
        if not self._functions_loaded:
            self._functions_loaded = True
            self._functions = None if self.relocatable else self._load_functions()
        return self._functions

    def _load_functions(self) -> FunctionIndex | None:
        """The file's .symtab, else its debug file's, else its .dynsym."""
        if not has_symtab(self.elf) and self._debug_functions is not None:
            found = self._debug_functions()
            if found is not None:
                return found
        return function_index(self.elf, None if self._near is None else self._near(self))

    def address(self, values: NoteValues) -> int:
        """The site's address: the note's pc moved by the base adjustment."""
        delta, _how = self._adjust(values)
        return (values.pc + delta) & ((1 << self.elf.bits) - 1)

    def _adjust(self, values: NoteValues) -> tuple[int, BaseAdjustment]:
        if self.relocatable:
            return 0, BaseAdjustment.UNRELOCATED
        if values.base == 0:
            return 0, BaseAdjustment.NOTE_BASE_ZERO
        if self.base_address is None:
            return 0, BaseAdjustment.NO_BASE_SECTION
        return self.base_address - values.base, BaseAdjustment.APPLIED

    def _file_offset(self, address: int, flag: int, what: str, warnings: list[str]) -> int | None:
        if self.relocatable:
            return None
        segment = self.elf.load_segment_for(address)
        if segment is None:
            warnings.append(f"{what} {address:#x} is in no loadable segment")
            return None
        if not segment.flags & flag:
            kind = "an executable" if flag == PF_X else "a writable"
            warnings.append(f"{what} {address:#x} is outside {kind} segment")
        if address - segment.vaddr >= segment.filesz:
            # Separate debug files keep the segments but not their bytes (filesz 0,
            # offsets rewritten): an offset here would not be the real binary's.
            warnings.append(f"{what} {address:#x} has no bytes in this file")
            self.missing_file_data = True
            return None
        return address - segment.vaddr + segment.offset

    def build(self, raw: RawNote) -> Site:
        values = raw.values
        warnings = list(raw.warnings)
        delta, how = self._adjust(values)
        mask = (1 << self.elf.bits) - 1
        address = (values.pc + delta) & mask
        semaphore = None if values.semaphore == 0 else (values.semaphore + delta) & mask
        file_offset = self._file_offset(address, PF_X, "site", warnings)
        semaphore_offset = None
        if semaphore is not None:
            semaphore_offset = self._file_offset(semaphore, PF_W, "semaphore", warnings)
        function = None
        if self.functions is not None:
            found = self.functions.lookup(address)
            if found is not None:
                function = f"{found[0]}+{found[1]:#x}"
        code = None if file_offset is None else self._code_window(address)
        return Site(
            provider=raw.provider,
            name=raw.name,
            args_raw=raw.args,
            args=tokenize(raw.args),
            address=address,
            file_offset=file_offset,
            semaphore_address=semaphore,
            semaphore_file_offset=semaphore_offset,
            function=function,
            kind=SiteKind.STAPSDT,
            section=raw.section,
            note_offset=raw.offset,
            warnings=tuple(warnings),
            code=code,
            stapsdt=StapsdtInfo(values, how, raw.size),
        )

    def _code_window(self, address: int) -> CodeWindow | None:
        """The bytes around the site, inside its segment: the instruction there is
        checked and disassembled after the file is closed, so they are copied now."""
        segment = self.elf.load_segment_for(address)
        if segment is None:
            return None
        start = max(address - CODE_BEFORE, segment.vaddr)
        end = min(address + CODE_AFTER, segment.vaddr + segment.filesz)
        if end <= address:
            return None
        try:
            data = self.elf.read(start - segment.vaddr + segment.offset, end - start, "code")
        except FileChangedError:
            raise
        except MalformedFileError:
            return None
        return CodeWindow(start, data, address - start)


def _site_addresses(elf: ElfFile, builder: SiteBuilder, sdt_section_only: bool) -> list[int] | None:
    """Every site address of a file with few notes; None for many (or broken) notes."""
    sections = elf.note_sections()
    if sum(s.size for s in sections) > ADDRESS_PREPASS_LIMIT:
        return None
    try:
        items = iter_raw_notes(elf, sdt_section_only)
        return [builder.address(item.values) for item in items if isinstance(item, RawNote)]
    except MalformedFileError:
        return None


def iter_sites(
    elf: ElfFile,
    debug_functions: Callable[[], FunctionIndex | None] | None = None,
    sdt_section_only: bool = False,
) -> Generator[Site, None, ReaderResult]:
    """The stapsdt sites of ``elf`` one at a time, read while they are consumed;
    then, as the generator's return value, the rest of what was found (a
    :class:`ReaderResult` without the sites: its warnings, unknown notes,
    function source, and the error).

    A note that cannot be decoded ends the sites with the result's
    ``error`` set: one corrupt note should not hide the probes that are fine.
    """
    result = ReaderResult()
    # The site addresses are read (a second walk of the notes) only when the
    # first site asks for function names: most files of a tree have no site.
    builder = SiteBuilder(
        elf, debug_functions, lambda built: _site_addresses(elf, built, sdt_section_only)
    )
    count = 0
    try:
        for item in iter_raw_notes(elf, sdt_section_only):
            if isinstance(item, RawNote):
                yield builder.build(item)
                count += 1
            elif isinstance(item, OtherNote):
                result.other_notes.append(item)
            else:
                result.warnings.append(item)
    except MalformedFileError as exc:
        result.error = exc.reason
    result.streamed = count
    result.warnings += _file_warnings(elf, builder, count)
    # Only sites need function names: a file without any must not pay for
    # sorting its symbol table (most of the files of a tree walk).
    if result.streamed and builder.functions is not None:
        result.function_source = builder.functions.source
    return result


def _file_warnings(elf: ElfFile, builder: SiteBuilder, site_count: int) -> list[str]:
    """What is odd about the file as a whole, said once after its sites."""
    warnings = []
    if builder.missing_file_data:
        warnings.append(
            "some sites have no bytes in this file (a separate debug file?): "
            "their file offsets are those of the stripped binary, unknown here"
        )
    if builder.relocatable and site_count:
        warnings.append(
            "relocatable object: addresses are unrelocated (section-relative), no file offsets"
        )
    if not elf.section_count and any(s.type == SegmentType.NOTE for s in elf.segments):
        warnings.append("no section headers: stapsdt notes live in sections, none read")
    return warnings


def drain(stream: Generator[Site, None, ReaderResult]) -> ReaderResult:
    """A streaming reader's result with the sites it had still to yield kept in ``sites``."""
    sites: list[Site] = []
    keep = sites.append
    while True:
        try:
            keep(next(stream))
        except StopIteration as end:
            result: ReaderResult = end.value
            result.sites = sites
            return result


def scan_elf(
    elf: ElfFile,
    debug_functions: Callable[[], FunctionIndex | None] | None = None,
    sdt_section_only: bool = False,
) -> ReaderResult:
    """Every stapsdt site of ``elf``, with the rest of what was found (see :func:`iter_sites`)."""
    return drain(iter_sites(elf, debug_functions, sdt_section_only))
