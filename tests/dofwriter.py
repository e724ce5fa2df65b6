"""A DOF writer for the tests, so every branch of the decoder has a fixture.

It lays out what ``dtrace -G`` and ld64 write: per provider a string table,
the probe records, the argument mapping, the probe and is-enabled offsets
and the provider record, then optional user relocations on the records'
``addr`` fields.  Record and header sizes are parameters, because the
decoder must step by ``entsize`` and ``secsize`` rather than by a struct.
Also builds a minimal ELF executable around a DOF blob as ``.SUNW_dof``.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, field

SECT_ECBDESC = 3
SECT_STRTAB = 8
SECT_RELTAB = 10
SECT_URELHDR = 12
SECT_PROVIDER = 15
SECT_PROBES = 16
SECT_PRARGS = 17
SECT_PROFFS = 18
SECT_PRENOFFS = 26
RELO_SETX, RELO_DOFREL = 1, 2


def attr(name: int, data: int, dependency_class: int) -> int:
    return (name << 24) | (data << 16) | (dependency_class << 8)


EVOLVING_ISA = attr(5, 5, 4)
PRIVATE_UNKNOWN = attr(1, 1, 0)
APPLE_ATTRS = (EVOLVING_ISA, PRIVATE_UNKNOWN, PRIVATE_UNKNOWN, attr(1, 1, 4), EVOLVING_ISA)


@dataclass
class Probe:
    function: str
    name: str
    native: list[str] = field(default_factory=list)
    translated: list[str] | None = None  # None: same as native
    argmap: list[int] | None = None  # None: identity
    offsets: list[int] = field(default_factory=list)
    enabled: list[int] = field(default_factory=list)
    addr: int = 0
    relocation: tuple[str, int] | None = None  # (symbol, RELO_SETX or RELO_DOFREL)

    @property
    def xtypes(self) -> list[str]:
        return list(self.native) if self.translated is None else self.translated

    @property
    def mapping(self) -> list[int]:
        return list(range(len(self.xtypes))) if self.argmap is None else self.argmap


@dataclass
class Provider:
    name: str
    probes: list[Probe]
    attrs: tuple[int, int, int, int, int] = APPLE_ATTRS
    no_enabled: int = 0xFFFFFFFF  # what prenoffs holds when there are no is-enabled offsets


class _Builder:
    def __init__(self, order: str, align: int = 8) -> None:
        self.order = order
        self.sections: list[tuple[int, int, int, int, bytes]] = []  # type, align, flags, ent, data

    def add(self, s_type: int, data: bytes, align: int = 1, entsize: int = 0) -> int:
        self.sections.append((s_type, align, 1, entsize, data))
        return len(self.sections) - 1


def _strtab() -> tuple[bytearray, dict[str, int]]:
    return bytearray(b"\0"), {}


def _intern(table: bytearray, index: dict[str, int], text: str) -> int:
    if text not in index:
        index[text] = len(table)
        table += text.encode() + b"\0"
    return index[text]


def _types(table: bytearray, types: list[str]) -> int:
    """Consecutive NUL-terminated strings, as DOF stores argument types."""
    if not types:
        return 0
    start = len(table)
    for t in types:
        table += t.encode() + b"\0"
    return start


def write_dof(
    providers: list[Provider],
    *,
    version: int = 3,
    model: int = 2,
    encoding: int = 1,
    secsize: int = 32,
    hdrsize: int = 64,
    probe_entsize: int | None = None,
    program: bool = False,
) -> bytes:
    """A DOF blob holding ``providers``; ``program`` adds an ECBDESC section (a D program)."""
    order = "<" if encoding == 1 else ">"
    b = _Builder(order)
    if probe_entsize is None:
        probe_entsize = 40 if version == 1 else 48
    provider_size = 40 if version == 1 else 44
    relocs: list[tuple[int, int, str, int, int]] = []  # strtab idx, probes idx, name, type, off
    for provider in providers:
        table, index = _strtab()
        records = bytearray()
        prargs = bytearray()
        proffs: list[int] = []
        prenoffs: list[int] = []
        pending: list[tuple[str, int, int]] = []
        provider_name = _intern(table, index, provider.name)
        for i, probe in enumerate(provider.probes):
            func = _intern(table, index, probe.function)
            name = _intern(table, index, probe.name)
            nargv = _types(table, probe.native)
            xargv = _types(table, probe.xtypes)
            argidx = len(prargs)
            prargs += bytes(probe.mapping)
            offidx = len(proffs)
            proffs += probe.offsets
            enoffidx = len(prenoffs) if probe.enabled else 0
            prenoffs += probe.enabled
            record = struct.pack(
                order + "QIIIIIIBBH",
                probe.addr,
                func,
                name,
                nargv,
                xargv,
                argidx,
                offidx,
                len(probe.native),
                len(probe.xtypes),
                len(probe.offsets),
            )
            if version != 1:
                record += struct.pack(order + "IHHI", enoffidx, len(probe.enabled), 0, 0)
            records += record.ljust(probe_entsize, b"\0")
            if probe.relocation is not None:
                pending.append((probe.relocation[0], probe.relocation[1], i * probe_entsize))
        s_str = b.add(SECT_STRTAB, bytes(table))
        s_probes = b.add(SECT_PROBES, bytes(records), 8, probe_entsize)
        s_args = b.add(SECT_PRARGS, bytes(prargs), 1, 1)
        s_offs = b.add(SECT_PROFFS, struct.pack(f"{order}{len(proffs)}I", *proffs), 4, 4)
        s_enoffs = provider.no_enabled
        if prenoffs and version != 1:
            s_enoffs = b.add(
                SECT_PRENOFFS, struct.pack(f"{order}{len(prenoffs)}I", *prenoffs), 4, 4
            )
        body = struct.pack(
            order + "IIIII5I", s_str, s_probes, s_args, s_offs, provider_name, *provider.attrs
        )
        if version != 1:
            body += struct.pack(order + "I", s_enoffs)
        b.add(SECT_PROVIDER, body.ljust(provider_size, b"\0"), 4)
        relocs += [(s_str, s_probes, n, t, o) for n, t, o in pending]
    # Relocations: one RELTAB + URELHDR per (strtab, probes) pair; names go in a fresh table.
    targets = sorted({(r[1]) for r in relocs})
    for target in targets:
        table, index = _strtab()
        descs = b"".join(
            struct.pack(order + "IIQQ", _intern(table, index, n), t, o, 0)
            for _s, tgt, n, t, o in relocs
            if tgt == target
        )
        s_names = b.add(SECT_STRTAB, bytes(table))
        s_rel = b.add(SECT_RELTAB, descs, 8, 24)
        b.add(SECT_URELHDR, struct.pack(order + "III", s_names, s_rel, target), 4)
    if program:
        b.add(SECT_ECBDESC, bytes(24), 8)
    # Layout: header, section headers, then each section aligned.
    secoff = hdrsize
    offset = secoff + secsize * len(b.sections)
    headers = bytearray()
    payload = bytearray()
    for s_type, align, flags, entsize, data in b.sections:
        pad = (-offset) % max(align, 1)
        payload += bytes(pad)
        offset += pad
        headers += struct.pack(
            order + "IIIIQQ", s_type, align, flags, entsize, offset, len(data)
        ).ljust(secsize, b"\0")
        payload += data
        offset += len(data)
    ident = bytes([0x7F, ord("D"), ord("O"), ord("F"), model, encoding, version, 2, 8, 8])
    total = hdrsize + len(headers) + len(payload)
    header = ident.ljust(16, b"\0") + struct.pack(
        order + "IIIIQQQ", 0, hdrsize, secsize, len(b.sections), secoff, total, total
    )
    return bytes(header.ljust(hdrsize, b"\0") + headers + payload)


# -- a table-driven ELF writer ----------------------------------------------------

EM_X86_64, EM_SPARCV9, EM_AARCH64, EM_386 = 62, 43, 183, 3
SHT_PROGBITS, SHT_SYMTAB, SHT_STRTAB, SHT_RELA, SHT_DYNAMIC, SHT_NOTE = 1, 2, 3, 4, 6, 7
SHT_NOBITS, SHT_REL, SHT_DYNSYM = 8, 9, 11
SHT_SUNW_DOF = 0x6FFFFFF4
PT_LOAD, PT_DYNAMIC, PT_NOTE = 1, 2, 4
STT_NOTYPE, STT_OBJECT, STT_FUNC, STT_SECTION, STT_FILE = 0, 1, 2, 3, 4
STB_LOCAL, STB_GLOBAL = 0, 1


@dataclass(frozen=True)
class _ElfClass:
    """What differs between ELFCLASS32 and ELFCLASS64: sizes, and each table's field order."""

    ident: int
    header: str  # the ELF header after e_ident
    segment: tuple[str, tuple[str, ...]]
    section: str
    symbol: tuple[str, tuple[str, ...]]
    word: str  # an address, an Elf_Dyn half, r_offset and r_info
    signed: str  # d_tag and r_addend


