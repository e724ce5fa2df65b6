"""The DOF decoder: real blobs cut from node, every writer variant, damage, and ELF .SUNW_dof."""

from __future__ import annotations

import contextlib
import json
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from usdtscan import dof
from usdtscan.errors import MalformedFileError
from usdtscan.macho import site_addresses

from .conftest import FIXTURES
from .dofwriter import (
    RELO_DOFREL,
    RELO_SETX,
    Probe,
    Provider,
    attr,
    write_dof,
)

MACHO = FIXTURES / "macho"
EXPECTED = json.loads((MACHO / "expected.json").read_text())


# -- the real blobs ------------------------------------------------------------


@pytest.mark.parametrize("binary", sorted(EXPECTED))
def test_real_blob_decodes_to_the_recorded_sites(binary: str) -> None:
    entry = EXPECTED[binary]
    section = entry["dof_section"]
    blob = (MACHO / f"{binary}.dof").read_bytes()
    assert len(blob) == section["size"]
    decoded = dof.decode(blob, binary, section["offset"], section["address"])
    assert (decoded.version, decoded.model, decoded.encoding) == (3, 2, 1)
    assert not decoded.is_program
    (provider,) = decoded.providers
    assert provider.name == "node"
    assert [(a.name, a.data, a.dependency_class) for a in provider.attributes] == [
        ("Evolving", "Evolving", "ISA"),
        ("Private", "Private", "Unknown"),
        ("Private", "Private", "Unknown"),
        ("Private", "Private", "ISA"),
        ("Evolving", "Evolving", "ISA"),
    ]
    assert len(provider.probes) == 8
    assert sum(len(p.offsets) for p in provider.probes) == 8
    assert sum(len(p.enabled_offsets) for p in provider.probes) == 6
    # Apple writes addr 0 and names each function in a SETX relocation.
    assert all(p.addr == 0 and p.relocation == p.function for p in provider.probes)
    got = []
    for probe in provider.probes:
        for enabled, raw in [(False, o) for o in probe.offsets] + [
            (True, o) for o in probe.enabled_offsets
        ]:
            stored = struct.unpack("<i", struct.pack("<I", raw))[0]
            address, traced = site_addresses(entry["cputype"], section["address"], stored, enabled)
            got.append((probe.name, probe.function, stored, address, traced, probe.native_types))
    want = [
        (
            s["name"],
            s["function"],
            s["stored"],
            s["address"],
            s["traced_pc"],
            tuple(s["native_types"]),
        )
        for s in entry["sites"]
    ]
    assert got == want


def test_real_blob_sites_hold_the_patch_bytes() -> None:
    for entry in EXPECTED.values():
        for site in entry["sites"]:
            x86 = entry["cputype"] == 0x01000007
            enabled = site["kind"] == "dof-is-enabled"
            pattern = {
                (True, False): "900f1f4000",
                (True, True): "33c0909090",
                (False, False): "1f2003d5",
                (False, True): "000080d2",
            }[(x86, enabled)]
            assert site["bytes"] == pattern
            assert site["symbol"] == "_" + site["function"]


def test_every_truncation_of_a_real_blob_is_a_clean_error() -> None:
    blob = (MACHO / "node-8.3.0-darwin-x64.dof").read_bytes()
    for size in range(len(blob)):
        with pytest.raises(MalformedFileError):
            dof.decode(blob[:size], "cut.dof")


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_corrupted_real_blob_decodes_or_fails_cleanly(data: st.DataObject) -> None:
    blob = bytearray((MACHO / "node-18.9.0-darwin-arm64.dof").read_bytes())
    for _ in range(data.draw(st.integers(1, 8))):
        at = data.draw(st.integers(0, len(blob) - 1))
        blob[at] = data.draw(st.integers(0, 255))
    with contextlib.suppress(MalformedFileError):
        dof.decode(bytes(blob), "bad.dof", 0, 0x1000)


# -- writer variants -----------------------------------------------------------


def _provider() -> Provider:
    return Provider(
        "myprov",
        [
            Probe("main", "start", ["int", "char *"], offsets=[0x10, 0x40], enabled=[0x8]),
            Probe("work", "done", [], offsets=[0x4]),
            Probe("work", "start", ["long"], offsets=[0x24], enabled=[0x30, 0x50]),
        ],
    )


def _summary(blob: dof.DofBlob) -> list[tuple[object, ...]]:
    return [
        (
            p.provider,
            p.function,
            p.name,
            p.native_types,
            p.translated_types,
            p.argmap,
            p.offsets,
            p.enabled_offsets,
        )
        for provider in blob.providers
        for p in provider.probes
    ]


