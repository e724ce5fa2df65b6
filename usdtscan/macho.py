"""Mach-O files (thin and fat): DTrace probes from their DOF sections.

Apple's linker turns the probes of each provider into a DOF blob in a
``__TEXT`` section of type ``S_DTRACE_DOF`` (named ``__dof_`` plus the start
of the provider's name, so found by type, never by name) and rewrites every
probe call into nops.  The DOF stores each site as a signed 32-bit offset
from the DOF section's own address; the kernel adds the section address,
not the record's ``addr`` (xnu ``dtrace_helper_provide_one``), and on x86
moves back one byte for a probe and forward two for an is-enabled site
(xnu ``fasttrap_meta_create_probe``).

Load commands come from macholib, imported only when a Mach-O file is
actually scanned and asked to tolerate commands it does not know; the
symbol table is read here with :mod:`struct`, because macholib's
``SymbolTable`` decodes every name and takes seconds on a real node binary.
"""

from __future__ import annotations

import io
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from . import dof
from .errors import MalformedFileError, NotObjectFileError
from .fileio import ByteSource, BytesReader
from .magic import (
    FAT_MAGIC,
    FAT_MAGIC_64,
    MH_CIGAM_64,
    MH_MAGIC_64,
    THIN_MAGICS,
)
from .model import FileFormat, ReaderResult, Site, Slice
from .symbols import FunctionIndex

LC_SEGMENT, LC_SYMTAB, LC_SEGMENT_64 = 0x1, 0x2, 0x19
S_DTRACE_DOF = 0xF
SECTION_TYPE = 0xFF
S_ATTR_PURE_INSTRUCTIONS = 0x80000000
N_STAB, N_TYPE, N_SECT = 0xE0, 0x0E, 0x0E

CPU_ARCH_ABI64, CPU_ARCH_ABI64_32 = 0x01000000, 0x02000000
CPU_TYPE_X86, CPU_TYPE_ARM, CPU_TYPE_POWERPC = 7, 12, 18

# The bytes ld64 and lld write over a probe call, by (cputype, is-enabled).
X86_PROBE = bytes.fromhex("900f1f4000")
X86_IS_ENABLED = bytes.fromhex("33c0909090")
ARM64_NOP = bytes.fromhex("1f2003d5")
ARM64_MOV_X0_0 = bytes.fromhex("000080d2")


def arch_name(cputype: int, cpusubtype: int) -> str:
    """The name ``lipo`` and ``--arch`` use for a slice."""
    subtype = cpusubtype & 0x00FFFFFF
    if cputype == CPU_TYPE_X86 | CPU_ARCH_ABI64:
        return "x86_64h" if subtype == 8 else "x86_64"
    if cputype == CPU_TYPE_X86:
        return "i386"
    if cputype == CPU_TYPE_ARM | CPU_ARCH_ABI64:
        return "arm64e" if subtype == 2 else "arm64"
    if cputype == CPU_TYPE_ARM | CPU_ARCH_ABI64_32:
        return "arm64_32"
    if cputype == CPU_TYPE_ARM:
        return {9: "armv7", 11: "armv7s", 12: "armv7k", 6: "armv6"}.get(subtype, "arm")
    if cputype == CPU_TYPE_POWERPC:
        return "ppc"
    if cputype == CPU_TYPE_POWERPC | CPU_ARCH_ABI64:
        return "ppc64"
    return f"cpu_{cputype:#x}"


def _abi(cputype: int) -> str:
    """The registry's name of the slice's ABI, whose calling convention places the
    DOF arguments (:attr:`usdtscan.args.architecture.Abi.call`)."""
    if cputype == CPU_TYPE_X86 | CPU_ARCH_ABI64:
        return "x86_64"
    if cputype == CPU_TYPE_X86:
        return "i386"
    if cputype == CPU_TYPE_ARM | CPU_ARCH_ABI64:
        return "aarch64"
    if cputype == CPU_TYPE_ARM | CPU_ARCH_ABI64_32:
        return "aarch64_ilp32"
    if cputype == CPU_TYPE_ARM:
        return "arm"
    return "unknown"


@dataclass(frozen=True, slots=True)
class MachSection:
    segment: str
    name: str
    addr: int
    size: int
    offset: int
    flags: int

    @property
    def label(self) -> str:
        return f"{self.segment},{self.name}"


