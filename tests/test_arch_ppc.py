"""The PowerPC grammar (usdtscan/args/ppc.py) on operands of real notes."""

from __future__ import annotations

import pytest

from usdtscan.args import Constant, Memory, Unparsed, parse_operand

from .arch_cases import probe_locations, reg, unparsed, uprobe_fetches, verdict
from .conftest import FIXTURE_BIN, corpus_file

PPC64 = [
    ("i42", Constant(42)),
    ("i-7", Constant(-7)),
    ("9", reg("9", "r9", 64)),
    ("31", reg("31", "r31", 64)),
    ("%r3", reg("r3", "r3", 64)),
    ("0(10)", Memory(reg("10", "r10", 64), 0)),
    ("-8(%r31)", Memory(reg("r31", "r31", 64), -8)),
    ("9,8", Memory(reg("9", "r9", 64), 0, reg("8", "r8", 64))),
]


@pytest.mark.parametrize(("operand", "expected"), PPC64)
def test_operands(operand: str, expected: object) -> None:
    assert parse_operand(operand, "ppc64", 64) == expected


def test_ppc_reads_32_bit_registers() -> None:
    assert parse_operand("0(10)", "ppc", 32) == Memory(reg("10", "r10", 32), 0)


@pytest.mark.parametrize(
    ("operand", "reason_part"),
    [
        ("-9", "neither a register nor an i-constant"),
        ("%9", "is not a register name (use %r9 or 9)"),
        ("32", "unknown PowerPC register 32"),
    ],
)
def test_rejections_say_why(operand: str, reason_part: str) -> None:
    location = parse_operand(operand, "ppc64", 64)
    assert isinstance(location, Unparsed)
    assert reason_part in location.reason


def test_fixture_notes() -> None:
    for target in ("ppc64", "ppc64le"):
        twelve = probe_locations(FIXTURE_BIN / target / "probes-O2", "twelve")
        assert twelve[:2] == [("-1@3", reg("3", "r3", 64)), ("1@4", reg("4", "r4", 64))]
        for name in ("probes-O0", "probes-O2"):
            assert unparsed(FIXTURE_BIN / target / name) == ("ppc64", [])
    globals_ = probe_locations(FIXTURE_BIN / "ppc64" / "probes-O2", "globals")
    assert globals_[0] == ("-1@0(10)", Memory(reg("10", "r10", 64), 0))


@pytest.mark.corpus
def test_corpus_notes_decode() -> None:
    path = corpus_file("ppc64el/libpython3.11/usr/lib/powerpc64le-linux-gnu/libpython3.11.so.1.0")
    assert unparsed(path) == ("ppc64", [])


def test_consumer_verdicts() -> None:
    indexed = verdict("8@9,8", "ppc64", 64)
    assert indexed["libbpf"].why == "libbpf has no USDT argument support for ppc64"
    assert indexed["bcc"].ok and not indexed["gdb"].ok
    assert verdict("8@%f1", "ppc64", 64)["bcc"].why == "register f1 is not understood by bcc"


def test_uprobe_names() -> None:
    assert uprobe_fetches("8@0(10) -4@9", "ppc64", 64) == ("arg1=+0(%r10):u64 arg2=%r9:s32", ())
