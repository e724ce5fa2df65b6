"""Decoding (sizes, flags, symbols), consumer verdicts and uprobe lines, on operand
strings taken from real binaries (the Debian corpus and the cross-compiled fixtures).

Each architecture's own operands are in tests/test_arch_<arch>.py."""

from __future__ import annotations

import pytest

from usdtscan.args import Memory, Register, Symbol, Unparsed, parse_operand
from usdtscan.args.common import parse_displacement, parse_int
from usdtscan.args.consumers import BCC_SYMBOL_FAILS, verdicts
from usdtscan.args.decode import Flag, decode, decode_argument
from usdtscan.args.tokenize import parse_argument, tokenize

from .arch_cases import HandSymbols


def reg(name: str, canonical: str, width: int, offset: int = 0, cls: str = "gpr") -> Register:
    return Register(name, canonical, width, offset, cls)


@pytest.mark.parametrize(
    ("machine", "bits", "operand", "reason_part"),
    [
        ("x86_64", 64, "%r8d", None),
        ("sparc64", 64, "%o0", "no operand grammar"),
    ],
)
def test_rejections_say_why(machine: str, bits: int, operand: str, reason_part: str | None) -> None:
    location = parse_operand(operand, machine, bits)
    if reason_part is None:
        assert not isinstance(location, Unparsed)
    else:
        assert isinstance(location, Unparsed)
        assert reason_part in location.reason


def test_gas_numbers() -> None:
    assert parse_int("0x10") == 16
    assert parse_int("-0x10") == -16
    assert parse_int("010") == 8  # GAS reads a leading 0 as octal
    assert parse_int("09") is None
    assert parse_displacement("-8+3+1").value == -4  # type: ignore[union-attr]
    assert isinstance(parse_displacement("a+b"), Unparsed)
    assert isinstance(parse_displacement("4-sym"), Unparsed)


def test_sizeless_takes_systemtaps_unsigned_long() -> None:
    (wide,) = decode(tokenize("%rax"), "x86_64", 64)
    assert (wide.size, wide.signed, wide.assumed_size) == (8, False, True)
    assert Flag.SIZELESS in wide.flags
    (narrow,) = decode(tokenize("4(%esp)"), "i386", 32)
    assert (narrow.size, narrow.signed) == (4, False)
    assert narrow.location == Memory(reg("esp", "esp", 32), 4)


def test_odd_size_is_kept_and_flagged() -> None:
    (odd,) = decode(tokenize("3@%eax"), "x86_64", 64)
    assert odd.size == 3 and Flag.ODD_SIZE in odd.flags
    assert odd.location == reg("eax", "rax", 32)


def test_size_wider_than_the_register_is_flagged() -> None:
    (wide,) = decode(tokenize("-8@%eax"), "x86_64", 64)
    assert Flag.WIDER_THAN_REGISTER in wide.flags
    assert "rax" in wide.warnings[0]
    (fits,) = decode(tokenize("-4@%eax"), "x86_64", 64)
    assert Flag.WIDER_THAN_REGISTER not in fits.flags


def test_junk_decodes_what_the_string_holds() -> None:
    arguments = tokenize("4@%eax 8@\x07junk 4@[oops")
    decoded = decode(arguments, "x86_64", 64)
    assert decoded[0].location == reg("eax", "rax", 32)
    assert isinstance(decoded[1].location, Unparsed)
    assert isinstance(decoded[2].location, Unparsed)
    assert Flag.UNPARSED in decoded[1].flags


def test_symbols_resolve_through_the_symbol_table() -> None:
    (one,) = decode(tokenize("8@32+mp_(%rip)"), "x86_64", 64, symbols=HandSymbols())
    assert one.location == Symbol("mp_", 32, True, 0x21A020)
    (got,) = decode(tokenize("-4@g@GOTOFF(%ebx)"), "i386", 32, symbols=HandSymbols())
    assert isinstance(got.location, Memory) and got.location.symbol is not None
    assert got.location.symbol.address == 0x4000
    (missing,) = decode(tokenize("8@nosuch(%rip)"), "x86_64", 64, symbols=HandSymbols())
    assert Flag.UNRESOLVED_SYMBOL in missing.flags


