"""DTrace Object Format: from a DOF blob to providers and probe records.

One decoder for every container.  Mach-O keeps DOF in a ``__TEXT`` section
of type ``S_DTRACE_DOF``; Solaris, illumos, FreeBSD and Oracle Linux keep
it in an ELF ``.SUNW_dof`` section.  Both hold the same blob; only how a
probe's offsets become addresses differs, so that is left to the container
(:mod:`usdtscan.macho`, :mod:`usdtscan.sunw_dof`), and this module returns
the offsets exactly as stored.

The rules follow the kernel that consumes the blob (illumos and xnu
``dtrace_helper_provider_validate``): section headers are stepped by the
header's ``secsize`` and records by each section's ``entsize``, never by a
structure size, so newer producers with larger records still decode; every
index and count is checked against the real bytes before use.  A blob with
an ECBDESC section is a compiled D program (anonymous enabling), not probe
metadata: it is recognised and skipped.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from .args.architecture import CallConvention
from .args.registry import abi
from .errors import MalformedFileError
from .model import Argument, DofInfo, Site, SiteKind, Stability

DOF_MAGIC = b"\x7fDOF"
HEADER_SIZE = 64
SECTION_HEADER_SIZE = 32

MODEL_ILP32, MODEL_LP64 = 1, 2
ENCODE_LSB, ENCODE_MSB = 1, 2
VERSION_1, VERSION_2, VERSION_3 = 1, 2, 3

SECT_NONE = 0
SECT_ECBDESC = 3
SECT_STRTAB = 8
SECT_RELTAB = 10
SECT_URELHDR = 12
SECT_PROVIDER = 15
SECT_PROBES = 16
SECT_PRARGS = 17
SECT_PROFFS = 18
SECT_PRENOFFS = 26

SECIDX_NONE = 0xFFFFFFFF

RELO_NONE, RELO_SETX, RELO_DOFREL = 0, 1, 2

# Record sizes: v1 predates is-enabled probes, whose fields close both records.
PROVIDER_SIZE = {VERSION_1: 40, VERSION_2: 44, VERSION_3: 44}
PROBE_SIZE = {VERSION_1: 40, VERSION_2: 48, VERSION_3: 48}
RELODESC_SIZE = 24
RELOHDR_SIZE = 12

# dtrace_stability_t and dtrace_class_t, in value order (sys/dtrace.h).
STABILITY_NAMES = (
    "Internal",
    "Private",
    "Obsolete",
    "External",
    "Unstable",
    "Evolving",
    "Stable",
    "Standard",
)
CLASS_NAMES = ("Unknown", "CPU", "Platform", "Group", "ISA", "Common")
# The order of the five attributes in dof_provider_t.
STABILITY_KEYS = ("provider", "module", "function", "name", "args")


def _level(names: tuple[str, ...], value: int) -> str:
    return names[value] if value < len(names) else f"unknown({value})"


@dataclass(frozen=True, slots=True)
class Attribute:
    """One DOF stability attribute (``dof_attr_t``): name, data and dependency class."""

    raw: int

    @property
    def name(self) -> str:
        return _level(STABILITY_NAMES, (self.raw >> 24) & 0xFF)

    @property
    def data(self) -> str:
        return _level(STABILITY_NAMES, (self.raw >> 16) & 0xFF)

    @property
    def dependency_class(self) -> str:
        return _level(CLASS_NAMES, (self.raw >> 8) & 0xFF)

    @staticmethod
    def make(name: int, data: int, dependency_class: int) -> Attribute:
        return Attribute((name << 24) | (data << 16) | (dependency_class << 8))


@dataclass(frozen=True, slots=True)
class DofSection:
    index: int
    type: int
    align: int
    flags: int
    entsize: int
    offset: int
    size: int


@dataclass(frozen=True, slots=True)
class Relocation:
    """One user relocation (``dof_relodesc_t``) and the blob offset of the value it patches."""

    name: str
    type: int
    offset: int
    data: int
    target: int


@dataclass(frozen=True, slots=True)
class DofProbe:
    """One probe record: one (probe, function) pair with its offsets as stored.

    ``addr`` is the record's address after the DOF's own relocations (SETX
    adds the load base, which is 0 for a file on disk; DOFREL adds the blob's
    address when the container knows it); ``raw_addr`` is the stored value.
    ``offsets`` and ``enabled_offsets`` are the raw 32-bit words: whether
    they are signed is the container's business.
    """

    provider: str
    function: str
    name: str
    addr: int
    raw_addr: int
    native_types: tuple[str, ...]
    translated_types: tuple[str, ...]
    argmap: tuple[int, ...]
    offsets: tuple[int, ...]
    enabled_offsets: tuple[int, ...]
    record_offset: int
    relocation: str | None = None


@dataclass(frozen=True, slots=True)
class DofProvider:
    name: str
    attributes: tuple[Attribute, ...]
    probes: tuple[DofProbe, ...]
    section: int


@dataclass(frozen=True, slots=True)
class DofBlob:
    model: int
    encoding: int
    version: int
    size: int
    sections: tuple[DofSection, ...]
    providers: tuple[DofProvider, ...]
    relocations: tuple[Relocation, ...]
    is_program: bool

    @property
    def bits(self) -> int:
        return 64 if self.model == MODEL_LP64 else 32

    @property
    def endian(self) -> str:
        return "little" if self.encoding == ENCODE_LSB else "big"


class _Reader:
    """Bounds-checked reads inside one blob; errors carry the file offset of the blob's bytes."""

    def __init__(self, data: bytes, path: str, where: int, order: str) -> None:
        self.data = data
        self.path = path
        self.where = where
        self.order = order

    def fail(self, reason: str, offset: int) -> MalformedFileError:
        return MalformedFileError(self.path, f"DOF: {reason}", self.where + offset)

    def unpack(self, fmt: str, offset: int, what: str) -> tuple[int, ...]:
        size = struct.calcsize(self.order + fmt)
        if offset < 0 or offset + size > len(self.data):
            raise self.fail(f"{what} runs past the end of the DOF", offset)
        return struct.unpack_from(self.order + fmt, self.data, offset)

    def string(self, table: DofSection, index: int, what: str) -> tuple[str, int]:
        """The NUL-terminated string at ``index`` in ``table``, and the index after it."""
        if index >= table.size:
            raise self.fail(
                f"{what} string index {index} is outside the string table", table.offset
            )
        start = table.offset + index
        end = self.data.find(b"\0", start, table.offset + table.size)
        if end < 0:
            raise self.fail(f"{what} string is not NUL-terminated", start)
        text = self.data[start:end].decode("utf-8", "backslashreplace")
        return text, end + 1 - table.offset