@pytest.mark.parametrize("version", [1, 2, 3])
@pytest.mark.parametrize("model", [1, 2])
@pytest.mark.parametrize("encoding", [1, 2])
def test_versions_models_and_byte_orders(version: int, model: int, encoding: int) -> None:
    blob = write_dof([_provider()], version=version, model=model, encoding=encoding)
    decoded = dof.decode(blob, "w.dof")
    assert (decoded.version, decoded.model, decoded.encoding) == (version, model, encoding)
    assert decoded.bits == (64 if model == 2 else 32)
    assert decoded.endian == ("little" if encoding == 1 else "big")
    enabled = version != 1  # v1 has no is-enabled probes
    assert _summary(decoded) == [
        (
            "myprov",
            "main",
            "start",
            ("int", "char *"),
            ("int", "char *"),
            (0, 1),
            (0x10, 0x40),
            (0x8,) if enabled else (),
        ),
        ("myprov", "work", "done", (), (), (), (0x4,), ()),
        (
            "myprov",
            "work",
            "start",
            ("long",),
            ("long",),
            (0,),
            (0x24,),
            (0x30, 0x50) if enabled else (),
        ),
    ]


def test_translated_arguments_and_argmap() -> None:
    probe = Probe(
        "serve",
        "request",
        ["struct conn *", "char *", "int"],
        translated=["conninfo_t *", "string", "string"],
        argmap=[0, 1, 1],
        offsets=[0x20],
    )
    decoded = dof.decode(write_dof([Provider("http", [probe])]), "t.dof")
    record = decoded.providers[0].probes[0]
    assert record.native_types == ("struct conn *", "char *", "int")
    assert record.translated_types == ("conninfo_t *", "string", "string")
    assert record.argmap == (0, 1, 1)


@pytest.mark.parametrize("none", [0, 0xFFFFFFFF])
def test_prenoffs_none_values(none: int) -> None:
    provider = Provider("p", [Probe("f", "n", offsets=[1, 2])], no_enabled=none)
    decoded = dof.decode(write_dof([provider]), "n.dof")
    assert decoded.providers[0].probes[0].enabled_offsets == ()
    assert decoded.providers[0].probes[0].offsets == (1, 2)


def test_prenoffs_pointing_at_a_wrong_section_is_an_error() -> None:
    provider = Provider("p", [Probe("f", "n", offsets=[1])], no_enabled=1)  # section 1: PROBES
    with pytest.raises(MalformedFileError, match="has type 16, expected 26"):
        dof.decode(write_dof([provider]), "n.dof")


def test_enablings_are_skipped() -> None:
    decoded = dof.decode(write_dof([_provider()], program=True), "d.dof")
    assert decoded.is_program
    assert decoded.providers == ()


def test_larger_records_and_section_headers_are_stepped_by_their_sizes() -> None:
    blob = write_dof([_provider()], secsize=48, hdrsize=80, probe_entsize=64)
    assert _summary(dof.decode(blob, "big.dof")) == _summary(
        dof.decode(write_dof([_provider()]), "small.dof")
    )


def test_several_providers_and_stability() -> None:
    attrs = (attr(6, 6, 5), attr(0, 0, 0), attr(2, 3, 1), attr(4, 7, 2), attr(9, 5, 9))
    second = Provider("other", [Probe("g", "tick", offsets=[0])], attrs=attrs)
    decoded = dof.decode(write_dof([_provider(), second]), "two.dof")
    assert [p.name for p in decoded.providers] == ["myprov", "other"]
    got = [(a.name, a.data, a.dependency_class) for a in decoded.providers[1].attributes]
    assert got == [
        ("Stable", "Stable", "Common"),
        ("Internal", "Internal", "Unknown"),
        ("Obsolete", "External", "CPU"),
        ("Unstable", "Standard", "Platform"),
        ("unknown(9)", "Evolving", "unknown(9)"),
    ]


def test_relocations() -> None:
    probes = [
        Probe("f", "setx", offsets=[4], addr=0x1000, relocation=("f", RELO_SETX)),
        Probe("g", "dofrel", offsets=[8], addr=0x20, relocation=("g", RELO_DOFREL)),
        Probe("h", "plain", offsets=[12], addr=0x3000),
    ]
    blob = write_dof([Provider("r", probes)])
    plain = dof.decode(blob, "r.dof")
    placed = dof.decode(blob, "r.dof", 0, 0x500000)
    records = {p.name: p for p in placed.providers[0].probes}
    assert records["setx"].addr == 0x1000 and records["setx"].relocation == "f"
    target = records["dofrel"].record_offset  # the addr field opens the record
    assert records["dofrel"].addr == 0x20 + 0x500000 + target
    assert records["dofrel"].raw_addr == 0x20
    assert records["plain"].addr == 0x3000 and records["plain"].relocation is None
    # Without the blob's address a DOFREL cannot be applied: the stored value stays.
    assert {p.name: p.addr for p in plain.providers[0].probes}["dofrel"] == 0x20
    assert [(r.name, r.type) for r in placed.relocations] == [("f", 1), ("g", 2)]


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ((0, b"\x7fELF"), "bad magic"),
        ((4, b"\x03"), "unknown data model 3"),
        ((5, b"\x00"), "unknown encoding 0"),
        ((6, b"\x04"), "unknown version 4"),
        ((24, struct.pack("<I", 16)), "section header size 16 is below 32"),
        ((28, struct.pack("<I", 1000)), "section headers of 32 bytes run past the DOF"),
    ],
)
def test_header_damage(patch: tuple[int, bytes], message: str) -> None:
    blob = bytearray(write_dof([_provider()]))
    at, value = patch
    blob[at : at + len(value)] = value
    with pytest.raises(MalformedFileError, match=message):
        dof.decode(bytes(blob), "h.dof", 0x4000)


