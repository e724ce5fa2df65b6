"""The 32-bit ARM grammar (usdtscan/args/arm.py) on operands of real notes."""

from __future__ import annotations

import pytest

from usdtscan.args import Constant, Memory, Unparsed, parse_operand

from .arch_cases import probe_locations, reg, unparsed, uprobe_fetches, verdict
from .conftest import FIXTURE_BIN, corpus_file

ARM = [
    ("#42", Constant(42)),
    ("#-1", Constant(-1)),
    ("#3.75e+0", Constant(3.75)),
    ("r3", reg("r3", "r3", 32)),
    ("ip", reg("ip", "r12", 32)),
    ("fp", reg("fp", "r11", 32)),
    ("s1", reg("s1", "d0", 32, 32, "fpr")),
    ("[r7, #16]", Memory(reg("r7", "r7", 32), 16)),
    ("[fp, #-20]", Memory(reg("fp", "r11", 32), -20)),
    ("[sp]", Memory(reg("sp", "r13", 32))),
    ("[r0, r4, lsl #2]", Memory(reg("r0", "r0", 32), 0, reg("r4", "r4", 32), 4, 2)),
    ("[r3, r2]", Memory(reg("r3", "r3", 32), 0, reg("r2", "r2", 32))),
]


@pytest.mark.parametrize(("operand", "expected"), ARM)
def test_operands(operand: str, expected: object) -> None:
    assert parse_operand(operand, "arm", 32) == expected


@pytest.mark.parametrize(
    ("operand", "reason_part"),
    [
        ("42", "ARM immediates carry '#'"),
        ("[r0, #4]!", "pre-indexed write-back addressing"),
        ("[r0, -r1]", "subtracted index registers are not supported"),
        ("[r0, r1, asr #2]", "index shift 'asr #2' is not supported (only lsl)"),
        ("[r0, r1, lsl #32]", "shift 32 is out of range"),
        ("r16", "unknown ARM register r16"),
    ],
)
def test_rejections_say_why(operand: str, reason_part: str) -> None:
    location = parse_operand(operand, "arm", 32)
    assert isinstance(location, Unparsed)
    assert reason_part in location.reason


def test_fixture_notes() -> None:
    twelve = probe_locations(FIXTURE_BIN / "armhf" / "probes-O2", "twelve")
    assert twelve[4] == ("-4@[sp, #8]", Memory(reg("sp", "r13", 32), 8))
    assert twelve[8] == ("4f@lr", reg("lr", "r14", 32))
    assert twelve[9] == ("8f@fp", reg("fp", "r11", 32))
    for name in ("probes-O0", "probes-O2"):
        assert unparsed(FIXTURE_BIN / "armhf" / name) == ("arm", [])


@pytest.mark.corpus
def test_corpus_notes_decode() -> None:
    path = corpus_file("armel/libpython3.11/usr/lib/arm-linux-gnueabi/libpython3.11.so.1.0")
    assert unparsed(path) == ("arm", [])


def test_consumer_verdicts() -> None:
    shifted = verdict("4@[r0, r4, lsl #2]", "arm", 32)
    assert not shifted["gdb"].ok
    assert shifted["libbpf"].why == "32-bit file: a 64-bit libbpf refuses 32-bit ELF files"
    pair = "8-byte value in a register pair, of which the operand names only r2: "
    assert (
        verdict("-8@r2", "arm", 32)["gdb"].why
        == pair + "the tool reads r2 alone, one half of the value"
    )
    assert verdict("4@r3", "arm", 32)["bcc"].why == "bcc has no USDT argument support for arm"


def test_uprobe_names() -> None:
    assert uprobe_fetches("4@[fp, #-8] 4@ip", "arm", 32) == ("arg1=-8(%fp):u32 arg2=%ip:u32", ())