def is_dof(data: bytes) -> bool:
    return data[:4] == DOF_MAGIC


def decode(data: bytes, path: str, where: int = 0, dof_address: int | None = None) -> DofBlob:
    """Decode one DOF blob.

    ``where`` is the blob's file offset, used only to point errors at the
    bytes; ``dof_address`` is the blob's own address, needed only to apply
    DOFREL relocations.  Raises :class:`MalformedFileError` for any damage.
    """
    model, encoding, version = _identity(data, path, where)
    reader = _Reader(data, path, where, "<" if encoding == ENCODE_LSB else ">")
    filesz, sections = _section_headers(reader)
    if any(s.type == SECT_ECBDESC for s in sections):
        return DofBlob(model, encoding, version, filesz, sections, (), (), True)
    relocations = _relocations(reader, sections)
    patches = {r.target: r for r in relocations}
    providers = tuple(
        _provider(reader, sections, s, version, patches, dof_address)
        for s in sections
        if s.type == SECT_PROVIDER
    )
    return DofBlob(model, encoding, version, filesz, sections, providers, relocations, False)


def _identity(data: bytes, path: str, where: int) -> tuple[int, int, int]:
    """The blob's data model, encoding and version, once its magic is checked."""
    if len(data) < HEADER_SIZE:
        raise MalformedFileError(
            path, f"DOF: {len(data)} bytes, shorter than the 64-byte header", where
        )
    if data[:4] != DOF_MAGIC:
        raise MalformedFileError(path, "DOF: bad magic (want 7F 'D' 'O' 'F')", where)
    model, encoding, version = data[4], data[5], data[6]
    if model not in (MODEL_ILP32, MODEL_LP64):
        raise MalformedFileError(path, f"DOF: unknown data model {model}", where + 4)
    if encoding not in (ENCODE_LSB, ENCODE_MSB):
        raise MalformedFileError(path, f"DOF: unknown encoding {encoding}", where + 5)
    if version not in PROBE_SIZE:
        raise MalformedFileError(path, f"DOF: unknown version {version}", where + 6)
    return model, encoding, version


