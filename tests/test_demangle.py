"""Function names as people read them (issue 16).

Oracles, all real tools on real binaries: binutils' ``c++filt`` for C++
(every mangled function of the corpus and of fixtures/bin/x86_64-demangle),
``nm -C`` (the form ``rustfilt`` prints: no hash, no crate disambiguator) and
``c++filt`` for Rust legacy and v0, and GDB's ``info symbol`` for every site of
the JVM's libjvm.so.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from usdtscan import SiteReport, analyze, scan
from usdtscan.demangle import demangle, demangle_function, function_matches, without_parameters
from usdtscan.render.text import FUNCTION_WIDTH, elide

from .conftest import CORPUS, FIXTURE_BIN, corpus_binaries, corpus_file, run_usdtscan

DEMANGLE = FIXTURE_BIN / "x86_64-demangle"
CXX = DEMANGLE / "probes-cxx"
CXX_OLDABI = DEMANGLE / "probes-cxx-oldabi"
RUST_LEGACY = DEMANGLE / "probes-rust-legacy"
RUST_V0 = DEMANGLE / "probes-rust-v0"
C_SAMPLE = FIXTURE_BIN / "x86_64" / "probes-O2"
MACHO_CACHE = Path(os.environ.get("USDTSCAN_MACHO", Path.home() / ".cache" / "usdtscan-macho"))
LIBJVM = "amd64/openjdk-17-jre-headless/usr/lib/jvm/java-17-openjdk-amd64/lib/server/libjvm.so"

#: What the Rust fixtures' sites are in, by probe name, in rustfilt's form.
RUST_V0_FUNCTIONS = {
    "request": {"probes::server::handle_request"},
    "event": {"<probes::Worker as probes::Handler>::on_event"},
    "push": {"<probes::Queue<u32>>::push"},
    "process": {"probes::process::<u8>", "probes::process::<u32>"},
    "unicode": {"probes::größe"},
    "closure": {
        "probes::main::{closure#0}",
        "<probes::main::{closure#0} as core::ops::function::FnOnce<(u64,)>>"
        "::call_once::{shim:vtable#0}",
    },
}
RUST_LEGACY_FUNCTIONS = {
    "request": {"probes::server::handle_request"},
    "event": {"<probes::Worker as probes::Handler>::on_event"},
    "push": {"probes::Queue<T>::push"},
    "process": {"probes::process"},
    "unicode": {"probes::größe"},
    "closure": {
        "probes::main::{{closure}}",
        "core::ops::function::FnOnce::call_once{{vtable.shim}}",
    },
}


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return run_usdtscan(*args, timeout=60)


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed")
    return path


def cxxfilt(symbols: list[str]) -> list[str]:
    """binutils' c++filt on each symbol, one per line as it reads them."""
    out = subprocess.run(
        [tool("c++filt")], input="".join(f"{s}\n" for s in symbols), capture_output=True, text=True
    ).stdout.splitlines()
    assert len(out) == len(symbols)
    return out


def nm_demangled(path: Path) -> dict[str, str]:
    """Symbol -> ``nm -C`` name for every function symbol of ``path``."""
    nm = tool("nm")
    raw = subprocess.run([nm, "-p", str(path)], capture_output=True, text=True).stdout
    readable = subprocess.run([nm, "-p", "-C", str(path)], capture_output=True, text=True).stdout
    pairs = {}
    for plain, shown in zip(raw.splitlines(), readable.splitlines(), strict=True):
        fields = plain.split(maxsplit=2)
        if len(fields) == 3 and fields[1] in "tTwW":
            pairs[fields[2]] = shown.split(maxsplit=2)[2]
    return pairs


def reports(path: Path) -> list[SiteReport]:
    """The analysis of every site of ``path``, Mach-O slices included."""
    report = analyze(path)
    return list(report.sites) + [s for piece in report.slices for s in piece.sites]


