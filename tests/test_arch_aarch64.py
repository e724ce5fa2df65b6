"""The AArch64 grammar (usdtscan/args/aarch64.py) on operands of real notes."""

from __future__ import annotations

import pytest

from usdtscan.args import Constant, Memory, Symbol, Unparsed, parse_operand

from .arch_cases import probe_locations, reg, unparsed, uprobe_fetches, verdict
from .conftest import FIXTURE_BIN, corpus_file

AARCH64 = [
    ("42", Constant(42)),
    ("-1", Constant(-1)),
    ("#42", Constant(42)),
    ("x19", reg("x19", "x19", 64)),
    ("w3", reg("w3", "x3", 32)),
    ("sp", reg("sp", "sp", 64)),
    ("d0", reg("d0", "v0", 64, 0, "fpr")),
    ("[x1]", Memory(reg("x1", "x1", 64))),
    ("[sp, 36]", Memory(reg("sp", "sp", 64), 36)),
    ("[x0, x1]", Memory(reg("x0", "x0", 64), 0, reg("x1", "x1", 64))),
    ("[x0, x1, lsl 3]", Memory(reg("x0", "x0", 64), 0, reg("x1", "x1", 64), 8, 3)),
    (
        "[x0, #:lo12:.LANCHOR0]",
        Memory(reg("x0", "x0", 64), 0, symbol=Symbol(".LANCHOR0", 0, False, None, "lo12")),
    ),
]


@pytest.mark.parametrize(("operand", "expected"), AARCH64)
def test_operands(operand: str, expected: object) -> None:
    assert parse_operand(operand, "aarch64", 64) == expected


@pytest.mark.parametrize(
    ("operand", "reason_part"),
    [
        ("[x0, w1, sxtw 2]", "index extension 'sxtw 2' is not supported (only lsl)"),
        ("[x0, x1, lsl 5]", "shift 5 is out of range for an index"),
        ("[x0]!", "malformed bracketed address"),
        ("[x0, 8, lsl 2]", "an immediate offset takes no shift"),
        ("x31", "unknown AArch64 register x31"),
    ],
)
def test_rejections_say_why(operand: str, reason_part: str) -> None:
    location = parse_operand(operand, "aarch64", 64)
    assert isinstance(location, Unparsed)
    assert reason_part in location.reason


def test_fixture_notes() -> None:
    globals_ = probe_locations(FIXTURE_BIN / "aarch64" / "probes-O2", "globals")
    assert globals_[3] == ("8@[x0, 16]", Memory(reg("x0", "x0", 64), 16))
    raw, location = globals_[5]
    assert raw == "-4@[x1, #:lo12:.LANCHOR1]"
    assert isinstance(location, Memory) and location.symbol is not None
    assert (location.symbol.name, location.symbol.relocation) == (".LANCHOR1", "lo12")
    twelve = probe_locations(FIXTURE_BIN / "aarch64" / "probes-O2", "twelve")
    assert twelve[11] == ("8@[sp, 8]", Memory(reg("sp", "sp", 64), 8))
    for name in ("probes-O0", "probes-O2"):
        assert unparsed(FIXTURE_BIN / "aarch64" / name) == ("aarch64", [])


@pytest.mark.corpus
def test_corpus_notes_decode() -> None:
    path = corpus_file("arm64/libpython3.11/usr/lib/aarch64-linux-gnu/libpython3.11.so.1.0")
    assert unparsed(path) == ("aarch64", [])


def test_consumer_verdicts() -> None:
    wide = verdict("4@w3", "aarch64", 64)
    assert (wide["libbpf"].ok, wide["libbpf"].why) == (
        False,
        "register w3 is not in libbpf's table",
    )
    assert (wide["gdb"].ok, wide["gdb"].why) == (True, None)
    hashed = verdict("8@[sp, #8]", "aarch64", 64)
    assert hashed["libbpf"].why == "'#' before the offset is not accepted"
    assert hashed["bcc"].why == "'#' before the offset is not accepted"
    assert hashed["gdb"].ok
    assert not verdict("8@[x0, x1]", "aarch64", 64)["libbpf"].ok


def test_uprobe_names() -> None:
    assert uprobe_fetches("-4@[sp, 36] 8@x19", "aarch64", 64) == (
        "arg1=+36(%sp):s32 arg2=%x19:u64",
        (),
    )