_ELF_CLASSES = {
    64: _ElfClass(
        ident=2,
        header="HHIQQQIHHHHHH",
        segment=(
            "IIQQQQQQ",
            ("type", "flags", "offset", "vaddr", "paddr", "filesz", "memsz", "align"),
        ),
        section="IIQQQQIIQQ",
        symbol=("IBBHQQ", ("name", "info", "other", "shndx", "value", "size")),
        word="Q",
        signed="q",
    ),
    32: _ElfClass(
        ident=1,
        header="HHIIIIIHHHHHH",
        segment=(
            "IIIIIIII",
            ("type", "offset", "vaddr", "paddr", "filesz", "memsz", "flags", "align"),
        ),
        section="IIIIIIIIII",
        symbol=("IIIBBH", ("name", "value", "size", "info", "other", "shndx")),
        word="I",
        signed="i",
    ),
}


def _order(endian: str) -> str:
    return "<" if endian == "little" else ">"


@dataclass
class ElfSection:
    """One section; ``offset`` None places it after the one before, at its alignment."""

    name: str
    type: int
    data: bytes = b""
    flags: int = 0
    addr: int = 0
    link: int = 0
    info: int = 0
    align: int = 1
    entsize: int = 0
    offset: int | None = None
    size: int | None = None  # sh_size, when it is not len(data) (SHT_NOBITS, a lying header)