def mangled_sites(path: Path) -> list[SiteReport]:
    names = [(s, s.site.function_name or "") for s in reports(path)]
    return [s for s, name in names if name.startswith(("_Z", "_R"))]


# -- C++ -----------------------------------------------------------------------------


@pytest.mark.parametrize("path", [CXX, CXX_OLDABI], ids=lambda p: p.name)
def test_cxx_fixture_functions_read_as_cxxfilt_prints(path: Path) -> None:
    sites = mangled_sites(path)
    assert len(sites) == 4
    symbols = [s.site.function_name or "" for s in sites]
    assert [s.function_name_demangled for s in sites] == cxxfilt(symbols)


def test_old_abi_string_is_spelled_out_as_cxxfilt_does() -> None:
    """``Ss``: __cxa_demangle says std::string, c++filt and GDB the full type."""
    (site,) = [s for s in reports(CXX_OLDABI) if s.site.name == "name"]
    assert site.site.function_name == "_ZN12usdt_fixture11name_lengthERKSs"
    assert site.function_name_demangled == (
        "usdt_fixture::name_length(std::basic_string<char, std::char_traits<char>,"
        " std::allocator<char> > const&)"
    )
    assert site.function_demangled == f"{site.function_name_demangled}+0x3"
    (lookup,) = [s for s in reports(CXX_OLDABI) if s.site.name == "lookup"]
    # ">>" never appears: the expansion before a closing bracket gets a space.
    assert "std::allocator<char> >, long>::find_entry_or_default" in (
        lookup.function_name_demangled or ""
    )


@pytest.mark.corpus
def test_every_mangled_function_of_the_corpus_reads_as_cxxfilt_prints() -> None:
    binaries = corpus_binaries()
    if not binaries:
        pytest.skip(f"corpus not fetched into {CORPUS}")
    binaries += sorted(p for p in MACHO_CACHE.glob("node-*") if p.is_file())
    names: dict[str, str | None] = {}
    for path in binaries:
        for report in mangled_sites(path):
            names[report.site.function_name or ""] = report.function_name_demangled
            dof = report.site.dof
            if dof is not None and dof.dof_function.startswith("_Z"):
                names[dof.dof_function] = demangle(dof.dof_function)
    symbols = sorted(names)
    # libjvm on three architectures (30 names), node on two Mach-O slices.
    assert len(symbols) >= 30
    assert [names[s] for s in symbols] == cxxfilt(symbols)


#: libstdc++ 12's __cxa_demangle predates _FloatN (``DF128_``); binutils 2.40 knows it.
OLDER_RUNTIME = {
    "_ZSt10from_charsPKcS0_RDF128_St12chars_format",
    "_ZSt8to_charsPcS_DF128_",
    "_ZSt8to_charsPcS_DF128_St12chars_format",
    "_ZSt8to_charsPcS_DF128_St12chars_formati",
}


def _mangled_function_symbols(path: Path) -> set[str]:
    """Every defined STT_FUNC symbol of ``path`` that looks mangled (.symtab, .dynsym)."""
    from usdtscan.demangle import is_mangled
    from usdtscan.elf import ElfFile
    from usdtscan.fileio import opened
    from usdtscan.symbols import SymbolKind, symbol_rows, symbol_tables

    names: set[str] = set()
    with opened(str(path)) as reader:
        elf = ElfFile(str(path), reader)
        for table in symbol_tables(elf):
            strings = elf.section_data(elf.sections[table.link])
            for at, info, _other, shndx, _value, _size in symbol_rows(elf, table):
                if info & 0xF == SymbolKind.FUNC and shndx and strings[at] == ord("_"):
                    name = strings[at : strings.index(b"\0", at)].decode()
                    if is_mangled(name):
                        names.add(name)
    return names


