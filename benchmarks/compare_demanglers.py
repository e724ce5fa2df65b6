#!/usr/bin/env python3
"""Compare the PyPI demanglers with binutils' c++filt and nm -C, as docs/cli.rst reports.

    python benchmarks/compare_demanglers.py [FILE ...]

Reads every mangled function symbol (ELF ``STT_FUNC`` of ``.symtab`` and
``.dynsym``; Mach-O ``__text`` symbols) of the given files, by default every
file of ``$USDTSCAN_CORPUS`` and ``$USDTSCAN_MACHO`` plus
fixtures/bin/x86_64-demangle, and prints for each candidate how many names it
demangles exactly as ``c++filt`` does (C++ and Rust) and as ``nm -C`` does
(Rust: the form without hash and crate disambiguators).  Candidates that are
not installed are skipped: ``pip install cxxfilt itanium-demangler
cpp-demangle pydemumble pyderust rust-demangler``.  It also runs usdtscan's
own choice (usdtscan.demangle).  Not a test: the numbers depend on the
binutils and libstdc++ versions of the machine.
"""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
HOME = Path.home()
CORPUS = Path(os.environ.get("USDTSCAN_CORPUS", HOME / ".cache" / "usdtscan-corpus"))
MACHO = Path(os.environ.get("USDTSCAN_MACHO", HOME / ".cache" / "usdtscan-macho"))
RUST_LEGACY = re.compile(r"_ZN.*17h[0-9a-f]{16}E")
RUST_V0 = re.compile(r"_R[0-9]*[CMXYNIB]")

Demangler = Callable[[str], "str | None"]


def elf_symbols(path: Path) -> Iterable[str]:
    with path.open("rb") as stream:
        if stream.read(4) != b"\x7fELF":
            return
        stream.seek(0)
        for section in ELFFile(stream).iter_sections():
            if isinstance(section, SymbolTableSection):
                for symbol in section.iter_symbols():
                    if symbol["st_info"]["type"] == "STT_FUNC":
                        yield symbol.name.split("@")[0]


def macho_symbols(path: Path) -> Iterable[str]:
    from macholib.MachO import MachO
    from macholib.SymbolTable import SymbolTable

    for header in MachO(str(path)).headers:
        for entry, name in SymbolTable(MachO(str(path)), header).nlists:
            if entry.n_type & 0x0E == 0x0E and entry.n_sect == 1 and name.startswith(b"_"):
                yield name[1:].decode(errors="replace")


def symbols(paths: Iterable[Path]) -> list[str]:
    found: set[str] = set()
    for path in paths:
        try:
            with path.open("rb") as stream:
                magic = stream.read(4)
            reader = elf_symbols if magic == b"\x7fELF" else macho_symbols
            found.update(n for n in reader(path) if n.startswith("_Z") or RUST_V0.match(n))
        except Exception as exc:  # a corpus file we cannot read is reported, not fatal
            print(f"skipped {path}: {exc}", file=sys.stderr)
    return sorted(found)


def run_filter(command: list[str], names: list[str]) -> list[str]:
    out = subprocess.run(
        command, input="".join(f"{n}\n" for n in names), text=True, capture_output=True, check=True
    ).stdout.splitlines()
    assert len(out) == len(names)
    return out


def nm_pairs(paths: Iterable[Path]) -> dict[str, str]:
    """Symbol -> ``nm -C`` name (binutils without DMGL_VERBOSE: rustfilt's form of
    Rust names, no hash, no crate disambiguators) for the function symbols of
    the ELF files among ``paths``, from ``.symtab`` and ``.dynsym``."""
    pairs: dict[str, str] = {}
    for path in paths:
        for dynamic in ([], ["-D"]):
            plain = subprocess.run(
                ["nm", "-p", *dynamic, str(path)], capture_output=True, text=True
            ).stdout.splitlines()
            shown = subprocess.run(
                ["nm", "-p", "-C", *dynamic, str(path)], capture_output=True, text=True
            ).stdout.splitlines()
            if len(plain) != len(shown):
                continue
            for raw, readable in zip(plain, shown, strict=True):
                fields = raw.split(maxsplit=2)
                if len(fields) == 3 and fields[1] in "tTwWi":
                    pairs.setdefault(fields[2], readable.split(maxsplit=2)[2])
    return pairs


def candidates() -> dict[str, Demangler]:
    found: dict[str, Demangler] = {}

    def guarded(call: Callable[[str], str]) -> Demangler:
        def demangle(name: str) -> str | None:
            try:
                return call(name) or None
            except Exception:
                return None

        return demangle

    for module, label, attribute in (
        ("cxxfilt", "cxxfilt", "demangle"),
        ("cpp_demangle", "cpp-demangle", "demangle"),
        ("pydemumble", "pydemumble", "demangle"),
        ("rust_demangler", "rust-demangler", "demangle"),
    ):
        try:
            found[label] = guarded(getattr(importlib.import_module(module), attribute))
        except ImportError:
            print(f"{label}: not installed", file=sys.stderr)
    try:
        import itanium_demangler

        found["itanium-demangler"] = guarded(lambda n: str(itanium_demangler.parse(n)))
    except ImportError:
        print("itanium-demangler: not installed", file=sys.stderr)
    try:
        import pyderust

        found["pyderust"] = guarded(pyderust.demangle)
        found["pyderust (include_hash)"] = guarded(
            lambda n: pyderust.demangle(n, include_hash=True)
        )
    except ImportError:
        print("pyderust: not installed", file=sys.stderr)
    from usdtscan.demangle import demangle

    found["usdtscan.demangle"] = demangle
    return found


def compare(title: str, names: list[str], oracle: str, reference: list[str]) -> None:
    known = [(n, r) for n, r in zip(names, reference, strict=True) if n != r]
    print(f"\n{title}: {len(names)} names, {oracle} demangles {len(known)}")
    for label, demangle in candidates().items():
        agree = sum(demangle(name) == ref for name, ref in known)
        print(f"  {label:<26} {agree:>7} agree with {oracle}")


def main() -> int:
    paths = [Path(p) for p in sys.argv[1:]]
    if not paths:
        paths = [p for p in CORPUS.rglob("*") if p.is_file() and ".fetch" not in p.parts]
        paths = [p for p in paths if not p.name.endswith(".txt")]
        paths += sorted(MACHO.glob("node-*"))
        paths += sorted((REPO / "fixtures" / "bin" / "x86_64-demangle").glob("probes-*[!t]"))
    names = symbols(paths)
    rust_v0 = [n for n in names if RUST_V0.match(n)]
    rust_legacy = [n for n in names if RUST_LEGACY.match(n)]
    cxx = [n for n in names if n.startswith("_Z") and not RUST_LEGACY.match(n)]
    compare("C++", cxx, "c++filt", run_filter(["c++filt"], cxx))
    rust_files = (
        [p for p in paths if p.read_bytes()[:4] == b"\x7fELF"] if rust_v0 or rust_legacy else []
    )
    shown = nm_pairs(rust_files)
    for title, group in (("Rust legacy", rust_legacy), ("Rust v0", rust_v0)):
        if group:
            compare(title, group, "c++filt", run_filter(["c++filt"], group))
            compare(title, group, "nm -C", [shown.get(n, n) for n in group])
    return 0


if __name__ == "__main__":
    sys.exit(main())