@dataclass
class ElfSegment:
    type: int
    flags: int
    offset: int
    vaddr: int
    filesz: int
    memsz: int | None = None  # None: filesz
    align: int = 0x1000


@dataclass
class ElfSymbol:
    name: str
    value: int
    size: int = 0
    kind: int = STT_FUNC
    bind: int = STB_GLOBAL
    shndx: int = 1  # 0 is SHN_UNDEF: an imported symbol


def elf_symbols(
    symbols: list[ElfSymbol], *, bits: int = 64, endian: str = "little"
) -> tuple[bytes, bytes]:
    """A symbol table (null row first) and its string table."""
    fmt, fields = _ELF_CLASSES[bits].symbol
    strtab = bytearray(b"\0")
    table = bytearray(struct.calcsize(fmt))
    for symbol in symbols:
        name = 0
        if symbol.name:
            name = len(strtab)
            strtab += symbol.name.encode() + b"\0"
        row = {
            "name": name,
            "value": symbol.value,
            "size": symbol.size,
            "info": (symbol.bind << 4) | symbol.kind,
            "other": 0,
            "shndx": symbol.shndx,
        }
        table += struct.pack(_order(endian) + fmt, *(row[f] for f in fields))
    return bytes(table), bytes(strtab)


def elf_note(
    owner: bytes, n_type: int, desc: bytes, *, endian: str = "little", align: int = 4
) -> bytes:
    """One note record, its descriptor and its end aligned to ``align`` (from the note's start)."""
    name = owner + b"\0"
    head = struct.pack(_order(endian) + "III", len(name), len(desc), n_type)
    return head + name + bytes(-(12 + len(name)) % align) + desc + bytes(-len(desc) % align)


def elf_words(pairs: list[tuple[int, int]], *, bits: int = 64, endian: str = "little") -> bytes:
    """(signed, unsigned) word pairs: the rows of a dynamic section."""
    layout = _ELF_CLASSES[bits]
    return b"".join(struct.pack(_order(endian) + layout.signed + layout.word, *p) for p in pairs)


