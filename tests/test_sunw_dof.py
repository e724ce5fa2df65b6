"""ELF .SUNW_dof: DOF sites placed by their records' relocated addresses.

The files are written by tests/dofwriter.py (an ELF executable or object
with a .SUNW_dof section and function symbols) around DOF blobs of its DOF
writer, whose decoding tests/test_dof.py checks.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import usdtscan
from usdtscan import dof
from usdtscan.elf import ElfFile
from usdtscan.errors import MalformedFileError
from usdtscan.sunw_dof import dof_sections

from .dofwriter import (
    EM_386,
    EM_AARCH64,
    EM_SPARCV9,
    RELO_DOFREL,
    ElfFunction,
    Probe,
    Provider,
    write_dof,
    write_elf,
)


def _elf_probes(work: int, main: int) -> list[Probe]:
    return [
        Probe("main", "start", ["int", "char *"], offsets=[0x10, 0x18], enabled=[0x4], addr=main),
        Probe("work", "done", ["long"], translated=["int"], argmap=[0], offsets=[0x8], addr=work),
    ]


def _functions() -> list[ElfFunction]:
    return [ElfFunction("main", 0x401000, 0x40), ElfFunction("work", 0x401100, 0x20)]


def test_elf_sunw_dof_sites(tmp_path: Path) -> None:
    blob = write_dof([Provider("app", _elf_probes(0x401100, 0x401000))])
    image, dof_address = write_elf(blob, _functions())
    path = tmp_path / "app"
    path.write_bytes(image)
    scanned = usdtscan.scan(path)
    assert scanned.error is None
    got = [(s.kind, s.probe_id, s.address, s.file_offset, s.function) for s in scanned.sites]
    assert got == [
        ("dof-probe", "app:start", 0x401010, 0x1010, "main+0x10"),
        ("dof-probe", "app:start", 0x401018, 0x1018, "main+0x18"),
        ("dof-is-enabled", "app:start", 0x401004, 0x1004, "main+0x4"),
        ("dof-probe", "app:done", 0x401108, 0x1108, "work+0x8"),
    ]
    site = scanned.sites[3]
    assert site.traced_pc == 0x401108
    assert site.section == ".SUNW_dof"
    assert site.dof is not None
    assert site.dof.translated_types == ("int",) and site.dof.native_types == ("long",)
    assert [a.operand for a in scanned.sites[0].args] == ["%rdi", "%rsi"]
    assert site.note_offset is not None and dof_address > 0x401000


@pytest.mark.parametrize(
    ("machine", "bits", "endian", "operands"),
    [
        (EM_SPARCV9, 64, "big", ["%o0", "%o1"]),
        (EM_386, 32, "little", ["0(%esp)", "4(%esp)"]),
        (EM_AARCH64, 64, "little", ["x0", "x1"]),
    ],
)
def test_elf_sunw_dof_other_machines(
    tmp_path: Path, machine: int, bits: int, endian: str, operands: list[str]
) -> None:
    model, encoding = (2 if bits == 64 else 1), (1 if endian == "little" else 2)
    blob = write_dof(
        [Provider("app", _elf_probes(0x401100, 0x401000))], model=model, encoding=encoding
    )
    image, _ = write_elf(blob, _functions(), machine=machine, bits=bits, endian=endian)
    path = tmp_path / "app"
    path.write_bytes(image)
    scanned = usdtscan.scan(path)
    assert scanned.error is None and scanned.bits == bits and scanned.endian == endian
    assert [s.address for s in scanned.sites] == [0x401010, 0x401018, 0x401004, 0x401108]
    assert [a.operand for a in scanned.sites[0].args] == operands


def test_elf_sunw_dof_relocations(tmp_path: Path) -> None:
    """A DOFREL relocation makes addr relative to where the record itself lies."""
    provisional = write_dof(
        [Provider("app", [Probe("work", "go", offsets=[4], addr=0, relocation=("w", RELO_DOFREL))])]
    )
    _, dof_address = write_elf(provisional, _functions())
    record = dof.decode(provisional, "p").providers[0].probes[0].record_offset
    addr = (0x401100 - dof_address - record) & (2**64 - 1)
    blob = write_dof(
        [
            Provider(
                "app", [Probe("work", "go", offsets=[4], addr=addr, relocation=("w", RELO_DOFREL))]
            )
        ]
    )
    image, again = write_elf(blob, _functions())
    assert again == dof_address
    path = tmp_path / "app"
    path.write_bytes(image)
    (site,) = usdtscan.scan(path).sites
    assert (site.address, site.function) == (0x401104, "work+0x4")


def test_sframe_section_of_the_same_type_is_not_dof(tmp_path: Path) -> None:
    blob = write_dof([Provider("app", _elf_probes(0x401100, 0x401000))])
    image, _ = write_elf(blob, _functions(), section_name=".sframe")
    path = tmp_path / "app"
    path.write_bytes(image)
    scanned = usdtscan.scan(path)
    assert scanned.sites == [] and scanned.error is None


def test_elf_relocatable_object_has_no_addresses(tmp_path: Path) -> None:
    blob = write_dof([Provider("app", _elf_probes(0, 0))])
    image, _ = write_elf(blob, _functions(), e_type=1)
    path = tmp_path / "app.o"
    path.write_bytes(image)
    scanned = usdtscan.scan(path)
    assert [(s.address, s.function) for s in scanned.sites][:2] == [
        (None, "main+0x10"),
        (None, "main+0x18"),
    ]
    assert any("relocatable" in w for w in scanned.warnings)


def test_elf_damaged_dof_is_reported_with_the_stapsdt_sites_kept(tmp_path: Path) -> None:
    blob = bytearray(write_dof([Provider("app", _elf_probes(0x401100, 0x401000))]))
    blob[6] = 7
    image, _ = write_elf(bytes(blob), _functions())
    path = tmp_path / "app"
    path.write_bytes(image)
    scanned = usdtscan.scan(path)
    assert scanned.error is not None and "unknown version 7" in scanned.error
    with pytest.raises(MalformedFileError):
        usdtscan.probes(path)


def test_record_offsets_point_at_each_probe_record(tmp_path: Path) -> None:
    """A site's ``note_offset`` is its probe record's file offset: the section's
    offset plus the record's offset in the blob, as for Mach-O."""
    blob = write_dof([Provider("app", _elf_probes(0x401100, 0x401000))])
    image, _ = write_elf(blob, _functions())
    path = tmp_path / "app"
    path.write_bytes(image)
    (section,) = dof_sections(ElfFile(str(path), image))
    records = [p.record_offset for p in dof.decode(blob, "app").providers[0].probes]
    offsets = [s.note_offset for s in usdtscan.scan(path).sites]
    assert offsets == [section.offset + records[0]] * 3 + [section.offset + records[1]]
    assert image[section.offset : section.offset + len(blob)] == blob


def test_a_symbol_other_than_the_records_function_is_a_warning(tmp_path: Path) -> None:
    probes = [Probe("helper", "start", offsets=[0x10], addr=0x401000)]
    image, _ = write_elf(write_dof([Provider("app", probes)]), _functions())
    path = tmp_path / "app"
    path.write_bytes(image)
    (site,) = usdtscan.scan(path).sites
    assert site.function == "main+0x10"
    assert site.dof is not None and site.dof.dof_function == "helper"
    assert site.warnings == ("DOF names function helper, the symbol table main",)