@pytest.mark.corpus
def test_every_mangled_function_symbol_of_the_corpus_reads_as_cxxfilt_prints() -> None:
    """Not only the probes' functions: every mangled function symbol of the corpus'
    ELF files (73,573 distinct, versioned ``name@@GLIBCXX_3.4`` ones included)."""
    binaries = corpus_binaries()
    if not binaries:
        pytest.skip(f"corpus not fetched into {CORPUS}")
    symbols = sorted(set().union(*(_mangled_function_symbols(p) for p in binaries)))
    assert len(symbols) >= 73_000
    printed = cxxfilt(symbols)
    differ = {
        symbol
        for symbol, theirs in zip(symbols, printed, strict=True)
        if (demangle(symbol) or symbol) != theirs
    }
    assert differ <= OLDER_RUNTIME
    versioned = "_ZNKSs11_M_disjunctEPKc@@GLIBCXX_3.4.5"
    assert versioned in symbols
    assert demangle(versioned) == (
        "std::basic_string<char, std::char_traits<char>, std::allocator<char> >"
        "::_M_disjunct(char const*) const@@GLIBCXX_3.4.5"
    )


@pytest.mark.corpus
def test_libjvm_listing_reads_as_gdb_does() -> None:
    """Every site's function and offset as GDB's ``info symbol`` names that address."""
    path = corpus_file(LIBJVM)
    gdb = shutil.which("gdb") or tool("gdb-multiarch")
    sites = reports(path)
    assert len(sites) == 531
    commands = "".join(f"info symbol {report.site.address:#x}\n" for report in sites)
    script = Path(os.environ.get("TMPDIR", "/tmp")) / f"usdtscan-gdb-{os.getpid()}.cmds"
    script.write_text(commands)
    try:
        out = subprocess.run(
            [gdb, "-nx", "-batch", "-x", str(script), str(path)],
            capture_output=True,
            text=True,
            timeout=300,
        ).stdout.splitlines()
    finally:
        script.unlink()
    assert len(out) == len(sites)
    ours = []
    for report in sites:
        function = report.site.function
        assert function is not None
        name, _, offset = function.rpartition("+0x")
        shown = report.function_name_demangled or name
        number = int(offset, 16)
        where = f"{shown} + {number}" if number else shown
        ours.append(f"{where} in section .text")
    assert ours == out
    readable = {report.function_name_demangled for report in sites} - {None}
    assert "ClassLoadingService::notify_class_loaded(InstanceKlass*, bool)" in readable
    assert len(readable) == 29


# -- Rust ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [(RUST_LEGACY, RUST_LEGACY_FUNCTIONS), (RUST_V0, RUST_V0_FUNCTIONS)],
    ids=["legacy", "v0"],
)
def test_rust_functions_read_as_rustfilt_prints(path: Path, expected: dict[str, set[str]]) -> None:
    found: dict[str, set[str]] = {}
    for report in reports(path):
        found.setdefault(report.site.name, set()).add(report.function_name_demangled or "")
    assert found == expected


@pytest.mark.parametrize("path", [RUST_LEGACY, RUST_V0], ids=["legacy", "v0"])
def test_rust_functions_agree_with_nm_and_cxxfilt(path: Path) -> None:
    """``nm -C`` prints rustfilt's form; ``c++filt`` adds the hash (legacy) and the
    crate disambiguators (v0), which is all that separates it from ours."""
    shown = nm_demangled(path)
    sites = mangled_sites(path)
    assert len(sites) == 8
    symbols = [s.site.function_name or "" for s in sites]
    full = cxxfilt(symbols)
    for site, symbol, verbose in zip(sites, symbols, full, strict=True):
        ours = site.function_name_demangled
        short = re.sub(r"::h[0-9a-f]{16}$", "", re.sub(r"\[[0-9a-f]+\]", "", verbose))
        if "$u" in shown[symbol]:
            # binutils 2.40 leaves legacy "$uf6$" escapes as they are; rustc-demangle
            # decodes them (the v0 name of the same function reads the same).
            assert ours == "probes::größe"
            continue
        assert ours == shown[symbol]
        assert ours == short


# -- what the library gives --------------------------------------------------------------