def elf_relocations(
    rows: Sequence[tuple[int, int, int, int | None]], *, bits: int = 64, endian: str = "little"
) -> bytes:
    """(offset, symbol, type, addend or None for REL) rows, with r_info as each class packs it."""
    layout = _ELF_CLASSES[bits]
    out = bytearray()
    for offset, symbol, kind, addend in rows:
        info = (symbol << 32 | kind) if bits == 64 else (symbol << 8 | kind)
        out += struct.pack(_order(endian) + layout.word * 2, offset, info)
        if addend is not None:
            out += struct.pack(_order(endian) + layout.signed, addend)
    return bytes(out)


def elf_layout(sections: list[ElfSection], *, bits: int = 64, segments: int = 0) -> dict[str, int]:
    """The file offset each section's data gets from :func:`write_elf_file`, by name."""
    header, segment, _section = _sizes(bits)
    position = header + segment * segments
    offsets: dict[str, int] = {}
    for section in sections:
        if section.offset is None:
            position += -position % max(section.align, 1)
            offsets[section.name] = position
        else:
            offsets[section.name] = section.offset
        if section.type != SHT_NOBITS:
            position = offsets[section.name] + len(section.data)
    return offsets


def _sizes(bits: int) -> tuple[int, int, int]:
    layout = _ELF_CLASSES[bits]
    return (
        16 + struct.calcsize("=" + layout.header),
        struct.calcsize("=" + layout.segment[0]),
        struct.calcsize("=" + layout.section),
    )


def _section_names(sections: list[ElfSection]) -> tuple[bytes, list[int]]:
    """``.shstrtab`` for ``sections`` and itself, and each name's offset in it."""
    names = bytearray(b"\0")
    offsets = []
    for name in [s.name for s in sections] + [".shstrtab"]:
        offsets.append(len(names))
        names += name.encode() + b"\0"
    return bytes(names), offsets


def write_elf_file(
    sections: list[ElfSection],
    segments: Sequence[ElfSegment] = (),
    *,
    machine: int = EM_X86_64,
    bits: int = 64,
    endian: str = "little",
    e_type: int = 2,
    entry: int = 0,
    flags: int = 0,
) -> bytes:
    """An ELF file: header, program headers, the sections' data, ``.shstrtab``, section headers.

    The null section is added first and ``.shstrtab`` last, so that
    ``sections[i]`` is section ``i + 1``.
    """
    order, layout = _order(endian), _ELF_CLASSES[bits]
    header_size, segment_size, section_size = _sizes(bits)
    names, name_offsets = _section_names(sections)
    everything = [*sections, ElfSection(".shstrtab", SHT_STRTAB, names)]
    offsets = elf_layout(everything, bits=bits, segments=len(segments))
    end = max(
        [header_size + segment_size * len(segments)]
        + [offsets[s.name] + len(s.data) for s in everything if s.type != SHT_NOBITS]
    )
    section_table = end + (-end % 8)
    image = bytearray(section_table + section_size * (len(everything) + 1))
    image[0:16] = b"\x7fELF" + bytes([layout.ident, 1 if endian == "little" else 2, 1]) + bytes(9)
    counts = (len(segments), section_size, len(everything) + 1, len(everything))
    image[16:header_size] = struct.pack(
        order + layout.header,
        *(e_type, machine, 1, entry, header_size if segments else 0, section_table, flags),
        *(header_size, segment_size, *counts),
    )
    fmt, fields = layout.segment
    for i, g in enumerate(segments):
        row = {**vars(g), "paddr": g.vaddr, "memsz": g.filesz if g.memsz is None else g.memsz}
        struct.pack_into(order + fmt, image, header_size + i * segment_size, *map(row.get, fields))
    for i, section in enumerate(everything, start=1):
        at = offsets[section.name]
        if section.type != SHT_NOBITS:
            image[at : at + len(section.data)] = section.data
        size = len(section.data) if section.size is None else section.size
        struct.pack_into(
            order + layout.section,
            image,
            section_table + i * section_size,
            name_offsets[i - 1],
            section.type,
            section.flags,
            section.addr,
            at,
            size,
            section.link,
            section.info,
            section.align,
            section.entsize,
        )
    return bytes(image)


# -- a minimal ELF around a DOF blob -------------------------------------------


@dataclass
class ElfFunction:
    name: str
    address: int
    size: int

    def symbol(self) -> ElfSymbol:
        return ElfSymbol(self.name, self.address, self.size)


