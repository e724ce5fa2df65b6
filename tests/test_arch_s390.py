"""The s390x and s390 grammar (usdtscan/args/s390.py) on operands of real notes."""

from __future__ import annotations

import pytest

from usdtscan.args import Constant, Memory, Unparsed, parse_operand

from .arch_cases import probe_locations, reg, unparsed, uprobe_fetches, verdict
from .conftest import FIXTURE_BIN, corpus_file

S390X = [
    ("42", Constant(42)),
    ("%r2", reg("r2", "r2", 64)),
    ("%f0", reg("f0", "f0", 64, 0, "fpr")),
    ("180(%r11)", Memory(reg("r11", "r11", 64), 180)),
    ("-8(%r15)", Memory(reg("r15", "r15", 64), -8)),
    ("0(%r10,%r2)", Memory(reg("r2", "r2", 64), 0, reg("r10", "r10", 64))),
]


@pytest.mark.parametrize(("operand", "expected"), S390X)
def test_operands(operand: str, expected: object) -> None:
    assert parse_operand(operand, "s390x", 64) == expected


def test_s390_reads_32_bit_registers() -> None:
    assert parse_operand("%r2", "s390", 32) == reg("r2", "r2", 32)


@pytest.mark.parametrize(
    ("operand", "reason_part"),
    [
        ("%r16", "unknown s390 register %r16"),
        ("r2", "not a constant, a register or D(X,B) memory"),
        ("0(%r1,%r2,%r3)", "more than index and base"),
    ],
)
def test_rejections_say_why(operand: str, reason_part: str) -> None:
    location = parse_operand(operand, "s390x", 64)
    assert isinstance(location, Unparsed)
    assert reason_part in location.reason


def test_fixture_notes() -> None:
    fields = probe_locations(FIXTURE_BIN / "s390x" / "probes-O2", "fields")
    assert fields[0] == ("-4@0(%r2,%r1)", Memory(reg("r1", "r1", 64), 0, reg("r2", "r2", 64)))
    twelve = probe_locations(FIXTURE_BIN / "s390x" / "probes-O2", "twelve")
    assert twelve[6] == ("-8@336(%r15)", Memory(reg("r15", "r15", 64), 336))
    for name in ("probes-O0", "probes-O2"):
        assert unparsed(FIXTURE_BIN / "s390x" / name) == ("s390x", [])


@pytest.mark.corpus
def test_corpus_notes_decode() -> None:
    path = corpus_file("s390x/libpython3.11/usr/lib/s390x-linux-gnu/libpython3.11.so.1.0")
    assert unparsed(path) == ("s390x", [])


def test_consumer_verdicts() -> None:
    indexed = verdict("8@0(%r10,%r2)", "s390x", 64)
    assert not indexed["libbpf"].ok and not indexed["gdb"].ok
    assert indexed["bcc"].why == "bcc adds the index register unscaled, as the ISA does"
    assert verdict("8@(%r2)", "s390x", 64)["libbpf"].why == (
        "libbpf requires an explicit displacement before '('"
    )
    assert verdict("4@%r2", "s390", 32)["bcc"].why == "bcc has no USDT argument support for s390"


def test_uprobe_names() -> None:
    assert uprobe_fetches("8@180(%r11) 4@%r2", "s390x", 64) == (
        "arg1=+180(%r11):u64 arg2=%r2:u32",
        (),
    )
