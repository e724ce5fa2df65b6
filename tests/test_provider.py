"""``usdtscan check --provider FILE.d PATH``: real provider files from Debian source
packages (PostgreSQL's probes.d, CPython's pydtrace.d) against the corpus
binaries built from them, and the fixtures' own fxsem.d."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import pytest

from usdtscan.cli import main
from usdtscan.lint import lint
from usdtscan.provider import (
    ProviderFileError,
    argument_type,
    parse,
    preprocess,
    read_provider_file,
)

from .conftest import FIXTURE_BIN, FIXTURES, corpus_file

PROVIDERS = FIXTURES / "provider"
PG_D = PROVIDERS / "postgresql-15" / "probes.d"
PY_D = PROVIDERS / "python3.11" / "pydtrace.d"
FXSEM_D = FIXTURES / "src" / "fxsem.d"
CACHE = Path(os.environ.get("USDTSCAN_PROVIDER_CACHE", Path.home() / ".cache/usdtscan-provider"))
INSTANCE = [
    "python:instance__new__start",
    "python:instance__new__done",
    "python:instance__delete__start",
    "python:instance__delete__done",
]
# The corpus postgres' own disagreements with probes.d, identical on the four
# architectures: LWLockMode passed as an enum, LOCKTAG's uint16/uint8 fields,
# bool expressions of type int.
ABI = {
    "amd64": "x86_64 ELF64",
    "arm64": "aarch64 ELF64",
    "armhf": "arm ELF32",
    "s390x": "s390x ELF64",
}
PG_ARG_TYPE = {
    "postgresql:lwlock__acquire": "arg2 (int)",
    "postgresql:lwlock__wait__start": "arg2 (int)",
    "postgresql:lwlock__wait__done": "arg2 (int)",
    "postgresql:lwlock__condacquire": "arg2 (int)",
    "postgresql:lwlock__condacquire__fail": "arg2 (int)",
    "postgresql:lwlock__acquire__or__wait": "arg2 (int)",
    "postgresql:lwlock__acquire__or__wait__fail": "arg2 (int)",
    "postgresql:lock__wait__start": "arg4 (unsigned int), arg5 (unsigned int)",
    "postgresql:lock__wait__done": "arg4 (unsigned int), arg5 (unsigned int)",
    "postgresql:sort__start": "arg2 (unsigned char), arg5 (unsigned char)",
    "postgresql:sort__done": "arg1 (unsigned char)",
    "postgresql:clog__checkpoint__start": "arg1 (unsigned char)",
    "postgresql:clog__checkpoint__done": "arg1 (unsigned char)",
    "postgresql:subtrans__checkpoint__start": "arg1 (unsigned char)",
    "postgresql:subtrans__checkpoint__done": "arg1 (unsigned char)",
    "postgresql:multixact__checkpoint__start": "arg1 (unsigned char)",
    "postgresql:multixact__checkpoint__done": "arg1 (unsigned char)",
}


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = main(argv)
    out, err = capsys.readouterr()
    return status, out, err


def _provider_findings(path: Path, provider: Path) -> list[tuple[str, str | None, str]]:
    result = lint(path, declared=read_provider_file(str(provider)))
    assert result.error is None
    return [(f.id, f.probe, f.message) for f in result.findings if f.id.startswith("provider-")]


@pytest.mark.parametrize("name", ["postgresql-15/probes.d", "python3.11/pydtrace.d"])
def test_committed_copies_are_debians(name: str) -> None:
    fetched = CACHE / name
    if not fetched.is_file():
        pytest.skip(f"scripts/provider-files.sh has not filled {CACHE}")
    assert fetched.read_bytes() == (PROVIDERS / name).read_bytes()


def test_cpp_runs_first() -> None:
    """probes.d defines its own types: only cpp turns Oid into unsigned int."""
    raw = parse(PG_D.read_text())
    done = read_provider_file(str(PG_D))
    assert len(done) == len(raw) == 57
    by_id = {p.probe_id: p for p in done}
    assert by_id["postgresql:buffer__read__start"].types == (
        "int",
        "unsigned int",
        "unsigned int",
        "unsigned int",
        "unsigned int",
        "int",
        "unsigned char",
    )
    assert {p.probe_id: p.types for p in raw}["postgresql:buffer__flush__start"][0] == "ForkNumber"
    assert by_id["postgresql:query__plan__start"].types == ()
    python = read_provider_file(str(PY_D))
    assert [p.name for p in python][:3] == [
        "function__entry",
        "function__return",
        "instance__new__start",
    ]
    assert {p.probe_id: p.types for p in python}["python:audit"] == ("const char *", "void *")


@pytest.mark.corpus
@pytest.mark.parametrize("arch", ["amd64", "arm64", "armhf", "s390x"])
def test_postgres_against_probes_d(arch: str, capsys: pytest.CaptureFixture[str]) -> None:
    binary = corpus_file(f"{arch}/postgresql-15/usr/lib/postgresql/15/bin/postgres")
    findings = _provider_findings(binary, PG_D)
    # Every declared probe is there with its argument count: only type warnings.
    assert {kind for kind, _p, _m in findings} == {"provider-arg-type"}
    got = {
        probe: message.split(": ", 1)[1].split(" declared")[0] for _k, probe, message in findings
    }
    assert got == PG_ARG_TYPE
    sort_done = next(m for _k, p, m in findings if p == "postgresql:sort__done")
    long_size = "-4" if arch == "armhf" else "-8"
    assert sort_done.endswith(f"declared 1 {long_size} for {ABI[arch]}, called with -4 {long_size}")
    status, out, _ = _run(
        [
            "check",
            "--ignore",
            "arg-unreadable,sites-disagree",
            "--provider",
            str(PG_D),
            str(binary),
        ],
        capsys,
    )
    assert status == 0
    assert out.splitlines()[-1].startswith("  OK: no error (17 warnings, 0 info, ")


@pytest.mark.corpus
@pytest.mark.parametrize(
    ("binary", "also_missing"),
    [
        ("amd64/python3.11-minimal/usr/bin/python3.11", []),
        ("armhf/python3.11-minimal/usr/bin/python3.11", []),
        ("i386/python3.11-minimal/usr/bin/python3.11", []),
        ("s390x/libpython3.11/usr/lib/s390x-linux-gnu/libpython3.11.so.1.0", []),
        (
            "amd64/python3.13-minimal/usr/bin/python3.13",
            ["python:function__entry", "python:function__return", "python:line"],
        ),
        ("amd64/libpython3.15/usr/lib/x86_64-linux-gnu/libpython3.15.so.1.0", ["python:line"]),
    ],
)
def test_pythons_against_pydtrace_d(
    binary: str, also_missing: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """pydtrace.d declares instance__* markers CPython never fires: the generic check
    reports them missing; ``--cpython`` knows better and passes."""
    path = corpus_file(binary)
    findings = _provider_findings(path, PY_D)
    missing = [p for kind, p, _m in findings if kind == "provider-missing"]
    assert sorted(missing) == sorted(INSTANCE + also_missing)
    assert [kind for kind, _p, _m in findings if kind != "provider-missing"] == []
    status, out, _ = _run(["check", "--json", "--provider", str(PY_D), str(path)], capsys)
    assert status == 1
    (entry,) = json.loads(out)["files"]
    assert Counter(f["id"] for f in entry["findings"])["provider-missing"] == len(missing)
    if not also_missing:
        assert _run(["check", "--cpython", str(path)], capsys)[0] == 0


@pytest.mark.parametrize("target", ["x86_64", "armhf", "mips", "s390x", "ppc64"])
def test_fixture_provider_matches(target: str) -> None:
    binary = FIXTURE_BIN / target / "probes-O2"
    assert _provider_findings(binary, FXSEM_D) == []


def test_fixture_provider_disagreements(tmp_path: Path) -> None:
    edited = tmp_path / "fxsem.d"
    edited.write_text(
        "#define COUNT int\n"
        "provider fxsem {\n"
        "  probe start(COUNT, unsigned long long);\n"
        "  probe request(int, short, unsigned char);\n"  # one argument short
        "  probe guarded(unsigned char);\n"  # called with an int
        "  probe vanished(int);\n"
        "};\n"
    )
    findings = _provider_findings(FIXTURE_BIN / "x86_64" / "probes-O2", edited)
    assert findings == [
        (
            "provider-arg-count",
            "fxsem:request",
            "fxsem:request is declared with 3 arguments, called with 4",
        ),
        (
            "provider-arg-type",
            "fxsem:guarded",
            "fxsem:guarded: arg1 (unsigned char) declared 1 for x86_64 ELF64, called with -4",
        ),
        (
            "provider-missing",
            "fxsem:vanished",
            "fxsem:vanished (1 arguments) is declared but not in the binary",
        ),
    ]


def _sized(text: str, machine: str, bits: int) -> tuple[int | None, bool | None]:
    found = argument_type(text, machine, bits)
    return found.size, found.signed


def test_types_per_abi() -> None:
    assert _sized("char", "x86_64", 64) == (1, True)
    assert _sized("char", "aarch64", 64) == (1, False)
    assert _sized("char", "arm", 32) == (1, False)
    assert _sized("signed char", "s390x", 64) == (1, True)
    assert _sized("long", "arm", 32) == (4, True)
    assert _sized("unsigned long", "ppc64", 64) == (8, False)
    assert _sized("long long", "mips", 32) == (8, True)
    assert _sized("const char *", "i386", 32) == (4, False)
    assert _sized("string", "x86_64", 64) == (8, False)
    assert _sized("int count", "x86_64", 64) == (4, True)
    assert _sized("uint16_t", "x86_64", 64) == (2, False)
    assert _sized("size_t", "arm", 32) == (4, False)
    assert _sized("double", "x86_64", 64) == (8, True)
    assert argument_type("double", "x86_64", 64).is_float
    assert argument_type("struct foo", "x86_64", 64).size is None
    assert argument_type("Oid", "x86_64", 64).size is None


def test_bad_provider_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    binary = str(FIXTURE_BIN / "x86_64" / "probes-O2")
    empty = tmp_path / "empty.d"
    empty.write_text("/* nothing */\n")
    broken = tmp_path / "broken.d"
    broken.write_text("#error not a provider\n")
    for path, reason in (
        (tmp_path / "missing.d", "no such provider file"),
        (empty, "no 'provider NAME { probe ...; };' declaration"),
        (broken, "cpp failed: "),
    ):
        status, out, err = _run(["check", "--provider", str(path), binary], capsys)
        assert status == 2 and out == ""
        assert err.startswith(f"usdtscan: {path}: {reason}")
    with pytest.raises(ProviderFileError):
        preprocess(str(PG_D), cpp=str(tmp_path / "no-cpp"))
