"""DTrace probes in ELF: the ``.SUNW_dof`` section of Solaris, illumos, FreeBSD and Oracle Linux.

``dtrace -G`` puts the provider's DOF into ``.SUNW_dof`` and has the link
editor relocate each probe record's ``addr`` to its function's address; a
site is then that address plus the record's unsigned 32-bit offset
(illumos ``dtrace_helper_provide_one`` and fasttrap).  The section type,
0x6ffffff4, is also ``SHT_GNU_SFRAME`` in GNU toolchains, so the name must
match too.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import dof
from .elf import PF_X, ElfFile, ElfType, Section
from .errors import MalformedFileError
from .model import ReaderResult
from .reloc import RELOCATION_SECTIONS, relocated_section_data
from .symbols import FunctionIndex, function_index

SHT_SUNW_DOF = 0x6FFFFFF4
SECTION_NAME = ".SUNW_dof"


def dof_sections(elf: ElfFile) -> list[Section]:
    return [s for s in elf.sections if s.type == SHT_SUNW_DOF and s.name == SECTION_NAME]


def _relocated(elf: ElfFile, section: Section) -> bool:
    """Whether an object file has relocations for its DOF section.

    dtrace -G leaves each probe record's dofpr_addr to the link editor: an
    absolute relocation against the probe's function, as for stapsdt notes.
    Without a relocation section for the DOF, the addresses stay unknown.
    """
    return elf.e_type == ElfType.REL and any(
        r.type in RELOCATION_SECTIONS and r.info == section.index for r in elf.sections
    )


@dataclass(frozen=True, slots=True)
class _ElfDof:
    """One ``.SUNW_dof`` section as a :class:`~usdtscan.dof.DofContainer`: a site
    is its record's relocated ``addr`` plus the unsigned offset; an object
    file's sites are section-relative (when the DOF has relocations) and
    named after the record's function."""

    section: str
    arch: str
    blob_file_offset: int
    elf: ElfFile
    functions: FunctionIndex | None
    relocated: bool

    def stored_offset(self, raw: int) -> int:
        return raw

    def place(self, probe: dof.DofProbe, enabled: bool, stored: int) -> dof.Placement:
        elf = self.elf
        address = (probe.addr + stored) & ((1 << elf.bits) - 1)
        if elf.e_type == ElfType.REL:
            # Section-relative, as readelf shows an object's; unknown unrelocated.
            known = address if self.relocated else None
            return dof.Placement(known, known, None, f"{probe.function}+{stored:#x}", [])
        placed = dof.Placement(address, address, None, None, [])
        segment = elf.load_segment_for(address)
        if segment is None or address - segment.vaddr >= segment.filesz:
            placed.warnings.append(f"site {address:#x} has no bytes in this file")
        else:
            placed.file_offset = address - segment.vaddr + segment.offset
            if not segment.flags & PF_X:
                placed.warnings.append(f"site {address:#x} is outside an executable segment")
        placed.function = dof.function_at(self.functions, address, probe, placed.warnings)
        return placed


def scan_sunw_dof(elf: ElfFile) -> ReaderResult:
    """The DOF sites of ``elf``'s ``.SUNW_dof`` sections; damage is the result's ``error``."""
    result = ReaderResult()
    try:
        sections = dof_sections(elf)
        if not sections:
            return result
        relocatable = elf.e_type == ElfType.REL
        functions = None if relocatable else function_index(elf)
        for section in sections:
            relocated = _relocated(elf, section)
            if relocated:
                blob, problems = relocated_section_data(elf, section)
                result.warnings += problems
            else:
                blob = elf.section_data(section)
            address = None if relocatable else section.addr
            decoded = dof.decode(blob, elf.path, section.offset, address)
            # The registry names the ABI by the ELF machine name: its calling convention.
            container = _ElfDof(
                section.name, elf.machine, section.offset, elf, functions, relocated
            )
            result.sites.extend(dof.build_sites(decoded, container))
        if relocatable:
            result.warnings.append(
                "relocatable object: DOF addresses are section-relative, no file offsets"
            )
    except MalformedFileError as exc:
        result.error = exc.reason
    return result
