"""The MIPS grammar (usdtscan/args/mips.py): o32, n32 and n64, held against GDB.

o32 names registers 8-15 ``t0``-``t7``; n32 and n64 pass eight arguments in
registers and call 8-11 ``a4``-``a7``.  n32 files are ELFCLASS32 like o32
ones, but their registers are 64 bits wide: fixtures/bin/mipsn32 (built by
fixtures/build-mipsn32.sh) is a real n32 object, and GDB's own register
names and sizes for each ABI are the oracle.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from usdtscan.args import Constant, Memory, Symbol, Unparsed, parse_operand
from usdtscan.args.common import lookup
from usdtscan.args.registry import abi, architecture
from usdtscan.scan import scan

from .arch_cases import probe_locations, reg, unparsed, uprobe_fetches, verdict
from .conftest import FIXTURE_BIN, corpus_file

N32 = FIXTURE_BIN / "mipsn32" / "probes-O2.o"

MIPS = [
    ("42", Constant(42)),
    ("$2", reg("2", "r2", 32)),
    ("$sp", reg("sp", "r29", 32)),
    ("$fp", reg("fp", "r30", 32)),
    ("$t0", reg("t0", "r8", 32)),
    ("16($sp)", Memory(reg("sp", "r29", 32), 16)),
    (
        "%lo(s_counter)($7)",
        Memory(reg("7", "r7", 32), 0, symbol=Symbol("s_counter", 0, False, None, "lo")),
    ),
    (
        "%got_ofst(.LC1)($5)",
        Memory(reg("5", "r5", 32), 0, symbol=Symbol(".LC1", 0, False, None, "got_ofst")),
    ),
]

N64 = [
    ("$a4", reg("a4", "r8", 64)),
    ("$t0", reg("t0", "r12", 64)),
    ("$f12", reg("f12", "f12", 64, 0, "fpr")),
    ("8($s8)", Memory(reg("s8", "r30", 64), 8)),
]


@pytest.mark.parametrize(("operand", "expected"), MIPS)
def test_o32_operands(operand: str, expected: object) -> None:
    assert parse_operand(operand, "mips", 32) == expected


@pytest.mark.parametrize("machine", ["mips64", "mipsn32"])
@pytest.mark.parametrize(("operand", "expected"), N64)
def test_n64_and_n32_operands(machine: str, operand: str, expected: object) -> None:
    bits = 64 if machine == "mips64" else 32  # the ELF class: n32 files are ELFCLASS32
    assert parse_operand(operand, machine, bits) == expected


def test_rejections_say_why() -> None:
    location = parse_operand("$t9x", "mips", 32)
    assert isinstance(location, Unparsed)
    assert "unknown MIPS register $t9x" in location.reason
    assert isinstance(parse_operand("$a4", "mips", 32), Unparsed)  # o32 has no a4


def test_n32_fixture_is_named_and_decoded_as_n32() -> None:
    scanned = scan(N32)
    assert (scanned.machine, scanned.bits, scanned.endian) == ("mipsn32", 32, "little")
    # fx:three's third argument is an int64_t: one 64-bit register on n32,
    # where o32 (fixtures/bin/mips) splits it over the pair $6:$7.
    three = probe_locations(N32, "three")
    assert three[2] == ("-8@$6", reg("6", "r6", 64))
    assert uprobe_fetches("-8@$6", "mipsn32", 32) == ("arg1=%r6:s64", ())
    assert uprobe_fetches("-8@$6", "mips", 32) == (
        "",
        (
            "arg1: 8-byte value in a register pair, of which the operand names only 6: "
            "the tool reads 6 alone, one half of the value",
        ),
    )
    # n32 passes eight arguments in registers, as n64 does: $8-$11 are a4-a7.
    twelve = probe_locations(N32, "twelve")
    assert [raw for raw, _ in twelve[4:8]] == ["-4@$8", "4@$9", "-8@$10", "8@$11"]
    assert unparsed(N32) == ("mipsn32", [])


def test_fixture_notes() -> None:
    globals_ = probe_locations(FIXTURE_BIN / "mips" / "probes-O2", "globals")
    assert globals_[5][0] == "-4@%lo(s_counter)($7)"
    twelve = probe_locations(FIXTURE_BIN / "mips64el" / "probes-O2", "twelve")
    assert twelve[7] == ("8@$11", reg("11", "r11", 64))
    for target, machine in (("mips", "mips"), ("mips64el", "mips64")):
        for name in ("probes-O0", "probes-O2"):
            assert unparsed(FIXTURE_BIN / target / name) == (machine, [])


@pytest.mark.corpus
def test_corpus_notes_decode() -> None:
    path = corpus_file(
        "mips64el/libpython3.11/usr/lib/mips64el-linux-gnuabi64/libpython3.11.so.1.0"
    )
    assert unparsed(path) == ("mips64", [])


def _gdb_registers(path: Path) -> dict[int, tuple[str, int]]:
    """GDB's name and size in bytes of general-purpose registers 0-31 for this file's ABI."""
    gdb = shutil.which("gdb-multiarch")
    if gdb is None:
        pytest.skip("gdb-multiarch is not installed")
    out = subprocess.run(
        [gdb, "-nx", "-batch", "-ex", f"file {path}", "-ex", "maint print cooked-registers"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    found: dict[int, tuple[str, int]] = {}
    # " a4    98    8    784    8 int64_t ...": name, number, relative number, offset, size
    for match in re.finditer(r"^ (\w+)\s+\d+\s+(\d+)\s+\d+\s+(\d+) ", out, re.MULTILINE):
        name, relative, size = match.group(1), int(match.group(2)), int(match.group(3))
        if relative < 32 and relative not in found:
            found[relative] = (name, size)
    return found


@pytest.mark.parametrize(
    ("path", "machine"),
    [
        (FIXTURE_BIN / "mips" / "probes-O2", "mips"),
        (FIXTURE_BIN / "mips64el" / "probes-O2", "mips64"),
        (N32, "mipsn32"),
    ],
)
def test_register_names_and_widths_are_gdbs(path: Path, machine: str) -> None:
    gdb = _gdb_registers(path)
    assert len(gdb) == 32
    named, arch = abi(machine), architecture(machine)
    assert named is not None and arch is not None
    table = arch.register_table(named.register_bits)
    for number, (name, size) in gdb.items():
        register = lookup(table, name)
        assert register is not None, name
        assert (register.canonical, register.width_bits) == (f"r{number}", size * 8), name


def test_consumer_verdicts() -> None:
    for machine, bits in (("mips", 32), ("mipsn32", 32), ("mips64", 64)):
        found = verdict("4@$4", machine, bits)
        assert found["gdb"].why == f"GDB has no SystemTap argument support for {machine}"
        assert found["libbpf"].why == f"libbpf has no USDT argument support for {machine}"


def test_uprobe_names() -> None:
    assert uprobe_fetches("4@16($sp) 4@$2", "mips", 32) == ("arg1=+16(%r29):u32 arg2=%r2:u32", ())
    assert uprobe_fetches("-8@$6 8@$a4", "mipsn32", 32) == ("arg1=%r6:s64 arg2=%r8:u64", ())
