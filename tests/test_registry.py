"""The architecture registry (usdtscan/args/registry.py): one Architecture per file,
whose names are the ones the ELF reader gives files, checked against capstone."""

from __future__ import annotations

import pytest

from usdtscan.args import Memory, Register, parse_operand
from usdtscan.args.architecture import Architecture
from usdtscan.args.decode import grammar
from usdtscan.args.registry import ARCHITECTURES, abi, architecture, kernel_registers, reads
from usdtscan.elf import Machine, machine_name


def test_every_abi_is_named_as_the_elf_reader_names_its_files() -> None:
    names = [a.name for arch in ARCHITECTURES for a in arch.abis]
    assert len(names) == len(set(names))
    for arch in ARCHITECTURES:
        assert isinstance(arch, Architecture)
        for one in arch.abis:
            assert isinstance(one.machine, Machine)
            assert machine_name(one.machine, one.elf_bits, one.e_flags) == one.name
            assert abi(one.name) is one and architecture(one.name) is arch
            assert one.register_bits in arch.tables or len(arch.tables) == 1


def test_selection_by_e_machine_not_host() -> None:
    assert grammar(Machine.AARCH64) is grammar("aarch64")
    assert grammar(Machine.X86_64) is grammar("x86_64") is grammar("x32")
    assert parse_operand("[sp, 36]", Machine.AARCH64, 64) == Memory(Register("sp", "sp", 64), 36)
    assert grammar(Machine.SPARC) is None  # no grammar
    assert grammar("sparc64") is None and abi("em_4242") is None


def test_readers() -> None:
    assert reads("libbpf", "x86_64") and reads("perf", "i386") and not reads("perf", "x32")
    assert reads("gdb", "x32") and not reads("libbpf", "x32")
    assert not reads("kernel", "aarch64_ilp32") and kernel_registers("aarch64_ilp32") is None
    assert kernel_registers("i386") == {
        "eax": "ax",
        "ebx": "bx",
        "ecx": "cx",
        "edx": "dx",
        "esi": "si",
        "edi": "di",
        "ebp": "bp",
        "esp": "sp",
        "eip": "ip",
    }
    x86_64 = kernel_registers("x86_64")
    assert x86_64 is not None and x86_64["rax"] == "ax" and x86_64["r15"] == "r15"
    assert kernel_registers("x32") is x86_64


def test_register_tables_match_capstone() -> None:
    pytest.importorskip("capstone")
    from usdtscan.disasm import capstone_register_names

    machines = ("x86_64", "i386", "aarch64", "arm", "s390x", "ppc64", "riscv64", "mips64", "mips")
    for machine in machines:
        known = capstone_register_names(machine, "little" if machine != "s390x" else "big")
        found, named = architecture(machine), abi(machine)
        assert found is not None and named is not None
        table = found.register_table(named.register_bits)
        missing = {
            name: spec.capstone
            for name, spec in table.items()
            if spec.capstone is not None and spec.capstone not in known
        }
        assert missing == {}, machine
        assert sum(1 for s in table.values() if s.capstone) > 30


def test_every_abi_with_capstone_modes_has_a_decoder() -> None:
    pytest.importorskip("capstone")
    from usdtscan.disasm import instructions_text

    # Each family's nop, as sitecheck.py's table has it (little-endian but s390).
    nop = {
        "x86": "90",
        "aarch64": "1f2003d5",
        "arm": "00bf",
        "s390": "47000000",
        "ppc": "00000060",
        "riscv": "13000000",
        "mips": "00000000",
    }
    for arch in ARCHITECTURES:
        for one in arch.abis:
            if not one.capstone:
                continue
            code = bytes.fromhex(nop[arch.family])
            endian = "big" if arch.family == "s390" else "little"
            assert instructions_text(one.name, endian, code, 0x1000) is not None, one.name