def test_numeric_rip_relative_uses_the_end_of_the_instruction() -> None:
    (arg,) = decode(tokenize("8@0x10(%rip)"), "x86_64", 64, symbols=HandSymbols(), next_pc=0x21A001)
    assert arg.location == Symbol("mp_", 0x11, True, 0x21A011)


def _verdict(raw: str, machine: str, bits: int, elf_type: str = "DYN") -> dict[str, object]:
    decoded = decode_argument(parse_argument(raw), machine, bits)
    return {k: (v.ok, v.why) for k, v in verdicts(decoded, machine, bits, elf_type).items()}


def test_consumer_verdicts() -> None:
    plain = _verdict("-4@-20(%rbp)", "x86_64", 64)
    assert plain == {"libbpf": (True, None), "bcc": (True, None), "gdb": (True, None)}
    floats = _verdict("8f@%rax", "x86_64", 64)
    assert not floats["libbpf"][0] and not floats["bcc"][0] and not floats["gdb"][0]  # type: ignore[index]
    symbol = _verdict("8@32+mp_(%rip)", "x86_64", 64, "EXEC")
    assert symbol["libbpf"] == (False, "symbol operands are not supported")
    assert symbol["bcc"] == (False, BCC_SYMBOL_FAILS)  # bcc's own trace: tests/test_attach.py
    assert symbol["gdb"] == (False, "symbol operands are not supported")
    two_terms = _verdict("4@4+4(%esp)", "x86_64", 64)
    assert two_terms["gdb"][0] is False and two_terms["libbpf"][0] is False  # type: ignore[index]
    sizeless = _verdict("%rax", "x86_64", 64)
    assert sizeless["libbpf"][0] is False and sizeless["gdb"][0] is True  # type: ignore[index]
    wide = _verdict("4@w3", "aarch64", 64)
    assert wide["libbpf"] == (False, "register w3 is not in libbpf's table")
    assert wide["gdb"] == (True, None)
    arm_shift = _verdict("4@[r0, r4, lsl #2]", "arm", 32)
    assert arm_shift["gdb"][0] is False  # type: ignore[index]
    assert arm_shift["libbpf"] == (False, "32-bit file: a 64-bit libbpf refuses 32-bit ELF files")
    ppc = _verdict("8@9,8", "ppc64", 64)
    assert ppc["libbpf"] == (False, "libbpf has no USDT argument support for ppc64")
    assert ppc["bcc"][0] is True and ppc["gdb"][0] is False  # type: ignore[index]
    loong = _verdict("8@$r23,24", "loongarch64", 64)
    assert loong["bcc"][0] is False and loong["gdb"][0] is False  # type: ignore[index]
    riscv = _verdict("-4@-28(s0)", "riscv64", 64)
    assert riscv["libbpf"] == (True, None)
    assert riscv["gdb"] == (False, "GDB has no SystemTap argument support for riscv64")
    s390_index = _verdict("8@0(%r10,%r2)", "s390x", 64)
    assert s390_index["libbpf"][0] is False and s390_index["gdb"][0] is False  # type: ignore[index]


def test_register_pair_on_a_32_bit_target_is_unreadable() -> None:
    # Live proof (tests/test_live.py): on armhf -O2, fx:three's -8@r2 holds
    # 0x1122334455667788 in r2:r3 and GDB's $_probe_arg2 reads 0x55667788.
    # The verdict used to be ok with the caveat "reads all of r2", which is false.
    pair = "8-byte value in a register pair, of which the operand names only {}: "
    pair += "the tool reads {} alone, one half of the value"
    arm = _verdict("-8@r2", "arm", 32)
    assert arm["gdb"] == (False, pair.format("r2", "r2"))
    i386 = _verdict("-8@%eax", "i386", 32)
    assert i386["gdb"] == (False, pair.format("eax", "eax"))
    assert i386["bcc"] == (False, pair.format("eax", "eax"))
    # A whole 64-bit register does hold the value: x86-64 keeps the old caveat.
    x86_64 = _verdict("-8@%eax", "x86_64", 64)
    assert x86_64["gdb"] == (True, "reads all of rax, beyond the eax the operand names")
    assert _verdict("-4@%eax", "i386", 32)["gdb"] == (True, None)
