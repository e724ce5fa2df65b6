"""The consumer verdicts proven against the programs themselves.

Every distinct argument string of the fixtures and the corpus is fed to:

* libbpf's own parser (1.5.0 and 1.7.0 from Debian's source packages), built
  for and run on each architecture libbpf supports (qemu-user when foreign);
* bcc's ``tplist -vv`` and bpftrace 0.17 (bcc's parser), on x86-64 files;
* ``perf probe --dry-run``, on the x86-64 corpus (perf needs a build ID).

Each test asserts agreement with usdtscan's verdict and names every
disagreement it explains; docs/checks.rst gives the table these print.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

from usdtscan.args.consumers import BCC_SYMBOL_FAILS, libbpf, perf_converts, versioned_verdicts
from usdtscan.args.decode import DecodedArgument, decode, decode_argument
from usdtscan.args.location import Memory
from usdtscan.model import Argument, ScannedFile
from usdtscan.scan import scan

from . import consumer_tools as tools
from . import libbpf_parser
from .conftest import FIXTURE_BIN, corpus_binaries

X86_FIXTURES = [
    FIXTURE_BIN / "x86_64" / "probes-O0",
    FIXTURE_BIN / "x86_64" / "probes-O2",
    FIXTURE_BIN / "x86_64-pie" / "probes-O0",
    FIXTURE_BIN / "x86_64-pie" / "probes-O2",
    FIXTURE_BIN / "x86_64-so" / "libprobes-O0.so",
    FIXTURE_BIN / "x86_64-so" / "libprobes-O2.so",
    FIXTURE_BIN / "lint" / "x86_64" / "lint",
]


def _scanned_files() -> list[ScannedFile]:
    paths = [p for p in FIXTURE_BIN.rglob("*") if p.is_file() and not p.name.endswith(".txt")]
    out = []
    for path in sorted(paths) + corpus_binaries():
        scanned = scan(path, debug_dirs=None)
        if scanned.format == "elf" and scanned.sites:
            out.append(scanned)
    return out


@pytest.fixture(scope="module")
def arguments_by_machine() -> dict[str, dict[str, tuple[Argument, int]]]:
    """machine -> distinct argument string -> (the argument, the file's class)."""
    table: dict[str, dict[str, tuple[Argument, int]]] = defaultdict(dict)
    for scanned in _scanned_files():
        assert scanned.machine is not None and scanned.bits is not None
        for site in scanned.sites:
            for argument in site.args:
                table[scanned.machine].setdefault(argument.raw, (argument, scanned.bits))
    return table


def _arm_indexed(decoded: DecodedArgument) -> bool:
    location = decoded.location
    return isinstance(location, Memory) and location.index is not None


@pytest.mark.parametrize("machine", sorted(libbpf_parser.TARGETS))
@pytest.mark.parametrize("version", libbpf_parser.VERSIONS)
def test_libbpf_parser_agrees(
    machine: str,
    version: str,
    arguments_by_machine: dict[str, dict[str, tuple[Argument, int]]],
    tmp_path: Path,
) -> None:
    libbpf_parser.fetch_sources()
    why = libbpf_parser.available(machine)
    if why is not None:
        pytest.skip(why)
    table = arguments_by_machine[machine]
    assert table, f"no {machine} arguments in the fixtures"
    strings = sorted(table)
    binary = libbpf_parser.build(machine, version, tmp_path)
    results = libbpf_parser.run(binary, machine, strings)
    numeric = tuple(int(part) for part in version.split(".")[:2])
    assert len(numeric) == 2
    agree, explained, wrong = 0, [], []
    for text, parsed in zip(strings, results, strict=True):
        argument, bits = table[text]
        decoded = decode_argument(argument, machine, bits)
        ours = libbpf(decoded, machine, bits, version=(numeric[0], numeric[1]), parser_only=True)
        if ours.ok == parsed.ok:
            agree += 1
        elif machine == "arm" and parsed.ok and _arm_indexed(decoded):
            # libbpf's "[reg]" sscanf returns 2 after matching the base alone: it
            # "parses" [r2, r1] as [r2], with an unset length.  We call it unreadable.
            explained.append(text)
        else:
            wrong.append((text, ours, parsed.message))
    print(
        f"libbpf {version} {machine}: {len(strings)} arguments, {agree} agree, "
        f"{len(explained)} explained ({', '.join(explained)})"
    )
    assert wrong == []


def _bcc_expected(
    decoded: list[DecodedArgument], machine: str, bits: int, elf_type: str | None
) -> set[int]:
    """The argument numbers bcc shows: those before the first it cannot parse."""
    shown = set()
    for number, argument in enumerate(decoded, 1):
        verdict = versioned_verdicts(argument, machine, bits, elf_type)["bcc"]
        if not verdict.ok and not _bcc_lists_anyway(verdict.why or ""):
            break
        shown.add(number)
    return shown


def _bcc_lists_anyway(why: str) -> bool:
    """Verdicts about reading, not parsing: bcc parses and lists the argument.

    An 8-byte value in a 32-bit register pair parses; only its value is half.
    A symbol operand parses too; bcc's code generator then fails the whole probe
    (tests/test_attach.py).
    """
    return "register pair" in why or why == BCC_SYMBOL_FAILS


def _x86_files() -> list[Path]:
    """x86-64 and i386 (bcc's x86 parser reads both): fixtures and corpus."""
    corpus = [p for p in corpus_binaries() if "/amd64/" in str(p) or "/i386/" in str(p)]
    i386 = [FIXTURE_BIN / "i386" / "probes-O0", FIXTURE_BIN / "i386" / "probes-O2"]
    return X86_FIXTURES + i386 + corpus


@pytest.mark.skipif(not tools.tplist_available(), reason="bcc's tplist is not installed")
def test_bcc_tplist_agrees() -> None:
    per_machine: dict[str, list[int]] = {}
    wrong: list[object] = []
    explained: list[str] = []
    for path in _x86_files():
        scanned = scan(path, debug_dirs=None)
        machine, bits = scanned.machine, scanned.bits
        assert machine in ("x86_64", "i386") and bits is not None
        totals = per_machine.setdefault(machine, [0, 0])
        listed = tools.tplist_sites(path)
        order: dict[str, int] = defaultdict(int)
        for site in scanned.sites:
            index = order[site.probe_id]
            order[site.probe_id] += 1
            decoded = list(decode(site.args, machine, bits, symbols=scanned.symbols))
            expected = _bcc_expected(decoded, machine, bits, scanned.elf_type)
            shown = listed[site.probe_id][index]
            totals[0] += len(site.args)
            totals[1] += sum((n in expected) == (n in shown) for n in range(1, len(site.args) + 1))
            if expected == shown:
                continue
            extra = shown - expected
            whys = {n: versioned_verdicts(decoded[n - 1], machine, bits)["bcc"].why for n in extra}
            if extra and all("need a %rip base" in (w or "") for w in whys.values()):
                # bcc parses sym+disp(%reg,%reg) and lists it; its code generator
                # then refuses it (only a %rip base takes a symbol): unreadable.
                explained.append(f"{site.probe_id} {site.args_raw}")
            elif site.probe_id == "lint:split" and shown == {1}:
                # bcc gives every site the first site's argument count: the
                # sites-disagree finding, seen in bcc itself.
                explained.append(f"{site.probe_id} {site.args_raw}")
            else:
                wrong.append((path.name, site.probe_id, site.args_raw, expected, shown))
    for name, (total, agree) in sorted(per_machine.items()):
        print(f"bcc tplist {name}: {total} arguments, {agree} agree")
    print(f"explained: {explained}")
    assert set(per_machine) == {"x86_64", "i386"}
    assert wrong == []
    assert len(explained) == 2


@pytest.mark.skipif(
    tools.BPFTRACE is None or not tools.tplist_available(), reason="bpftrace or tplist missing"
)
def test_bpftrace_before_024_parses_as_bcc() -> None:
    """bpftrace 0.17 reports exactly bcc's parse errors: it is bcc's parser."""
    errors = 0
    for path in _x86_files():
        ours = tools.bpftrace_errors(path)
        assert ours == tools.tplist_errors(path), path
        errors += len(ours)
    assert errors > 0


@pytest.mark.skipif(tools.PERF is None, reason="perf is not installed")
def test_perf_probe_agrees(tmp_path: Path) -> None:
    files = [p for p in corpus_binaries() if "/amd64/" in str(p) and not p.name.endswith(".debug")]
    if not files:
        pytest.skip("corpus not fetched")
    agree = total = 0
    wrong = []
    for number, path in enumerate(files):
        scanned = scan(path, debug_dirs=None)
        if not scanned.sites:
            continue
        # A home per file: two copies with one build ID share perf's cache entry.
        home = tmp_path / str(number)
        events = tools.perf_events(path, {s.probe_id for s in scanned.sites}, home)
        for site in scanned.sites:
            assert site.file_offset is not None
            kept = events.get(site.probe_id, {}).get(site.file_offset)
            if kept is None:
                wrong.append((path.name, site.probe_id, "no event"))
                continue
            expected = {
                n
                for n, a in enumerate(decode(site.args, "x86_64", 64), 1)
                if perf_converts(a, "x86_64")
            }
            total += len(site.args)
            agree += sum((n in expected) == (n in kept) for n in range(1, len(site.args) + 1))
            if expected != kept:
                wrong.append((path.name, site.probe_id, site.args_raw, expected, kept))
    print(f"perf probe x86_64: {total} arguments, {agree} agree")
    assert wrong == []
