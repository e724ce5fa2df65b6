"""The RISC-V grammar (usdtscan/args/riscv.py) on operands of real notes."""

from __future__ import annotations

import pytest

from usdtscan.args import Constant, Memory, Symbol, Unparsed, parse_operand

from .arch_cases import probe_locations, reg, unparsed, uprobe_fetches, verdict
from .conftest import FIXTURE_BIN, corpus_file

RISCV64 = [
    ("42", Constant(42)),
    ("a0", reg("a0", "a0", 64)),
    ("x10", reg("x10", "a0", 64)),
    ("s0", reg("s0", "s0", 64)),
    ("fp", reg("fp", "s0", 64)),
    ("sp", reg("sp", "sp", 64)),
    ("-28(s0)", Memory(reg("s0", "s0", 64), -28)),
    ("fa0", reg("fa0", "fa0", 64, 0, "fpr")),
    ("f10", reg("f10", "fa0", 64, 0, "fpr")),
    ("ft11", reg("ft11", "ft11", 64, 0, "fpr")),
    ("%lo(g)(a5)", Memory(reg("a5", "a5", 64), 0, symbol=Symbol("g", 0, False, None, "lo"))),
]


@pytest.mark.parametrize(("operand", "expected"), RISCV64)
def test_operands(operand: str, expected: object) -> None:
    assert parse_operand(operand, "riscv64", 64) == expected


@pytest.mark.parametrize(
    ("operand", "reason_part"),
    [("t7", "unknown RISC-V register t7"), ("4(x32)", "unknown RISC-V register x32")],
)
def test_rejections_say_why(operand: str, reason_part: str) -> None:
    location = parse_operand(operand, "riscv64", 64)
    assert isinstance(location, Unparsed)
    assert reason_part in location.reason


def test_fixture_notes() -> None:
    twelve = probe_locations(FIXTURE_BIN / "riscv64" / "probes-O2", "twelve")
    assert twelve[8] == ("4f@t1", reg("t1", "t1", 64))
    assert twelve[11] == ("8@8(sp)", Memory(reg("sp", "sp", 64), 8))
    for name in ("probes-O0", "probes-O2"):
        assert unparsed(FIXTURE_BIN / "riscv64" / name) == ("riscv64", [])


@pytest.mark.corpus
def test_corpus_notes_decode() -> None:
    path = corpus_file("riscv64/libpython3.13/usr/lib/riscv64-linux-gnu/libpython3.13.so.1.0")
    assert unparsed(path) == ("riscv64", [])


def test_consumer_verdicts() -> None:
    plain = verdict("-4@-28(s0)", "riscv64", 64)
    assert (plain["libbpf"].ok, plain["libbpf"].why) == (True, None)
    assert plain["gdb"].why == "GDB has no SystemTap argument support for riscv64"
    assert verdict("8@x10", "riscv64", 64)["libbpf"].why == "register x10 is not in libbpf's table"


def test_uprobe_names() -> None:
    assert uprobe_fetches("-4@-28(s0) 8@a0", "riscv64", 64) == (
        "arg1=-28(%s0):s32 arg2=%a0:u64",
        (),
    )