def _section_headers(reader: _Reader) -> tuple[int, tuple[DofSection, ...]]:
    """The blob's size as its header gives it, and its section headers, each
    checked to lie inside it; ``reader`` is cut to that size."""
    data = reader.data
    _flags, hdrsize, secsize, secnum, secoff, _loadsz, filesz = reader.unpack(
        "IIIIQQQ", 16, "header"
    )
    if hdrsize < HEADER_SIZE or hdrsize > len(data):
        raise reader.fail(f"header size {hdrsize} is impossible", 20)
    if filesz > len(data):
        raise reader.fail(f"claims {filesz} bytes but only {len(data)} are present", 40)
    if filesz < hdrsize:
        raise reader.fail(f"file size {filesz} is smaller than its header", 40)
    reader.data = data[:filesz]
    if secnum and secsize < SECTION_HEADER_SIZE:
        raise reader.fail(f"section header size {secsize} is below 32", 24)
    if secoff + secnum * secsize > filesz:
        raise reader.fail(f"{secnum} section headers of {secsize} bytes run past the DOF", 32)
    sections = []
    for i in range(secnum):
        s_type, align, flags, entsize, offset, size = reader.unpack(
            "IIIIQQ", secoff + i * secsize, f"section header {i}"
        )
        if s_type != SECT_NONE and offset + size > filesz:
            raise reader.fail(
                f"section {i} (type {s_type}) runs past the DOF", secoff + i * secsize
            )
        sections.append(DofSection(i, s_type, align, flags, entsize, offset, size))
    return filesz, tuple(sections)


def _section(
    reader: _Reader, sections: tuple[DofSection, ...], index: int, want: int, what: str, at: int
) -> DofSection:
    if index >= len(sections):
        raise reader.fail(f"{what} section index {index} is out of range", at)
    section = sections[index]
    if want != SECT_NONE and section.type != want:
        raise reader.fail(f"{what} section {index} has type {section.type}, expected {want}", at)
    return section