@dataclass(frozen=True, slots=True)
class MachSegment:
    vmaddr: int
    vmsize: int
    fileoff: int
    filesize: int


class MachSlice:
    """One thin Mach-O image inside the file, with bounds-checked access to its bytes."""

    def __init__(self, path: str, source: ByteSource, header: Any) -> None:
        self.path = path
        self.source = source
        self.offset: int = header.offset
        self.size: int = header.size
        mh = header.header
        self.cputype: int = mh.cputype
        self.cpusubtype: int = mh.cpusubtype
        self.filetype: str | None = getattr(header, "filetype", None)
        magic = struct.unpack(">I", source.read(self.offset, 4, "Mach-O magic"))[0]
        self.bits = 64 if magic in (MH_MAGIC_64, MH_CIGAM_64) else 32
        self.order = header.endian
        self.endian = "little" if self.order == "<" else "big"
        self.arch = arch_name(self.cputype, self.cpusubtype)
        self.sections: list[MachSection] = []
        self.segments: list[MachSegment] = []
        self.symtab: tuple[int, int, int, int] | None = None
        for load, command, data in header.commands:
            if load.cmd in (LC_SEGMENT, LC_SEGMENT_64):
                self.segments.append(
                    MachSegment(command.vmaddr, command.vmsize, command.fileoff, command.filesize)
                )
                for s in data:
                    self.sections.append(
                        MachSection(
                            _name(s.segname), _name(s.sectname), s.addr, s.size, s.offset, s.flags
                        )
                    )
            elif load.cmd == LC_SYMTAB:
                self.symtab = (command.symoff, command.nsyms, command.stroff, command.strsize)
        self._symbols: FunctionIndex | None = None
        self._symbols_loaded = False

    def read(self, offset: int, size: int, what: str) -> bytes:
        """``size`` bytes at ``offset`` within the slice."""
        if offset < 0 or size < 0 or offset + size > self.size:
            raise MalformedFileError(
                self.path,
                f"{self.arch}: {what} runs past the end of the slice",
                self.offset + offset,
            )
        return self.source.read(self.offset + offset, size, what)

    def file_offset(self, address: int) -> int | None:
        """The file offset (slice offset included) of ``address``, if its bytes are in the file."""
        for segment in self.segments:
            if segment.vmaddr <= address < segment.vmaddr + segment.filesize:
                inside = segment.fileoff + address - segment.vmaddr
                if inside < self.size:
                    return self.offset + inside
        return None

    def dof_sections(self) -> list[MachSection]:
        return [s for s in self.sections if s.flags & SECTION_TYPE == S_DTRACE_DOF]

    @property
    def symbols(self) -> FunctionIndex | None:
        if not self._symbols_loaded:
            self._symbols_loaded = True
            self._symbols = self._read_symbols()
        return self._symbols

    def _read_symbols(self) -> FunctionIndex | None:
        if self.symtab is None:
            return None
        symoff, nsyms, stroff, strsize = self.symtab
        fmt = self.order + ("IBBHQ" if self.bits == 64 else "IBBHI")
        entsize = struct.calcsize(fmt)
        table = self.read(symoff, nsyms * entsize, "symbol table")
        strtab = self.read(stroff, strsize, "string table")
        entries = [
            (value, 0, strx)
            for strx, n_type, n_sect, _desc, value in struct.iter_unpack(fmt, table)
            if not n_type & N_STAB and n_type & N_TYPE == N_SECT and n_sect and strx < strsize
        ]
        # Mach-O symbols have no size: the closest one at or below an address holds it.
        return FunctionIndex("LC_SYMTAB", entries, strtab, sizeless_reach=True) if entries else None


def _name(raw: bytes | str) -> str:
    if isinstance(raw, str):
        return raw.rstrip("\0")
    return raw.split(b"\0", 1)[0].decode("utf-8", "backslashreplace")