def write_elf(
    dof_blob: bytes,
    functions: list[ElfFunction],
    *,
    machine: int = EM_X86_64,
    bits: int = 64,
    endian: str = "little",
    text_address: int = 0x401000,
    text_size: int = 0x1000,
    section_name: str = ".SUNW_dof",
    e_type: int = 2,
    extra: Sequence[ElfSection] = (),
) -> tuple[bytes, int]:
    """An executable with ``.text`` (nops), the blob as ``.SUNW_dof`` and a symbol table.

    Returns the file and the address the DOF section was given.  One PT_LOAD
    maps the whole file at ``text_address - text_offset``.  ``extra``
    sections (relocations, say) follow ``.strtab``.
    """
    text_offset = 0x1000
    base = text_address - text_offset
    symbols, names = elf_symbols(
        [ElfFunction.symbol(f) for f in functions], bits=bits, endian=endian
    )
    row_size = len(symbols) // (len(functions) + 1)
    sections = [
        ElfSection(
            ".text",
            SHT_PROGBITS,
            b"\x90" * text_size,
            6,
            text_address,
            offset=text_offset,
            align=16,
        ),
        ElfSection(section_name, SHT_SUNW_DOF, dof_blob, 2, align=8),
        ElfSection(".symtab", SHT_SYMTAB, symbols, link=4, info=1, align=8, entsize=row_size),
        ElfSection(".strtab", SHT_STRTAB, names),
        *extra,
    ]
    offsets = elf_layout(sections, bits=bits, segments=1)
    dof_address = base + offsets[section_name]
    sections[1].addr = dof_address
    load = ElfSegment(PT_LOAD, 5, 0, base, offsets[".symtab"])
    image = write_elf_file(
        sections,
        [load],
        machine=machine,
        bits=bits,
        endian=endian,
        e_type=e_type,
        entry=text_address,
    )
    return image, dof_address


# -- a minimal Mach-O around a DOF blob ----------------------------------------

CPU_X86_64, CPU_ARM64, CPU_I386 = 0x01000007, 0x0100000C, 7


@dataclass
class MachFunction:
    name: str  # as in the symbol table, leading underscore included
    offset: int  # from the start of __text


def write_macho(
    code: bytes,
    functions: list[MachFunction],
    dof_for: object,
    *,
    cputype: int = CPU_X86_64,
    bits: int = 64,
    dof_section: str = "__dof_test",
    dof_misalign: int = 0,
    unknown_command: bool = True,
) -> tuple[bytes, int, int]:
    """A thin Mach-O with ``__text`` = ``code`` and a DOF section (None: no DOF).

    ``dof_for(text_address, dof_address)`` returns the blob, so that offsets
    can be computed against the final addresses.  Returns the file, the
    address of ``__text`` and of the DOF section.
    """
    order = "<"
    base = 0x100000000 if bits == 64 else 0x1000
    text_off = 0x1000
    text_addr = base + text_off
    dof_off = text_off + len(code)
    dof_off += (-dof_off) % 8 + dof_misalign
    dof_addr = base + dof_off
    blob = b"" if dof_for is None else dof_for(text_addr, dof_addr)  # type: ignore[operator]
    sym_off = dof_off + len(blob)
    sym_off += (-sym_off) % 8
    strtab = bytearray(b"\0")
    nlist = bytearray()
    for f in functions:
        at = len(strtab)
        strtab += f.name.encode() + b"\0"
        value = text_addr + f.offset
        if bits == 64:
            nlist += struct.pack(order + "IBBHQ", at, 0x0F, 1, 0, value)
        else:
            nlist += struct.pack(order + "IBBHI", at, 0x0F, 1, 0, value)
    str_off = sym_off + len(nlist)
    end = str_off + len(strtab)
    sections = [("__text", text_addr, len(code), text_off, 0x80000400)]
    if dof_for is not None:
        sections.append((dof_section, dof_addr, len(blob), dof_off, 0xF))
    seg_size = dof_off + len(blob)
    # LC_SEGMENT_64 / LC_SEGMENT: command, header size, and the formats of the
    # segment and section headers, whose address fields are 8 or 4 bytes.
    command, header, segment_fmt, section_fmt = {
        64: (0x19, 72, "II16sQQQQiiII", "16s16sQQIIIIIIII"),
        32: (0x1, 56, "II16sIIIIiiII", "16s16sIIIIIIIII"),
    }[bits]
    # 64-bit section headers end in three reserved words, 32-bit ones in two.
    reserved = (0, 0, 0) if bits == 64 else (0, 0)
    sect = b"".join(
        struct.pack(order + section_fmt, n.encode(), b"__TEXT", a, s, o, 0, 0, 0, fl, *reserved)
        for n, a, s, o, fl in sections
    )
    segment = (
        struct.pack(
            order + segment_fmt,
            command,
            header + len(sect),
            b"__TEXT",
            base,
            seg_size,
            0,
            seg_size,
            5,
            5,
            len(sections),
            0,
        )
        + sect
    )
    symtab = struct.pack(order + "IIIIII", 0x2, 24, sym_off, len(functions), str_off, len(strtab))
    commands = [segment, symtab]
    if unknown_command:
        commands.append(struct.pack(order + "IIQ", 0x7FFF0001, 16, 0x1234))
    blob_cmds = b"".join(commands)
    magic = 0xFEEDFACF if bits == 64 else 0xFEEDFACE
    header = struct.pack(order + "IiiIIII", magic, cputype, 3, 2, len(commands), len(blob_cmds), 0)
    if bits == 64:
        header += bytes(4)
    image = bytearray(end)
    image[0 : len(header) + len(blob_cmds)] = header + blob_cmds
    image[text_off : text_off + len(code)] = code
    image[dof_off : dof_off + len(blob)] = blob
    image[sym_off : sym_off + len(nlist)] = nlist
    image[str_off:end] = strtab
    return bytes(image), text_addr, dof_addr


