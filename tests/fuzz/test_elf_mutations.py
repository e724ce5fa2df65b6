"""Mutated real ELF fixtures: scan() may report errors, but never raise anything else.

Hypothesis mutates the headers and note sections of the committed fixture
binaries (truncation, bit flips, overwritten header fields and note sizes)
with a bounded number of examples, so this runs in the normal suite
(``USDTSCAN_FUZZ_EXAMPLES=5000`` for a longer run).
"""

from __future__ import annotations

import os
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from usdtscan.elf import ElfFile

from ..conftest import FIXTURE_BIN
from .seeds import scan_written

SEEDS = [
    FIXTURE_BIN / target / name
    for target, name in [
        ("x86_64", "probes-O2"),
        ("i386", "probes-O2"),
        ("ppc64", "probes-O2"),
        ("x86_64", "probes-O0.o"),
        ("x86_64", "probes-O2.debug"),
        ("mips", "probes-O0"),
    ]
]
DATA = {path: path.read_bytes() for path in SEEDS}


def interesting_offsets(data: bytes) -> list[int]:
    """Header fields, section headers and the note section: where damage matters."""
    elf = ElfFile("seed", data)
    offsets = list(range(0, 64))
    for section in elf.sections:
        if section.type == 7 or section.name in (".stapsdt.base", ".symtab", ".shstrtab"):
            offsets.extend(range(section.offset, section.offset + min(section.size, 512)))
    step = elf.e_shentsize or 40
    offsets.extend(range(elf.e_shoff, min(len(data), elf.e_shoff + step * len(elf.sections))))
    return [o for o in offsets if o < len(data)]


OFFSETS = {path: interesting_offsets(data) for path, data in DATA.items()}


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    path = draw(st.sampled_from(SEEDS))
    data = bytearray(DATA[path])
    offsets = OFFSETS[path]
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["flip", "word", "big", "truncate"]))
        at = draw(st.sampled_from(offsets))
        if kind == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "word" and at + 4 <= len(data):
            struct.pack_into("<I", data, at, draw(st.integers(0, 0xFFFFFFFF)))
        elif kind == "big" and at + 8 <= len(data):
            struct.pack_into(
                "<Q", data, at, draw(st.sampled_from([0, 2**31, 2**32 - 1, 2**63, 2**64 - 1]))
            )
        elif kind == "truncate":
            del data[at:]
            break
    return bytes(data)


@settings(
    max_examples=int(os.environ.get("USDTSCAN_FUZZ_EXAMPLES", "300")),
    deadline=2000,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=mutated())
def test_mutated_elf_never_raises_foreign_exceptions(
    tmp_path_factory: pytest.TempPathFactory, data: bytes
) -> None:
    scan_written(tmp_path_factory.mktemp("m"), data)