def _check_fat(path: str, source: ByteSource) -> None:
    """Validate the fat header before macholib walks it: it trusts the counts."""
    magic, count = struct.unpack(">II", source.read(0, 8, "fat header"))
    entry = 20 if magic == FAT_MAGIC else 32
    if 8 + count * entry > source.size:
        raise MalformedFileError(path, f"fat header lists {count} slices past the file end", 0)
    table = source.read(8, count * entry, "fat header")
    for i in range(count):
        at = 8 + i * entry
        if magic == FAT_MAGIC:
            _ct, _cs, offset, size, _align = struct.unpack_from(">iiIII", table, at - 8)
        else:
            _ct, _cs, offset, size, _align, _res = struct.unpack_from(">iiQQII", table, at - 8)
        if offset + size > source.size or size < 28:
            raise MalformedFileError(path, f"fat slice {i} lies outside the file", at)
        head = struct.unpack(">I", source.read(offset, 4, f"fat slice {i}"))[0]
        if head not in THIN_MAGICS:
            raise MalformedFileError(path, f"fat slice {i} is not a Mach-O image", offset)


def load_slices(path: str, data: bytes | bytearray | ByteSource) -> tuple[bool, list[MachSlice]]:
    """Every slice of the file, through macholib; (is fat, slices)."""
    source = BytesReader(path, data) if isinstance(data, (bytes, bytearray)) else data
    magic = struct.unpack(">I", source.read(0, 4, "Mach-O magic"))[0]
    fat = magic in (FAT_MAGIC, FAT_MAGIC_64)
    if fat:
        _check_fat(path, source)
    try:
        from macholib.MachO import MachO
    except ImportError:
        raise NotObjectFileError(
            path, "Mach-O file, but macholib is not installed (pip install macholib)"
        ) from None
    try:
        if isinstance(source, BytesReader):  # a package member: no file at ``path``
            parsed = _parse_in_memory(MachO, path, source.read(0, source.size, "Mach-O file"))
        else:
            parsed = MachO(path, allow_unknown_load_commands=True)
    except Exception as exc:  # macholib raises anything (ValueError, struct.error...) on damage
        raise MalformedFileError(path, f"Mach-O load commands unreadable: {exc}") from None
    return fat, [MachSlice(path, source, header) for header in parsed.headers]


def _parse_in_memory(machO: Any, path: str, data: bytes | bytearray) -> Any:
    """macholib's ``MachO(path)`` opens ``path``; a package member has no path
    on disk, so the same object is built over its bytes (what ``__init__``
    does, with a file object of our own)."""
    parsed = machO.__new__(machO)
    parsed.graphident = parsed.filename = path
    parsed.loader_path = os.path.dirname(path)
    parsed.fat = None
    parsed.headers = []
    parsed.allow_unknown_load_commands = True
    parsed.load(io.BytesIO(bytes(data)))
    return parsed


def _expected(cputype: int, enabled: bool) -> bytes | None:
    if cputype in (CPU_TYPE_X86, CPU_TYPE_X86 | CPU_ARCH_ABI64):
        return X86_IS_ENABLED if enabled else X86_PROBE
    if cputype in (CPU_TYPE_ARM | CPU_ARCH_ABI64, CPU_TYPE_ARM | CPU_ARCH_ABI64_32):
        return ARM64_MOV_X0_0 if enabled else ARM64_NOP
    return None


def site_addresses(cputype: int, dof_address: int, stored: int, enabled: bool) -> tuple[int, int]:
    """(where the patched bytes start, the pc the kernel traces) for one stored offset."""
    base = dof_address + stored
    if cputype in (CPU_TYPE_X86, CPU_TYPE_X86 | CPU_ARCH_ABI64):
        return base - 1, (base + 2 if enabled else base - 1)
    return base, base


def _signed32(value: int) -> int:
    return value - (1 << 32) if value & 0x80000000 else value


def _disassemble(cputype: int, code: bytes, address: int) -> str | None:
    """The patched instructions as text (in Intel syntax), when capstone is installed."""
    from .disasm import instructions_text

    machine = {
        CPU_TYPE_X86 | CPU_ARCH_ABI64: "x86_64",
        CPU_TYPE_X86: "i386",
        CPU_TYPE_ARM | CPU_ARCH_ABI64: "aarch64",
        CPU_TYPE_ARM | CPU_ARCH_ABI64_32: "aarch64",
    }.get(cputype)
    if machine is None:
        return None
    return instructions_text(machine, "little", code, address, att=False)


def _slice_sites(piece: MachSlice, section: MachSection) -> Iterator[Site]:
    blob = piece.read(section.offset, section.size, f"DOF section {section.label}")
    where = piece.offset + section.offset
    decoded = dof.decode(blob, piece.path, where, section.addr)
    container = _MachDof(section.label, _abi(piece.cputype), where, piece, section.addr)
    return dof.build_sites(decoded, container)


