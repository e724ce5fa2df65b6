"""The x86-64 and i386 grammar (usdtscan/args/x86.py) on operands of real notes."""

from __future__ import annotations

import pytest

from usdtscan.args import Constant, Memory, Symbol, Unparsed, parse_operand

from .arch_cases import probe_locations, reg, unparsed, uprobe_fetches, verdict
from .conftest import FIXTURE_BIN, corpus_file

X86_64 = [
    ("$42", Constant(42)),
    ("$-7", Constant(-7)),
    ("%rbx", reg("rbx", "rbx", 64)),
    ("%esi", reg("esi", "rsi", 32)),
    ("%dl", reg("dl", "rdx", 8)),
    ("%ah", reg("ah", "rax", 8, 8)),
    ("%r13w", reg("r13w", "r13", 16)),
    ("%r8d", reg("r8d", "r8", 32)),
    ("%xmm0", reg("xmm0", "zmm0", 128, 0, "vector")),
    ("-12(%rbp)", Memory(reg("rbp", "rbp", 64), -12)),
    ("(%rsp)", Memory(reg("rsp", "rsp", 64), 0)),
    ("-16(%rbp,%rax,8)", Memory(reg("rbp", "rbp", 64), -16, reg("rax", "rax", 64), 8)),
    ("8(%rax,%rbx)", Memory(reg("rax", "rax", 64), 8, reg("rbx", "rbx", 64), 1)),
    ("(%rax,%rcx)", Memory(reg("rax", "rax", 64), 0, reg("rcx", "rcx", 64), 1)),
    ("g(%rip)", Symbol("g", 0, True)),
    ("32+mp_(%rip)", Symbol("mp_", 32, True)),
    ("40+CheckpointStats(%rip)", Symbol("CheckpointStats", 40, True)),
    ("perturb_byte(%rip)", Symbol("perturb_byte", 0, True)),
    ("g", Symbol("g", 0, False)),
    ("0x601040", Memory(None, 0x601040)),
]

I386 = [
    ("%eax", reg("eax", "eax", 32)),
    ("%esi", reg("esi", "esi", 32)),
    ("%al", reg("al", "eax", 8)),
    ("(%eax,%esi,4)", Memory(reg("eax", "eax", 32), 0, reg("esi", "esi", 32), 4)),
    ("4+4(%esp)", Memory(reg("esp", "esp", 32), 8)),
    ("16(%esp)", Memory(reg("esp", "esp", 32), 16)),
    (
        "g@GOTOFF(%ebx)",
        Memory(reg("ebx", "ebx", 32), 0, symbol=Symbol("g", 0, False, None, "GOTOFF")),
    ),
    (
        "16+mp_@GOTOFF(%eax)",
        Memory(reg("eax", "eax", 32), 16, symbol=Symbol("mp_", 0, False, None, "GOTOFF")),
    ),
]


@pytest.mark.parametrize(("operand", "expected"), X86_64)
def test_x86_64_operands(operand: str, expected: object) -> None:
    assert parse_operand(operand, "x86_64", 64) == expected


@pytest.mark.parametrize(("operand", "expected"), I386)
def test_i386_operands(operand: str, expected: object) -> None:
    assert parse_operand(operand, "i386", 32) == expected


def test_x32_reads_the_64_bit_registers() -> None:
    assert parse_operand("%rax", "x32", 32) == reg("rax", "rax", 64)


@pytest.mark.parametrize(
    ("machine", "bits", "operand", "reason_part"),
    [
        ("i386", 32, "%r8d", "unknown i386 register %r8d"),
        ("x86_64", 64, "%foo", "unknown x86-64 register %foo"),
        ("x86_64", 64, "$sym", "symbolic immediates"),
        ("x86_64", 64, "(%rax,%rbx,3)", "scale 3"),
        ("x86_64", 64, "%fs:8", "segment-override"),
        ("x86_64", 64, "\x01%rax", "control characters"),
        ("x86_64", 64, "8(%rip,%rax)", "%rip cannot take an index register"),
        ("x86_64", 64, "(%rax,%rbx,4,1)", "more than base, index and scale"),
    ],
)
def test_rejections_say_why(machine: str, bits: int, operand: str, reason_part: str) -> None:
    location = parse_operand(operand, machine, bits)
    assert isinstance(location, Unparsed)
    assert reason_part in location.reason


def test_fixture_notes() -> None:
    fields = probe_locations(FIXTURE_BIN / "x86_64" / "probes-O2", "fields")
    assert fields[0] == (
        "-4@(%rdi,%rax,8)",
        Memory(reg("rdi", "rdi", 64), 0, reg("rax", "rax", 64), 8),
    )
    assert fields[4] == (
        "2@g_table+2(%rsi,%rsi)",
        # g_table is at 0x404030 in the fixture's .symtab (probes-O2.readelf-lsSW.txt).
        Memory(
            reg("rsi", "rsi", 64),
            2,
            reg("rsi", "rsi", 64),
            1,
            0,
            Symbol("g_table", 0, False, 0x404030),
        ),
    )
    twelve = probe_locations(FIXTURE_BIN / "i386" / "probes-O2", "twelve")
    assert twelve[6] == ("-8@28(%esp)", Memory(reg("esp", "esp", 32), 28))
    for target in ("x86_64", "x86_64-pie", "i386"):
        for name in ("probes-O0", "probes-O2"):
            assert unparsed(FIXTURE_BIN / target / name)[1] == []


@pytest.mark.corpus
def test_corpus_notes_decode() -> None:
    path = corpus_file("amd64/libc6/usr/lib/x86_64-linux-gnu/libc.so.6")
    assert unparsed(path) == ("x86_64", [])


def test_consumer_verdicts() -> None:
    plain = verdict("-4@-20(%rbp)", "x86_64", 64)
    assert {k: (v.ok, v.why) for k, v in plain.items()} == {
        "libbpf": (True, None),
        "bcc": (True, None),
        "gdb": (True, None),
    }
    assert not any(v.ok for v in verdict("8f@%rax", "x86_64", 64).values())
    two_terms = verdict("4@4+4(%esp)", "x86_64", 64)
    assert not two_terms["gdb"].ok and not two_terms["libbpf"].ok
    sizeless = verdict("%rax", "x86_64", 64)
    assert not sizeless["libbpf"].ok and sizeless["gdb"].ok and sizeless["bcc"].ok
    assert verdict("4@%eip", "x86_64", 64)["bcc"].why == "register %eip is not in bcc's table"
    x32 = verdict("-4@%eax", "x32", 32)
    assert x32["libbpf"].why == "libbpf has no USDT argument support for x32"
    assert x32["gdb"].ok


def test_uprobe_names() -> None:
    assert uprobe_fetches("4@%eax 4@8(%esp)", "i386", 32) == ("arg1=%ax:u32 arg2=+8(%sp):u32", ())
    assert uprobe_fetches("8@%r12 -4@-4(%rbp)", "x86_64", 64) == (
        "arg1=%r12:u64 arg2=-4(%bp):s32",
        (),
    )
