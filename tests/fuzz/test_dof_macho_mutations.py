"""Mutated DOF blobs and Mach-O files: a clean error or a result, never another exception.

DOF seeds are the blobs cut from the real node binaries (fixtures/macho),
alone and inside an ELF ``.SUNW_dof`` section; Mach-O seeds are thin and
fat files written by tests/dofwriter.py.  Mutations aim at the headers,
section tables and counts, where a reader must not trust the file.  The
example count is bounded for the normal suite (``USDTSCAN_FUZZ_EXAMPLES``
raises it).
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from usdtscan import UsdtscanError
from usdtscan.dof import decode
from usdtscan.scan import scan

from .seeds import DOF_SEEDS, macho_seeds, scan_written, sunw_dof_seed

EXAMPLES = int(os.environ.get("USDTSCAN_FUZZ_EXAMPLES", "200"))
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=2000,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
DOF_BLOBS = [path.read_bytes() for path in DOF_SEEDS]
SUNW = sunw_dof_seed()
MACHO = macho_seeds()
HUGE = [0, 1, 2**31, 2**32 - 1, 2**63, 2**64 - 1]


def _dof_hot_spots(blob: bytes) -> list[int]:
    """The header and the section table: every count and offset the decoder reads."""
    order = "<" if blob[5] == 1 else ">"
    secsize, secnum = struct.unpack_from(order + "II", blob, 24)
    secoff = struct.unpack_from(order + "Q", blob, 32)[0]
    return list(range(0, min(len(blob), secoff + secsize * secnum)))


def _mutate(draw: st.DrawFn, data: bytes, spots: list[int]) -> bytes:
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["flip", "u32", "u64", "truncate", "anywhere"]))
        at = draw(st.sampled_from(spots))
        if kind == "flip":
            out[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "u32" and at + 4 <= len(out):
            value = draw(st.sampled_from(HUGE)) & 0xFFFFFFFF
            struct.pack_into(draw(st.sampled_from(["<I", ">I"])), out, at, value)
        elif kind == "u64" and at + 8 <= len(out):
            struct.pack_into("<Q", out, at, draw(st.sampled_from(HUGE)))
        elif kind == "anywhere":
            spot = draw(st.integers(0, len(out) - 1))
            out[spot] = draw(st.integers(0, 255))
        elif kind == "truncate":
            del out[at:]
            break
    return bytes(out)


@st.composite
def mutated_dof(draw: st.DrawFn) -> bytes:
    blob = draw(st.sampled_from(DOF_BLOBS))
    return _mutate(draw, blob, _dof_hot_spots(blob))


@st.composite
def mutated_sunw(draw: st.DrawFn) -> bytes:
    at = SUNW.find(b"\x7fDOF")
    blob = SUNW[at:]
    return _mutate(draw, SUNW, [at + spot for spot in _dof_hot_spots(blob)])


@st.composite
def mutated_macho(draw: st.DrawFn) -> bytes:
    image = draw(st.sampled_from(MACHO))
    dof = image.find(b"\x7fDOF")
    spots = list(range(0, min(len(image), 0x300)))  # fat header, mach header, load commands
    if dof > 0:
        spots += [dof + spot for spot in _dof_hot_spots(image[dof:])]
    return _mutate(draw, image, spots)


def _scan_file(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    scan_written(tmp_path_factory.mktemp("m"), data)


@SETTINGS
@given(data=mutated_dof())
def test_mutated_dof_blob(data: bytes) -> None:
    try:
        blob = decode(data, "blob")
    except UsdtscanError as exc:
        assert str(exc).startswith("blob: ")
        return
    assert all(probe.name is not None for provider in blob.providers for probe in provider.probes)


@SETTINGS
@given(data=mutated_sunw())
def test_mutated_sunw_dof_elf(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    _scan_file(tmp_path_factory, data)


@SETTINGS
@given(data=mutated_macho())
def test_mutated_macho(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    _scan_file(tmp_path_factory, data)


def test_seeds_are_valid(tmp_path: Path) -> None:
    """The mutations start from files that decode completely."""
    assert [len(decode(blob, "seed").providers) > 0 for blob in DOF_BLOBS] == [True, True]
    for i, image in enumerate([SUNW, *MACHO]):
        path = tmp_path / f"seed{i}"
        path.write_bytes(image)
        scanned = scan(path, debug_dirs=None)
        assert scanned.error is None and len(scanned.sites) >= 2, i
