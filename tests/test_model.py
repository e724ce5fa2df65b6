"""The probe model: kinds and states as str enums, Site's groups, the old attribute names."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import usdtscan
from usdtscan.args.decode import Flag, decode_argument
from usdtscan.model import (
    ArchiveMember,
    BaseAdjustment,
    FileFormat,
    ScannedFile,
    Site,
    SiteKind,
    StapsdtInfo,
    StrEnum,
    group_sites,
)
from usdtscan.render.json import site_to_json
from usdtscan.scan import scan_each

from .conftest import FIXTURE_BIN
from .dofwriter import ElfFunction, Probe, Provider, write_dof, write_elf

SAMPLE = FIXTURE_BIN / "x86_64" / "probes-O2"


def _sunw_dof_file(tmp_path: Path) -> Path:
    probes = [Probe("main", "start", ["int"], offsets=[0x10], enabled=[0x4], addr=0x401000)]
    functions = [ElfFunction("main", 0x401000, 0x40)]
    image, _ = write_elf(write_dof([Provider("app", probes)]), functions)
    path = tmp_path / "app"
    path.write_bytes(image)
    return path


@pytest.mark.parametrize("kind", [SiteKind, BaseAdjustment, FileFormat, Flag])
def test_every_member_prints_and_encodes_as_its_value(kind: type[StrEnum]) -> None:
    """The JSON, the table and --json-schema's enums were written when these were
    plain strings: str(), f-strings, json and hashing must all still see the string."""
    for member in kind:
        assert isinstance(member, str)
        assert str(member) == f"{member}" == member.value
        assert json.dumps({member: member}) == json.dumps({member.value: member.value})
        assert member in {member.value} and member.value in {member}


def test_stapsdt_sites_carry_the_note_and_no_dof() -> None:
    scanned = usdtscan.scan(SAMPLE)
    assert scanned.format is FileFormat.ELF
    sites = scanned.sites
    assert len(sites) > 3
    for site in sites:
        assert site.kind is SiteKind.STAPSDT and site.dof is None
        assert isinstance(site.stapsdt, StapsdtInfo)
        assert site.stapsdt.base_adjustment is BaseAdjustment.APPLIED
        assert site.address == site.stapsdt.note.pc  # the fixture was not moved
        assert site.stapsdt.note_size > 3 * 8  # three addresses, then the strings
        assert site.code is not None and site.traced_pc is None


def test_the_json_kind_and_base_adjustment_are_the_enum_values() -> None:
    first = usdtscan.scan(SAMPLE).sites[0]
    assert first.stapsdt is not None
    rendered = json.loads(json.dumps(site_to_json(first)))
    assert rendered["kind"] == "stapsdt"
    assert rendered["base_adjustment"] == "applied"
    assert rendered["note"]["pc"] == first.stapsdt.note.pc


def test_dof_sites_carry_the_record_and_no_note(tmp_path: Path) -> None:
    sites = usdtscan.scan(_sunw_dof_file(tmp_path)).sites
    assert [s.kind for s in sites] == [SiteKind.DOF_PROBE, SiteKind.DOF_IS_ENABLED]
    for site in sites:
        assert site.stapsdt is None and site.dof is not None
        assert site.dof.dof_function == "main"
        assert site.semaphore_address is None and site.semaphore_file_offset is None


def test_old_attribute_names_read_the_groups(tmp_path: Path) -> None:
    """``note``, ``base_adjustment`` and ``note_size`` were Site fields before
    StapsdtInfo; code written against them keeps working (docs/api.rst)."""
    site = usdtscan.scan(SAMPLE).sites[0]
    assert site.stapsdt is not None
    assert site.note is site.stapsdt.note
    assert site.base_adjustment is site.stapsdt.base_adjustment
    assert site.note_size == site.stapsdt.note_size
    dof_site = usdtscan.scan(_sunw_dof_file(tmp_path)).sites[0]
    assert (dof_site.note, dof_site.base_adjustment, dof_site.note_size) == (None, None, None)


def test_flags_of_a_real_argument_are_flag_members() -> None:
    site = usdtscan.scan(SAMPLE).sites[0]
    decoded = [decode_argument(a, "x86_64", 64) for a in site.args]
    assert decoded and all(isinstance(flag, Flag) for d in decoded for flag in d.flags)
    sizeless = decode_argument(usdtscan.Argument("%rax", None, None, False, "%rax"), "x86_64", 64)
    assert sizeless.flags == (Flag.SIZELESS,)


def test_group_sites_keeps_first_appearance_order() -> None:
    sites: list[Site] = usdtscan.scan(SAMPLE).sites
    probes = group_sites(sites)
    assert [p.probe_id for p in probes] == list(dict.fromkeys(s.probe_id for s in sites))
    assert sum(len(p.sites) for p in probes) == len(sites)


ARCHIVES = FIXTURE_BIN.parent / "archives" / "x86_64"
_MEMBERS = ("libprobes-with-a-long-member-name.o", "probes.o", "sem.o")


@pytest.mark.parametrize(("name", "brackets"), [("libfx.a", "()"), ("libfx-thin.a", "[]")])
def test_static_library_names_the_archive_of_a_member(name: str, brackets: str) -> None:
    """The listing and the -r summary group members by it (it was written twice)."""
    library = str(ARCHIVES / name)
    members = scan_each(library)
    names = sorted(m.path.removeprefix(library) for m in members)
    assert names == [f"{brackets[0]}{o}{brackets[1]}" for o in _MEMBERS]
    assert {m.static_library for m in members} == {library}


def test_static_library_is_none_for_files_and_package_members() -> None:
    assert usdtscan.scan(FIXTURE_BIN / "x86_64" / "probes-O2").static_library is None
    member = ArchiveMember("p.deb", "usr/lib/libfx.a", containers=("data.tar.zst",))
    inside = ScannedFile("p.deb!usr/lib/libfx.a(probes.o)", member_of=member)
    assert inside.static_library is None