@dataclass(frozen=True, slots=True)
class _MachDof:
    """One Mach-O DOF section as a :class:`~usdtscan.dof.DofContainer`: offsets
    are signed and relative to the section's address, the bytes are checked
    against the linker's patch, names lose their leading ``_``."""

    section: str
    arch: str
    blob_file_offset: int
    piece: MachSlice
    dof_address: int

    def stored_offset(self, raw: int) -> int:
        return _signed32(raw)

    def place(self, probe: dof.DofProbe, enabled: bool, stored: int) -> dof.Placement:
        piece = self.piece
        address, traced = site_addresses(piece.cputype, self.dof_address, stored, enabled)
        placed = dof.Placement(address, traced, piece.file_offset(address), None, [])
        expected = _expected(piece.cputype, enabled)
        if placed.file_offset is None:
            placed.warnings.append(f"site {address:#x} has no bytes in this slice")
        elif expected is not None:
            local = placed.file_offset - piece.offset
            code = (
                piece.read(local, len(expected), "probe site")
                if local + len(expected) <= piece.size
                else b""
            )
            placed.verified = code == expected
            placed.instruction = _disassemble(piece.cputype, code, address)
            if not placed.verified:
                placed.warnings.append(
                    f"bytes at the site are {code.hex(' ') or 'missing'}, "
                    f"not the patched {expected.hex(' ')}"
                )
        placed.function = dof.function_at(piece.symbols, address, probe, placed.warnings, "_")
        return placed


def _lld_sites(piece: MachSlice) -> int:
    """How many x86 call sites carry the bytes lld writes over probe calls.

    lld patches probe calls like ld64 but emits no DOF; on x86 both patterns
    are sequences no compiler emits, so their presence is telling.  (On
    arm64 the patches are a plain nop and ``mov x0, #0``: undetectable.)
    """
    if piece.cputype not in (CPU_TYPE_X86, CPU_TYPE_X86 | CPU_ARCH_ABI64):
        return 0
    count = 0
    for section in piece.sections:
        if not section.flags & S_ATTR_PURE_INSTRUCTIONS or section.offset == 0:
            continue
        code = piece.read(section.offset, section.size, f"section {section.label}")
        count += code.count(X86_PROBE) + code.count(X86_IS_ENABLED)
    return count


def scan_macho(
    path: str, data: bytes | bytearray | ByteSource, arch: str | None = None
) -> ReaderResult:
    """Every slice of a Mach-O file and its DOF sites.

    ``arch`` keeps one slice.  Damage in one slice's DOF is the result's
    ``error``, with the sites read so far.
    """
    fat, pieces = load_slices(path, data)
    if arch is not None:
        names = [p.arch for p in pieces]
        pieces = [p for p in pieces if p.arch == arch]
        if not pieces:
            raise NotObjectFileError(path, f"no {arch} slice (has {', '.join(names)})")
    result = ReaderResult(format=FileFormat.MACHO)
    if len(pieces) == 1 or arch is not None:
        first = pieces[0]
        result.machine, result.bits, result.endian = first.arch, first.bits, first.endian
    else:
        result.machine = "fat:" + ",".join(p.arch for p in pieces)
    for piece in pieces:
        found, result.error = _read_slice(piece)
        result.slices.append(found)
        result.sites += found.sites
        prefix = f"{piece.arch}: " if fat else ""
        result.warnings += [prefix + w for w in found.warnings]
        if result.error is not None:
            break
    if pieces and pieces[0].symbols is not None:
        result.function_source = "symtab"
    return result


def _read_slice(piece: MachSlice) -> tuple[Slice, str | None]:
    """One slice's sites and warnings, and the damage that ended them (None: none)."""
    found = Slice(
        piece.arch,
        piece.cputype,
        piece.cpusubtype,
        piece.offset,
        piece.size,
        piece.bits,
        piece.endian,
        piece.filetype,
    )
    try:
        sections = piece.dof_sections()
        for section in sections:
            found.sites.extend(_slice_sites(piece, section))
        if not sections:
            patched = _lld_sites(piece)
            if patched:
                found.warnings.append(
                    f"{patched} call sites are patched like DTrace probes but there is no "
                    "DOF (linked by lld?): their probes cannot be listed"
                )
    except MalformedFileError as exc:
        return found, exc.reason
    return found, None
