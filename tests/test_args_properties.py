"""Property tests: each grammar reads back what it writes, and never raises on junk."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from usdtscan.args.architecture import Architecture
from usdtscan.args.common import RegisterTable, lookup
from usdtscan.args.decode import decode
from usdtscan.args.location import Constant, Location, Memory, Register, Symbol, Unparsed
from usdtscan.args.registry import architecture
from usdtscan.args.tokenize import tokenize


def _arch(name: str, bits: int) -> tuple[str, Architecture, int]:
    found = architecture(name)
    assert found is not None
    return name, found, bits


ARCHES: list[tuple[str, Architecture, int]] = [
    _arch("x86_64", 64),
    _arch("i386", 32),
    _arch("aarch64", 64),
    _arch("arm", 32),
    _arch("s390x", 64),
    _arch("ppc64", 64),
    _arch("ppc", 32),
    _arch("riscv64", 64),
    _arch("mips64", 64),
    _arch("mips", 32),
    _arch("loongarch64", 64),
]

DISPLACEMENT = st.integers(-(2**31), 2**31 - 1)
NAMES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True)


def registers(table: RegisterTable, gpr_only: bool) -> st.SearchStrategy[Register]:
    names = sorted(
        name
        for name, spec in table.items()
        if (spec.register_class == "gpr" or not gpr_only) and "(" not in name
    )

    def make(name: str) -> Register:
        found = lookup(table, name)
        assert found is not None
        return found

    return st.sampled_from(names).map(make)


def locations(machine: str, module: Architecture, bits: int) -> st.SearchStrategy[Location]:
    table = module.register_table(bits)
    any_register = registers(table, gpr_only=False)
    gpr = registers(table, gpr_only=True)
    constant = st.integers(-(2**63), 2**63 - 1).map(Constant)
    choices: list[st.SearchStrategy[Location]] = [constant, any_register]
    plain = st.builds(Memory, gpr, DISPLACEMENT)
    if machine in ("x86_64", "i386"):
        no_rip = gpr.filter(lambda r: r.canonical != "rip")
        indexed = st.builds(
            Memory,
            st.one_of(st.none(), no_rip),
            DISPLACEMENT,
            no_rip,
            st.sampled_from([1, 2, 4, 8]),
        )
        symbolic = st.builds(
            lambda base, disp, name, reloc: Memory(
                base, disp, symbol=Symbol(name, 0, False, None, reloc)
            ),
            no_rip,
            DISPLACEMENT,
            NAMES,
            st.sampled_from([None, "GOTOFF"]),
        )
        pc_relative = st.builds(lambda n, o: Symbol(n, o, True), NAMES, DISPLACEMENT)
        absolute = st.builds(lambda n, o: Symbol(n, o, False), NAMES, DISPLACEMENT)
        choices += [plain.filter(lambda m: m.base is not None), indexed, symbolic]
        choices.append(absolute.filter(lambda s: not _is_register_like(s.name)))
        if bits == 64:
            choices.append(pc_relative)
    elif machine in ("aarch64", "arm"):
        shifts = st.integers(0, 4 if machine == "aarch64" else 31)
        indexed = st.builds(lambda b, i, s: Memory(b, 0, i, 1 << s, s), gpr, gpr, shifts)
        choices += [plain, indexed]
        if machine == "aarch64":
            choices.append(
                st.builds(
                    lambda b, d, n: Memory(b, d, symbol=Symbol(n, 0, False, None, "lo12")),
                    gpr,
                    DISPLACEMENT,
                    NAMES,
                )
            )
    elif machine in ("s390x", "ppc64", "ppc", "loongarch64"):
        choices += [plain, st.builds(lambda b, i: Memory(b, 0, i), gpr, gpr)]
        if machine == "s390x":
            choices.append(st.builds(lambda b, d, i: Memory(b, d, i), gpr, DISPLACEMENT, gpr))
    else:
        choices += [
            plain,
            st.builds(
                lambda b, d, n: Memory(b, d, symbol=Symbol(n, 0, False, None, "lo")),
                gpr,
                DISPLACEMENT,
                NAMES,
            ),
        ]
    return st.one_of(choices)


def _is_register_like(name: str) -> bool:
    return name.isdigit()


def _roundtrip(machine: str, module: Architecture, bits: int, location: Location) -> None:
    text = module.render(location, bits)
    parsed = module.parse(text, bits)
    assert parsed == location, text


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_render_then_parse_gives_the_location_back(data: st.DataObject) -> None:
    machine, module, bits = data.draw(st.sampled_from(ARCHES))
    location = data.draw(locations(machine, module, bits))
    _roundtrip(machine, module, bits, location)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(ARCHES), st.text(max_size=40))
def test_arbitrary_operand_text_never_raises(
    arch: tuple[str, Architecture, int], text: str
) -> None:
    _machine, module, bits = arch
    location = module.parse(text, bits)
    assert isinstance(location, Constant | Register | Memory | Symbol | Unparsed)
    if isinstance(location, Unparsed):
        assert location.reason


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(ARCHES), st.text(max_size=60))
def test_arbitrary_argument_strings_decode_without_raising(
    arch: tuple[str, Architecture, int], text: str
) -> None:
    machine, _module, bits = arch
    decoded = decode(tokenize(text), machine, bits)
    for argument in decoded:
        assert argument.size > 0 or argument.size == 0
        assert isinstance(argument.flags, tuple)


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(ARCHES),
    st.binary(max_size=40).map(lambda b: b.decode("utf-8", "backslashreplace")),
)
def test_note_bytes_decode_without_raising(arch: tuple[str, Architecture, int], text: str) -> None:
    machine, _module, bits = arch
    decode(tokenize(text), machine, bits)
