"""DTrace probes in ELF: the ``.SUNW_dof`` section of Solaris, illumos, FreeBSD and Oracle Linux.

``dtrace -G`` puts the provider's DOF into ``.SUNW_dof`` and has the link
editor relocate each probe record's ``addr`` to its function's address; a
site is then that address plus the record's unsigned 32-bit offset
(illumos ``dtrace_helper_provide_one`` and fasttrap).  The section type,
0x6ffffff4, is also ``SHT_GNU_SFRAME`` in GNU toolchains, so the name must
match too.
"""

from __future__ import annotations

from . import dof
from .elf import PF_X, ElfFile, ElfType, Section
from .errors import MalformedFileError
from .model import ScannedFile, Site
from .reloc import RELOCATION_SECTIONS, relocated_section_data
from .symbols import FunctionIndex, function_index

SHT_SUNW_DOF = 0x6FFFFFF4
SECTION_NAME = ".SUNW_dof"

# Calling-convention families for the argument locations, by ELF machine name.
_ABI = {
    "x86_64": "x86_64",
    "i386": "i386",
    "aarch64": "aarch64",
    "sparc64": "sparc64",
    "sparc": "sparc",
    "arm": "arm",
}


def dof_sections(elf: ElfFile) -> list[Section]:
    return [s for s in elf.sections if s.type == SHT_SUNW_DOF and s.name == SECTION_NAME]


def _sites(
    elf: ElfFile, section: Section, functions: FunctionIndex | None, notes: list[str]
) -> list[Site]:
    """The sites of one DOF section; what could not be relocated goes to ``notes``."""
    relocatable = elf.e_type == ElfType.REL
    # dtrace -G leaves each probe record's dofpr_addr to the link editor: an
    # absolute relocation against the probe's function, as for stapsdt notes.
    # Without a relocation section for the DOF, the addresses stay unknown.
    relocated = relocatable and any(
        r.type in RELOCATION_SECTIONS and r.info == section.index for r in elf.sections
    )
    if relocated:
        blob, problems = relocated_section_data(elf, section)
        notes.extend(problems)
    else:
        blob = elf.section_data(section)
    decoded = dof.decode(blob, elf.path, section.offset, None if relocatable else section.addr)
    abi = _ABI.get(elf.machine, elf.machine)
    mask = (1 << elf.bits) - 1
    sites = []
    for provider in decoded.providers:
        for probe in provider.probes:
            kinds = [(dof.KIND_PROBE, o) for o in probe.offsets]
            kinds += [(dof.KIND_IS_ENABLED, o) for o in probe.enabled_offsets]
            for kind, offset in kinds:
                warnings: list[str] = []
                address: int | None = None
                file_offset: int | None = None
                function: str | None = None
                if relocatable:
                    if relocated:  # section-relative, as readelf shows an object's
                        address = (probe.addr + offset) & mask
                    function = f"{probe.function}+{offset:#x}"
                else:
                    address = (probe.addr + offset) & mask
                    segment = elf.load_segment_for(address)
                    if segment is None or address - segment.vaddr >= segment.filesz:
                        warnings.append(f"site {address:#x} has no bytes in this file")
                    else:
                        file_offset = address - segment.vaddr + segment.offset
                        if not segment.flags & PF_X:
                            warnings.append(f"site {address:#x} is outside an executable segment")
                    found = None if functions is None else functions.lookup(address)
                    if found is not None:
                        function = f"{found[0]}+{found[1]:#x}"
                        if found[0] != probe.function:
                            warnings.append(
                                f"DOF names function {probe.function}, the symbol table {found[0]}"
                            )
                sites.append(
                    dof.make_site(
                        provider,
                        probe,
                        kind=kind,
                        stored=offset,
                        address=address,
                        traced_pc=address,
                        file_offset=file_offset,
                        function=function,
                        section=section.name,
                        arch=abi,
                        record_file_offset=section.offset + probe.record_offset,
                        warnings=tuple(warnings),
                    )
                )
    return sites


def scan_sunw_dof(elf: ElfFile, scanned: ScannedFile) -> None:
    """Add the DOF sites of ``elf`` to ``scanned``; damage sets ``scanned.error``."""
    try:
        sections = dof_sections(elf)
        if not sections:
            return
        functions = None if elf.e_type == ElfType.REL else function_index(elf)
        for section in sections:
            scanned.sites.extend(_sites(elf, section, functions, scanned.warnings))
        if elf.e_type == ElfType.REL:
            scanned.warnings.append(
                "relocatable object: DOF addresses are section-relative, no file offsets"
            )
    except MalformedFileError as exc:
        if scanned.error is None:
            scanned.error = exc.reason