def make_fat(thin: list[bytes], kind: str = "32", align: int = 14) -> bytes:
    """A fat file of the thin images, laid out as ``lipo -create`` does."""
    entry = 20 if kind == "32" else 32
    offset = 8 + entry * len(thin)
    layout = []
    for data in thin:
        offset += (-offset) % (1 << align)
        cputype, cpusubtype = struct.unpack_from("<ii", data, 4)
        layout.append((cputype, cpusubtype, offset, data))
        offset += len(data)
    out = bytearray(struct.pack(">II", 0xCAFEBABE if kind == "32" else 0xCAFEBABF, len(thin)))
    for cputype, cpusubtype, at, data in layout:
        if kind == "32":
            out += struct.pack(">iiIII", cputype, cpusubtype, at, len(data), align)
        else:
            out += struct.pack(">iiQQII", cputype, cpusubtype, at, len(data), align, 0)
    for _ct, _cs, at, data in layout:
        out += bytes(at - len(out))
        out += data
    return bytes(out)


# -- a small synthetic program, shared by the Mach-O tests and the fuzz seeds ----------

# push/mov prologue, the x86 probe patch, the is-enabled patch, epilogue.
X86_CODE = bytes.fromhex("55 4889e5 900f1f4000 33c0909090 5dc3") + b"\x90" * 16
# stp, nop (probe), mov x0, #0 (is-enabled), ldp, ret.
ARM_CODE = bytes.fromhex("fd7bbfa9 1f2003d5 000080d2 fd7bc1a8 c0035fd6")


def x86_demo_dof(text: int, dof_address: int) -> bytes:
    """DOF for X86_CODE: the probe patch at text+4, is-enabled at text+9 (both stored +1)."""
    probe = Probe(
        "myfunc",
        "fire",
        ["int", "char *"],
        offsets=[(text + 5 - dof_address) & 0xFFFFFFFF],
        enabled=[(text + 10 - dof_address) & 0xFFFFFFFF],
    )
    return write_dof([Provider("demo", [probe])])


def arm64_demo_dof(text: int, dof_address: int, nargs: int = 9) -> bytes:
    """DOF for ARM_CODE: the probe at text+4, is-enabled at text+8 (arm64 stores them as is)."""
    probe = Probe(
        "myfunc",
        "fire",
        ["int"] * nargs,
        offsets=[(text + 4 - dof_address) & 0xFFFFFFFF],
        enabled=[(text + 8 - dof_address) & 0xFFFFFFFF],
    )
    return write_dof([Provider("demo", [probe])])