def test_names_that_are_not_mangled_give_none() -> None:
    assert demangle("_PyEval_EvalFrameDefault") is None
    assert demangle("_RAISE_SYNTAX_ERROR_INVALID_TARGET") is None  # CPython, not Rust v0
    assert demangle("_Znot_a_name") is None
    assert demangle_function(None) is None
    assert demangle_function("main+0x4") is None
    report = reports(C_SAMPLE)[0]
    assert report.site.function is not None
    assert report.function_demangled is None
    assert report.function_name_demangled is None
    plain = scan(CXX).analyze(demangle=False).sites
    assert [s.function_demangled for s in plain] == [None] * 4
    assert all(s.site.function_name.startswith("_Z") for s in plain if s.site.function_name)


def test_without_parameters_keeps_the_qualified_name() -> None:
    names = {s.site.name: s.function_name_demangled or "" for s in reports(CXX)}
    assert without_parameters(names["add"]) == "usdt_fixture::Counter::operator+="
    assert without_parameters(names["report"]) == "main::{lambda(int)#1}::operator()"
    assert without_parameters(names["name"]) == "usdt_fixture::name_length"
    assert without_parameters(names["lookup"]) == (
        "usdt_fixture::storage::LookupTableWithAVeryDescriptiveName<std::__cxx11::basic_string"
        "<char, std::char_traits<char>, std::allocator<char> >, long>::find_entry_or_default"
    )
    assert without_parameters("probes::server::handle_request") == "probes::server::handle_request"


def test_function_globs_match_either_form() -> None:
    symbol = "_ZN12usdt_fixture7CounterpLEl.isra.0"
    assert function_matches(symbol, ["usdt_fixture::Counter::*"])
    assert function_matches(symbol, ["usdt_fixture::Counter::operator+="])
    assert function_matches(symbol, ["_ZN12usdt_fixture7Counter*"])
    assert not function_matches(symbol, ["Counter::*"])
    assert not function_matches(None, ["*"])


def test_elide_keeps_both_ends() -> None:
    name = "GCMemoryManager::gc_end(bool, bool, bool, bool, GCCause::Cause, bool, char const*)"
    short = elide(name, FUNCTION_WIDTH)
    assert len(short) == FUNCTION_WIDTH
    assert short == "GCMemoryManager::gc_end(bool, bool, bool,..., bool, char const*)"
    assert elide("JavaThread::run()", FUNCTION_WIDTH) == "JavaThread::run()"


# -- the command ----------------------------------------------------------------------


def test_table_shows_demangled_names_and_elides_long_ones() -> None:
    result = run(str(CXX_OLDABI))
    assert result.returncode == 0, result.stderr
    assert "usdt_fixture::Counter::operator+=(long) [clone .isra.0]" in result.stdout
    assert "_ZN12usdt_fixture" not in result.stdout
    lookup = next(line for line in result.stdout.splitlines() if "  lookup  " in line)
    cell = lookup.split("  ")[3]
    assert cell == "usdt_fixture::storage::LookupTableWithAVe...onst [clone .isra.0]"
    assert len(cell) == FUNCTION_WIDTH


def test_verbose_shows_the_whole_name_and_the_symbol() -> None:
    result = run("-v", "--function", "*find_entry_or_default", str(CXX_OLDABI))
    assert result.returncode == 0, result.stderr
    assert (
        "in usdt_fixture::storage::LookupTableWithAVeryDescriptiveName<std::basic_string<char,"
        " std::char_traits<char>, std::allocator<char> >, long>::find_entry_or_default("
        "std::basic_string<char, std::char_traits<char>, std::allocator<char> > const&, long,"
        " unsigned long) const [clone .isra.0]+0x0 (symbol _ZNK12usdt_fixture7storage35"
        "LookupTableWithAVeryDescriptiveNameISslE21find_entry_or_defaultERKSslm.isra.0+0x0)"
    ) in result.stdout