def _relocations(reader: _Reader, sections: tuple[DofSection, ...]) -> tuple[Relocation, ...]:
    """The user relocations of every URELHDR, each with the blob offset it patches."""
    found: list[Relocation] = []
    for header in sections:
        if header.type != SECT_URELHDR:
            continue
        if header.size < RELOHDR_SIZE:
            raise reader.fail("relocation header too small", header.offset)
        strtab_i, relsec_i, target_i = reader.unpack("III", header.offset, "relocation header")
        strtab = _section(
            reader, sections, strtab_i, SECT_STRTAB, "relocation string", header.offset
        )
        relsec = _section(reader, sections, relsec_i, SECT_RELTAB, "relocation", header.offset)
        target = _section(reader, sections, target_i, SECT_NONE, "relocated", header.offset)
        if relsec.entsize < RELODESC_SIZE:
            raise reader.fail(f"relocation entry size {relsec.entsize} is below 24", relsec.offset)
        for i in range(relsec.size // relsec.entsize):
            at = relsec.offset + i * relsec.entsize
            name_i, r_type, r_offset, r_data = reader.unpack("IIQQ", at, "relocation")
            if r_type == RELO_NONE:
                continue
            if r_type not in (RELO_SETX, RELO_DOFREL):
                raise reader.fail(f"unknown relocation type {r_type}", at)
            if r_offset + 8 > target.size:
                raise reader.fail("relocation patches outside its section", at)
            name, _ = reader.string(strtab, name_i, "relocation symbol")
            found.append(Relocation(name, r_type, r_offset, r_data, target.offset + r_offset))
    return tuple(found)


def _strings(
    reader: _Reader, table: DofSection, index: int, count: int, what: str
) -> tuple[str, ...]:
    """``count`` consecutive NUL-terminated strings, as DOF stores argument types."""
    result = []
    for _ in range(count):
        text, index = reader.string(table, index, what)
        result.append(text)
    return tuple(result)


def _u32_array(
    reader: _Reader, section: DofSection, first: int, count: int, what: str, at: int
) -> tuple[int, ...]:
    if (first + count) * 4 > section.size:
        raise reader.fail(f"{what} {first}..{first + count} run past their section", at)
    start = section.offset + first * 4
    values: tuple[int, ...] = reader.unpack(f"{count}I", start, what)
    return values


def _provider(
    reader: _Reader,
    sections: tuple[DofSection, ...],
    section: DofSection,
    version: int,
    patches: dict[int, Relocation],
    dof_address: int | None,
) -> DofProvider:
    at = section.offset
    if section.size < PROVIDER_SIZE[version]:
        raise reader.fail(f"provider section too small ({section.size} bytes)", at)
    strtab_i, probes_i, prargs_i, proffs_i, name_i, *attrs = reader.unpack(
        "IIIII5I", at, "provider"
    )
    strtab = _section(reader, sections, strtab_i, SECT_STRTAB, "provider string", at)
    probes = _section(reader, sections, probes_i, SECT_PROBES, "provider probes", at)
    prargs = _section(reader, sections, prargs_i, SECT_PRARGS, "provider argument", at)
    proffs = _section(reader, sections, proffs_i, SECT_PROFFS, "provider offset", at)
    prenoffs: DofSection | None = None
    if version != VERSION_1:
        (prenoffs_i,) = reader.unpack("I", at + 40, "provider")
        if prenoffs_i not in (SECT_NONE, SECIDX_NONE):
            prenoffs = _section(
                reader, sections, prenoffs_i, SECT_PRENOFFS, "provider is-enabled offset", at
            )
    name, _ = reader.string(strtab, name_i, "provider name")
    if probes.entsize < PROBE_SIZE[version]:
        raise reader.fail(
            f"probe entry size {probes.entsize} is below {PROBE_SIZE[version]}", probes.offset
        )
    records = []
    for i in range(probes.size // probes.entsize):
        record = probes.offset + i * probes.entsize
        records.append(
            _probe(
                reader,
                name,
                record,
                version,
                strtab,
                prargs,
                proffs,
                prenoffs,
                patches,
                dof_address,
            )
        )
    return DofProvider(name, tuple(Attribute(a) for a in attrs), tuple(records), section.index)


def _probe(
    reader: _Reader,
    provider: str,
    at: int,
    version: int,
    strtab: DofSection,
    prargs: DofSection,
    proffs: DofSection,
    prenoffs: DofSection | None,
    patches: dict[int, Relocation],
    dof_address: int | None,
) -> DofProbe:
    (raw_addr, func_i, name_i, nargv, xargv, argidx, offidx, nargc, xargc, noffs) = reader.unpack(
        "QIIIIIIBBH", at, "probe record"
    )
    enoffidx = nenoffs = 0
    if version != VERSION_1:
        enoffidx, nenoffs = reader.unpack("IH", at + 36, "probe record")
    function, _ = reader.string(strtab, func_i, "probe function")
    name, _ = reader.string(strtab, name_i, "probe name")
    native = _strings(reader, strtab, nargv, nargc, "native argument type")
    translated = _strings(reader, strtab, xargv, xargc, "translated argument type")
    if argidx + xargc > prargs.size:
        raise reader.fail(f"argument mapping {argidx}+{xargc} runs past its section", at)
    argmap = tuple(reader.data[prargs.offset + argidx : prargs.offset + argidx + xargc])
    for index in argmap:
        if index > nargc:  # the kernel's own (lenient) bound
            raise reader.fail(f"argument mapping names native argument {index} of {nargc}", at)
    offsets = _u32_array(reader, proffs, offidx, noffs, "probe offsets", at)
    enabled: tuple[int, ...] = ()
    if prenoffs is not None:
        enabled = _u32_array(reader, prenoffs, enoffidx, nenoffs, "is-enabled offsets", at)
    elif nenoffs:
        raise reader.fail("is-enabled offsets without an is-enabled offset section", at)
    addr, relocation = raw_addr, None
    patch = patches.get(at)
    if patch is not None:
        relocation = patch.name
        if patch.type == RELO_DOFREL and dof_address is not None:
            addr = (raw_addr + dof_address + patch.target) & (2**64 - 1)
        # RELO_SETX adds the load base, which is 0 for the file on disk.
    return DofProbe(
        provider,
        function,
        name,
        addr,
        raw_addr,
        native,
        translated,
        argmap,
        offsets,
        enabled,
        at,
        relocation,
    )


# -- from probe records to sites ---------------------------------------------

# SPARC has no grammar object (usdtscan decodes no SPARC operand): Solaris's
# DOF is the one place its calling convention is needed.  Every other ABI's
# is its :attr:`~usdtscan.args.architecture.Abi.call` in the registry.
_SPARC = CallConvention(tuple(f"%o{i}" for i in range(6)), None)
_SPARC_ABIS = {"sparc64": _SPARC, "sparc": _SPARC}


def argument_location(arch: str, index: int) -> str:
    """Where argument ``index`` of the probe call lives at the site, by the calling
    convention of the registry's ABI ``arch``; ``argN`` when it is not known.
    DOF has no locations: the probe is a call, and its arguments are the call's."""
    found = abi(arch)
    call = found.call if found is not None else _SPARC_ABIS.get(arch)
    location = None if call is None else call.location(index)
    return f"arg{index}" if location is None else location


def arguments(arch: str, native_types: tuple[str, ...]) -> tuple[Argument, ...]:
    return tuple(
        Argument(
            raw=type_name,
            size=None,
            signed=None,
            is_float=False,
            operand=argument_location(arch, i),
        )
        for i, type_name in enumerate(native_types)
    )


def stability(provider: DofProvider) -> tuple[tuple[str, Stability], ...]:
    return tuple(
        (key, Stability(a.name, a.data, a.dependency_class))
        for key, a in zip(STABILITY_KEYS, provider.attributes, strict=True)
    )


@dataclass(slots=True)
class Placement:
    """Where one stored offset puts a site, as its container reads it.

    ``warnings`` are the container's findings (no bytes here, not the
    patched pattern); :func:`function_at` adds the symbol table's.
    ``instruction`` and ``verified`` are the patched site's, when checked.
    """

    address: int | None
    traced_pc: int | None
    file_offset: int | None
    function: str | None
    warnings: list[str]
    instruction: str | None = None
    verified: bool | None = None


class DofContainer(Protocol):
    """What differs between the containers of one DOF section: how a probe
    record's stored offset becomes an address, a file offset and a function.
    Everything else about a DOF site is the record's (:func:`build_sites`).

    ``section`` names the DOF section (Mach-O: ``segment,section``),
    ``arch`` the calling convention of the argument locations, and
    ``blob_file_offset`` is where the blob starts in the file (a record's
    file offset is it plus the record's ``record_offset``).
    """

    @property
    def section(self) -> str: ...

    @property
    def arch(self) -> str: ...

    @property
    def blob_file_offset(self) -> int: ...

    def stored_offset(self, raw: int) -> int:
        """The stored 32-bit offset as the kernel reads it (signed on Mach-O)."""

    def place(self, probe: DofProbe, enabled: bool, stored: int) -> Placement:
        """Where the site at ``stored`` in ``probe`` lies; ``enabled``: an is-enabled site."""


def build_sites(blob: DofBlob, container: DofContainer) -> Iterator[Site]:
    """The sites of every probe record of ``blob``: each probe offset, then each
    is-enabled offset, record by record, as the kernel creates them."""
    section = container.section
    for provider in blob.providers:
        attributes = stability(provider)
        for probe in provider.probes:
            args = arguments(container.arch, probe.native_types)
            args_raw = ", ".join(probe.native_types)
            record = container.blob_file_offset + probe.record_offset
            offsets = [(False, o) for o in probe.offsets]
            offsets += [(True, o) for o in probe.enabled_offsets]
            for enabled, raw in offsets:
                stored = container.stored_offset(raw)
                placed = container.place(probe, enabled, stored)
                yield Site(
                    provider=provider.name,
                    name=probe.name,
                    args_raw=args_raw,
                    args=args,
                    address=placed.address,
                    file_offset=placed.file_offset,
                    semaphore_address=None,
                    semaphore_file_offset=None,
                    function=placed.function,
                    kind=SiteKind.DOF_IS_ENABLED if enabled else SiteKind.DOF_PROBE,
                    section=section,
                    note_offset=record,
                    warnings=tuple(placed.warnings),
                    traced_pc=placed.traced_pc,
                    dof=DofInfo(
                        offset=stored,
                        section=section,
                        native_types=probe.native_types,
                        translated_types=probe.translated_types,
                        argmap=probe.argmap,
                        stability=attributes,
                        dof_function=probe.function,
                        instruction=placed.instruction,
                        verified=placed.verified,
                    ),
                )


class FunctionLookup(Protocol):
    """The enclosing function symbol of an address, as (name, offset into it)."""

    def lookup(self, address: int) -> tuple[str, int] | None: ...


def function_at(
    functions: FunctionLookup | None,
    address: int,
    probe: DofProbe,
    warnings: list[str],
    prefix: str = "",
) -> str | None:
    """The symbol holding ``address`` as ``name+0xoffset``, without the
    ``prefix`` the platform puts before C names (Mach-O's ``_``); a symbol
    other than the function the DOF record names is a warning."""
    found = None if functions is None else functions.lookup(address)
    if found is None:
        return None
    name, offset = found
    if prefix and name.startswith(prefix):
        name = name[len(prefix) :]
    if name != probe.function:
        warnings.append(f"DOF names function {probe.function}, the symbol table {name}")
    return f"{name}+{offset:#x}"