def test_errors_name_the_file_offset() -> None:
    blob = bytearray(write_dof([_provider()]))
    blob[6] = 9
    with pytest.raises(MalformedFileError) as caught:
        dof.decode(bytes(blob), "h.dof", 0x4000)
    assert caught.value.offset == 0x4006


# -- hypothesis round trip -------------------------------------------------------

_names = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=12)
_types = st.lists(_names, max_size=4)
_offsets = st.lists(st.integers(0, 2**32 - 1), max_size=4)


@st.composite
def _probes(draw: st.DrawFn) -> Probe:
    native = draw(_types)
    translated = draw(st.one_of(st.none(), _types))
    count = len(native if translated is None else translated)
    argmap = draw(st.lists(st.integers(0, len(native)), min_size=count, max_size=count))
    return Probe(
        draw(_names),
        draw(_names),
        native,
        translated,
        argmap,
        draw(_offsets.filter(bool)),
        draw(_offsets),
        draw(st.integers(0, 2**64 - 1)),
    )


@settings(max_examples=150, deadline=None)
@given(
    providers=st.lists(
        st.builds(
            Provider,
            _names,
            st.lists(_probes(), min_size=1, max_size=4),
            st.tuples(*[st.integers(0, 2**32 - 1)] * 5),
            st.sampled_from([0, 0xFFFFFFFF]),
        ),
        min_size=1,
        max_size=3,
    ),
    version=st.sampled_from([2, 3]),
    model=st.sampled_from([1, 2]),
    encoding=st.sampled_from([1, 2]),
)
def test_round_trip(providers: list[Provider], version: int, model: int, encoding: int) -> None:
    blob = write_dof(providers, version=version, model=model, encoding=encoding)
    decoded = dof.decode(blob, "rt.dof")
    assert [p.name for p in decoded.providers] == [p.name for p in providers]
    for written, read in zip(providers, decoded.providers, strict=True):
        assert tuple(a.raw for a in read.attributes) == written.attrs
        assert [
            (
                p.function,
                p.name,
                list(p.native_types),
                list(p.translated_types),
                list(p.argmap),
                list(p.offsets),
                list(p.enabled_offsets),
                p.addr,
            )
            for p in read.probes
        ] == [
            (p.function, p.name, p.native, p.xtypes, p.mapping, p.offsets, p.enabled, p.addr)
            for p in written.probes
        ]


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_truncated_or_corrupted_writer_output_fails_cleanly(data: st.DataObject) -> None:
    blob = bytearray(write_dof([_provider()], version=data.draw(st.sampled_from([1, 2, 3]))))
    cut = data.draw(st.integers(0, len(blob)))
    del blob[cut:]
    if blob:
        for _ in range(data.draw(st.integers(0, 6))):
            blob[data.draw(st.integers(0, len(blob) - 1))] = data.draw(st.integers(0, 255))
    with contextlib.suppress(MalformedFileError):
        dof.decode(bytes(blob), "x.dof")


# -- argument locations --------------------------------------------------------


def test_argument_locations_follow_the_calling_convention() -> None:
    x86 = [dof.argument_location("x86_64", i) for i in range(8)]
    assert x86 == ["%rdi", "%rsi", "%rdx", "%rcx", "%r8", "%r9", "0(%rsp)", "8(%rsp)"]
    # Mach-O's arm64 slices are the registry's aarch64, arm64_32 its aarch64_ilp32.
    arm = [dof.argument_location("aarch64", i) for i in range(10)]
    assert arm == [f"x{i}" for i in range(8)] + ["[sp, 0]", "[sp, 8]"]
    ilp32 = [dof.argument_location("aarch64_ilp32", i) for i in (0, 7, 8, 9)]
    assert ilp32 == ["w0", "w7", "[sp, 0]", "[sp, 4]"]
    assert [dof.argument_location("arm", i) for i in (3, 4, 5)] == ["r3", "[sp, 0]", "[sp, 4]"]
    assert [dof.argument_location("i386", i) for i in range(2)] == ["0(%esp)", "4(%esp)"]
    # SPARC: six %o registers; its stacked arguments are not modelled.
    assert [dof.argument_location("sparc64", i) for i in (5, 6)] == ["%o5", "arg6"]
    assert dof.argument_location("mips", 0) == "arg0"
    assert dof.argument_location("x32", 0) == "arg0"  # no DTrace on x32
