"""The LoongArch grammar (usdtscan/args/loongarch.py) on operands of real notes."""

from __future__ import annotations

import pytest

from usdtscan.args import Constant, Memory, Unparsed, parse_operand

from .arch_cases import reg, unparsed, uprobe_fetches, verdict
from .conftest import corpus_file

LOONGARCH64 = [
    ("$r4", reg("r4", "r4", 64)),
    ("$a0", reg("a0", "r4", 64)),
    ("$fp", reg("fp", "r22", 64)),
    ("$s8", reg("s8", "r31", 64)),
    ("$fa0", reg("fa0", "f0", 64, 0, "fpr")),
    ("$fs7", reg("fs7", "f31", 64, 0, "fpr")),
    ("$r23,24", Memory(reg("r23", "r23", 64), 24)),
    ("$r23,-80", Memory(reg("r23", "r23", 64), -80)),
    ("$r12,$r13", Memory(reg("r12", "r12", 64), 0, reg("r13", "r13", 64))),
    ("42", Constant(42)),
    ("-3", Constant(-3)),
]


@pytest.mark.parametrize(("operand", "expected"), LOONGARCH64)
def test_operands(operand: str, expected: object) -> None:
    assert parse_operand(operand, "loongarch64", 64) == expected


@pytest.mark.parametrize(
    ("operand", "reason_part"),
    [
        ("$r32", "unknown LoongArch register $r32"),
        ("$r4,x", "offset after the base register is not an integer"),
    ],
)
def test_rejections_say_why(operand: str, reason_part: str) -> None:
    location = parse_operand(operand, "loongarch64", 64)
    assert isinstance(location, Unparsed)
    assert reason_part in location.reason


@pytest.mark.corpus
def test_corpus_notes_decode() -> None:
    """No fixture: Debian 12 has no LoongArch cross compiler; the corpus has python3.14."""
    path = corpus_file("loong64/python3.14-minimal/usr/bin/python3.14")
    assert unparsed(path) == ("loongarch64", [])


def test_consumer_verdicts() -> None:
    memory = verdict("8@$r23,24", "loongarch64", 64)
    assert memory["bcc"].why == "bcc expects [base, offset]; the compiler prints base,offset"
    assert not memory["gdb"].ok
    assert verdict("8@$sp", "loongarch64", 64)["bcc"].ok
    assert verdict("8@$a0", "loongarch64", 64)["bcc"].why == "register a0 is not understood by bcc"


def test_uprobe_names() -> None:
    assert uprobe_fetches("8@$r23,24 8@$r4", "loongarch64", 64) == (
        "arg1=+24(%r23):u64 arg2=%r4:u64",
        (),
    )