def test_no_demangle_shows_symbols_as_stored() -> None:
    result = run("--no-demangle", str(RUST_V0))
    assert result.returncode == 0, result.stderr
    assert "_RNvNtCsl7VXQwk7C92_6probes6server14handle_request" in result.stdout
    assert "probes::server::handle_request" not in result.stdout
    # Shown as they are: a symbol is never elided.
    assert (
        "_RNSNvYNCNvCsl7VXQwk7C92_6probes4main0INtNtNtCsgEmfK2I1SDS_4core3ops8function6"
        "FnOnceTyEE9call_once6vtableB8_"
    ) in result.stdout


def test_json_keeps_the_symbol_and_adds_the_demangled_name() -> None:
    document = json.loads(run("--json", str(RUST_V0)).stdout)
    (request,) = [s for s in document["files"][0]["probes"] if s["name"] == "request"]
    assert request["function"] == "_RNvNtCsl7VXQwk7C92_6probes6server14handle_request+0x0"
    assert request["function_demangled"] == "probes::server::handle_request+0x0"
    plain = json.loads(run("--json", "--no-demangle", str(RUST_V0)).stdout)
    assert {s["function_demangled"] for s in plain["files"][0]["probes"]} == {None}
    c_only = json.loads(run("--json", str(C_SAMPLE)).stdout)
    assert {s["function_demangled"] for s in c_only["files"][0]["probes"]} == {None}


@pytest.mark.parametrize(
    ("pattern", "names"),
    [
        ("probes::server::*", {"request"}),
        ("<probes::Worker as probes::Handler>::on_event", {"event"}),
        ("probes::process::<u*>", {"process"}),
        ("*{closure#0}*", {"closure"}),
        ("_RNvNtCs*handle_request", {"request"}),
        ("nothing::*", set()),
    ],
)
def test_function_filter_matches_demangled_or_raw(pattern: str, names: set[str]) -> None:
    document = json.loads(run("--json", "--function", pattern, str(RUST_V0)).stdout)
    assert {s["name"] for s in document["files"][0]["probes"]} == names


def test_function_and_probe_filters_combine() -> None:
    both = json.loads(
        run("--json", "--function", "probes::*", "-p", "rusty:p*", str(RUST_V0)).stdout
    )
    sites = both["files"][0]["probes"]
    assert sorted(s["function_demangled"] for s in sites) == [
        "probes::process::<u32>+0x2",
        "probes::process::<u8>+0x4",
    ]
    either = json.loads(
        run(
            "--json", "--function", "*::on_event", "--function", "*handle_request", str(RUST_V0)
        ).stdout
    )
    assert {s["name"] for s in either["files"][0]["probes"]} == {"event", "request"}


@pytest.mark.corpus
def test_function_filter_on_libjvm() -> None:
    path = corpus_file(LIBJVM)
    result = run("--function", "CompileBroker::*", str(path))
    assert result.returncode == 0, result.stderr
    rows = result.stdout.splitlines()[2:]
    assert [row.split()[3] for row in rows] == ["method__compile__begin", "method__compile__end"]
    assert all("CompileBroker::invoke_compiler_on_method(CompileTask*)" in row for row in rows)


# -- loaded only when needed ------------------------------------------------------------

_MODULES = """
import sys
from usdtscan.cli import main
main(sys.argv[1:])
print(sorted(m for m in ("usdtscan.demangle", "cxxfilt", "pyderust") if m in sys.modules))
"""


@pytest.mark.parametrize(
    ("path", "loaded"),
    [
        (C_SAMPLE, []),
        (RUST_V0, ["pyderust", "usdtscan.demangle"]),
        (CXX, ["cxxfilt", "usdtscan.demangle"]),
    ],
    ids=["c", "rust-v0", "cxx"],
)
def test_demanglers_load_only_for_mangled_names(path: Path, loaded: list[str]) -> None:
    for form in ([], ["--json"], ["-v"]):
        result = subprocess.run(
            [sys.executable, "-c", _MODULES, *form, str(path)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.splitlines()[-1] == repr(loaded)
