"""Hostile input: a corpus of broken files built from the real fixtures at test time.

Every truncation point of the headers, header tables and note section of
three fixtures (64-bit little-endian, 32-bit, 64-bit big-endian), bit flips,
lying note sizes, extended section numbering, wrong string-table indexes,
tables past the end of the file, overlapping and 4 GiB sections, a DOF
header with a huge count, a fat Mach-O header with 2**31 slices, and every
file the fuzzers found (tests/fuzz/regressions/).  Each one must give a
:class:`UsdtscanError` or a (partial) result that renders, never another
exception, in under a second, and the whole batch must not allocate much
more than scanning the pristine files does: the batch runs in a child
process whose peak RSS comes from ``wait4``.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import struct
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from usdtscan.elf import ElfFile, SectionType

from .conftest import FIXTURE_BIN, REPO
from .fuzz.seeds import DOF_SEEDS, macho_seeds, sunw_dof_seed

REGRESSIONS = Path(__file__).resolve().parent / "fuzz" / "regressions"
TRUNCATED = [
    FIXTURE_BIN / "x86_64" / "probes-O2",
    FIXTURE_BIN / "i386" / "probes-O2",
    FIXTURE_BIN / "ppc64" / "probes-O2",
]
MAX_SECONDS = 1.0
# Peak RSS may exceed that of scanning the pristine files by this much:
# far below what any 4 GiB claim would cost if it were believed.
RSS_SLACK_MIB = 48


@dataclass(frozen=True)
class Case:
    name: str
    data: bytes
    kind: str = "file"  # "file": usdtscan.scan; "dof": usdtscan.dof.decode


# -- the runner (in a child process) -------------------------------------------


def _outcome(case: Case, path: Path) -> tuple[str, int]:
    from usdtscan import UsdtscanError
    from usdtscan.dof import decode
    from usdtscan.render import json as json_render
    from usdtscan.render import readelf, text
    from usdtscan.scan import scan

    try:
        if case.kind == "dof":
            blob = decode(case.data, case.name)
            return "ok", sum(len(p.probes) for p in blob.providers)
        scanned = scan(path, debug_dirs=None)
    except UsdtscanError as exc:
        if not str(exc).startswith(f"{path if case.kind == 'file' else case.name}: "):
            return f"BUG: message does not name the file: {exc}", 0
        return "error", 0
    json.loads(json_render.render([scanned.analyze()]))
    text.render([scanned.analyze()], verbose=True)
    readelf.render([scanned])
    return ("partial" if scanned.error else "ok"), len(scanned.sites)


def run_batch(corpus: str, results_file: str) -> None:
    """Scan every case of ``CORPORA[corpus]``, built one at a time so that
    the corpus itself does not count in the peak RSS; write
    {name: [outcome, sites, seconds]}."""
    results: dict[str, tuple[str, int, float]] = {}
    scratch_root = "/dev/shm" if os.path.isdir("/dev/shm") else None
    with tempfile.TemporaryDirectory(dir=scratch_root) as scratch:
        path = Path(scratch) / "case"
        for case in CORPORA[corpus]():
            path.write_bytes(case.data)
            start = time.perf_counter()
            try:
                outcome, sites = _outcome(case, path)
            except Exception:  # what this test looks for
                outcome, sites = "BUG: " + traceback.format_exc(limit=-3), 0
            results[case.name] = (outcome, sites, time.perf_counter() - start)
    Path(results_file).write_text(json.dumps(results))


def run_in_child(corpus: str, tmp: Path) -> tuple[dict[str, list[object]], float]:
    """The results of :func:`run_batch` in a fresh interpreter, and its peak RSS in MiB."""
    results_file = tmp / "results.json"
    code = "import sys; from tests.test_hostile import run_batch; run_batch(*sys.argv[1:])"
    child = subprocess.Popen([sys.executable, "-c", code, corpus, str(results_file)], cwd=REPO)
    _pid, status, usage = os.wait4(child.pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    results: dict[str, list[object]] = json.loads(results_file.read_text())
    return results, usage.ru_maxrss / 1024


# -- building the corpus -------------------------------------------------------


def _elf_layout(data: bytes) -> tuple[ElfFile, str, int, int]:
    elf = ElfFile("seed", data)
    order = "<" if elf.endian == "little" else ">"
    shdr = 64 if elf.bits == 64 else 40
    phdr = 56 if elf.bits == 64 else 32
    return elf, order, shdr, phdr


def truncations(path: Path) -> Iterator[Case]:
    """Every truncation point inside the ELF header, the program and section
    header tables and the stapsdt note section."""
    data = path.read_bytes()
    elf, _order, shdr, phdr = _elf_layout(data)
    note = elf.section_by_name(".note.stapsdt")
    assert note is not None
    ranges = [
        range(0, 64),
        range(elf.e_phoff, elf.e_phoff + phdr * len(elf.segments)),
        range(elf.e_shoff, min(len(data), elf.e_shoff + shdr * len(elf.sections))),
        range(note.offset, note.offset + note.size),
    ]
    points = sorted({point for span in ranges for point in span})
    label = f"{path.parent.name}/{path.name}"
    for point in points:
        yield Case(f"truncate {label} at {point}", data[:point])


def bit_flips(path: Path, count: int, seed: int) -> Iterator[Case]:
    """Every bit of the ELF header, and ``count`` random bits of the tables and notes."""
    data = path.read_bytes()
    elf, _order, shdr, _phdr = _elf_layout(data)
    note = elf.section_by_name(".note.stapsdt")
    assert note is not None
    label = f"{path.parent.name}/{path.name}"
    for bit in range(64 * 8):
        flipped = bytearray(data)
        flipped[bit // 8] ^= 1 << (bit % 8)
        yield Case(f"flip {label} header bit {bit}", bytes(flipped))
    spots = [
        *range(elf.e_shoff, elf.e_shoff + shdr * len(elf.sections)),
        *range(note.offset, note.offset + note.size),
    ]
    rng = random.Random(seed)
    for i in range(count):
        flipped = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            flipped[rng.choice(spots)] ^= 1 << rng.randint(0, 7)
        yield Case(f"flip {label} random {i}", bytes(flipped))


def _section_field(elf: ElfFile, index: int, field: str) -> tuple[int, str]:
    """(file offset, struct code) of a field of section header ``index``."""
    fields64 = {"offset": (0x18, "Q"), "size": (0x20, "Q"), "link": (0x28, "I"), "type": (4, "I")}
    fields32 = {"offset": (0x10, "I"), "size": (0x14, "I"), "link": (0x18, "I"), "type": (4, "I")}
    at, code = (fields64 if elf.bits == 64 else fields32)[field]
    return elf.e_shoff + index * elf.e_shentsize + at, code


def _patched(data: bytes, order: str, *edits: tuple[int, str, int]) -> bytes:
    out = bytearray(data)
    for offset, code, value in edits:
        struct.pack_into(
            order + code, out, offset, value & ((1 << (8 * struct.calcsize(code))) - 1)
        )
    return bytes(out)


def crafted_elf(path: Path) -> list[Case]:
    """The named attacks on section headers and notes of one fixture."""
    data = path.read_bytes()
    elf, order, _shdr, _phdr = _elf_layout(data)
    wide = elf.bits == 64
    e_shoff, e_shnum, e_shstrndx = (0x28, 0x3C, 0x3E) if wide else (0x20, 0x30, 0x32)
    off_code = "Q" if wide else "I"
    note = elf.section_by_name(".note.stapsdt")
    text_section = elf.section_by_name(".text")
    symtab = elf.section_by_name(".symtab")
    assert note is not None and text_section is not None and symtab is not None
    count = len(elf.sections)
    shstrndx = next(s.index for s in elf.sections if s.name == ".shstrtab")
    note_off, note_code = _section_field(elf, note.index, "offset")
    note_size, size_code = _section_field(elf, note.index, "size")
    sym_size, _ = _section_field(elf, symtab.index, "size")
    zero_size, _ = _section_field(elf, 0, "size")
    zero_link, _ = _section_field(elf, 0, "link")
    cases = [
        # Extended numbering, done right: the same file.
        Case(
            "extended e_shnum",
            _patched(data, order, (e_shnum, "H", 0), (zero_size, size_code, count)),
        ),
        Case(
            "extended e_shstrndx",
            _patched(data, order, (e_shstrndx, "H", 0xFFFF), (zero_link, "I", shstrndx)),
        ),
        # ... and lying.
        Case(
            "e_shnum 0, huge sh_size",
            _patched(data, order, (e_shnum, "H", 0), (zero_size, size_code, 2**32 - 1)),
        ),
        Case(
            "e_shnum 0, sh_size 0",
            _patched(data, order, (e_shnum, "H", 0), (zero_size, size_code, 0)),
        ),
        Case(
            "e_shstrndx xindex, huge link",
            _patched(data, order, (e_shstrndx, "H", 0xFFFF), (zero_link, "I", 2**32 - 1)),
        ),
        Case("e_shstrndx xindex, no link", _patched(data, order, (e_shstrndx, "H", 0xFFFF))),
        # Wrong string-table index.
        Case("e_shstrndx 0", _patched(data, order, (e_shstrndx, "H", 0))),
        Case("e_shstrndx .text", _patched(data, order, (e_shstrndx, "H", text_section.index))),
        Case("e_shstrndx .note.stapsdt", _patched(data, order, (e_shstrndx, "H", note.index))),
        Case("e_shstrndx past table", _patched(data, order, (e_shstrndx, "H", count + 5))),
        # Section table past the end of the file.
        Case("e_shoff near EOF", _patched(data, order, (e_shoff, off_code, len(data) - 10))),
        Case("e_shoff at EOF", _patched(data, order, (e_shoff, off_code, len(data)))),
        Case("e_shoff max", _patched(data, order, (e_shoff, off_code, 2**64 - 1))),
        Case("e_shnum 0xfeff", _patched(data, order, (e_shnum, "H", 0xFEFF))),
        Case("e_shentsize 0", _patched(data, order, (0x3A if wide else 0x2E, "H", 0))),
        # Overlapping sections.
        Case("note over .text", _patched(data, order, (note_off, note_code, text_section.offset))),
        Case(
            "note over section headers", _patched(data, order, (note_off, note_code, elf.e_shoff))
        ),
        Case("note over ELF header", _patched(data, order, (note_off, note_code, 0))),
        Case(
            "symtab over note",
            _patched(
                data,
                order,
                (_section_field(elf, symtab.index, "offset")[0], note_code, note.offset),
            ),
        ),
        # Zero-length and 4 GiB-claimed sections.
        Case("note size 0", _patched(data, order, (note_size, size_code, 0))),
        Case("note size 4 GiB", _patched(data, order, (note_size, size_code, 2**32 - 1))),
        Case("note size 2**64-1", _patched(data, order, (note_size, size_code, 2**64 - 1))),
        Case("note offset 2**64-16", _patched(data, order, (note_off, note_code, 2**64 - 16))),
        Case("symtab size 4 GiB", _patched(data, order, (sym_size, size_code, 2**32 - 1))),
        Case(
            "note is NOBITS",
            _patched(
                data, order, (_section_field(elf, note.index, "type")[0], "I", SectionType.NOBITS)
            ),
        ),
    ]
    # Note sizes that overflow or point past the section, for the first notes.
    at = note.offset
    for i in range(3):
        namesz, descsz = struct.unpack_from(order + "II", data, at)
        for field, delta in (("namesz", 0), ("descsz", 4)):
            for value in (2**32 - 1, 2**31, note.size, note.size + 1, 0):
                cases.append(
                    Case(
                        f"note {i} {field}={value:#x}",
                        _patched(data, order, (at + delta, "I", value)),
                    )
                )
        at += 12 + (namesz + 3) // 4 * 4 + (descsz + 3) // 4 * 4
    # Program headers past the end, and a huge e_phnum.
    e_phoff, e_phnum = (0x20, 0x38) if wide else (0x1C, 0x2C)
    cases.append(Case("e_phoff max", _patched(data, order, (e_phoff, off_code, 2**64 - 1))))
    cases.append(Case("e_phnum 0xffff", _patched(data, order, (e_phnum, "H", 0xFFFF))))
    return [Case(f"{path.parent.name}: {c.name}", c.data) for c in cases]


def dof_cases() -> list[Case]:
    """Raw DOF blobs of the real node binaries with lying header and section counts,
    and the same lies inside an ELF ``.SUNW_dof`` section."""
    cases = []
    for seed in DOF_SEEDS:
        blob = seed.read_bytes()
        order = "<" if blob[5] == 1 else ">"  # DOF_ID_ENCODING
        secsize, secnum = struct.unpack_from(order + "II", blob, 24)
        edits = {
            "secnum 0xffffffff": [(28, "I", 2**32 - 1)],
            "secnum 2**31": [(28, "I", 2**31)],
            "secsize 0": [(24, "I", 0)],
            "secsize huge": [(24, "I", 2**32 - 1)],
            "secoff max": [(32, "Q", 2**64 - 1)],
            "loadsz huge": [(40, "Q", 2**63)],
            "filesz huge": [(48, "Q", 2**64 - 1)],
            "hdrsize huge": [(20, "I", 2**32 - 1)],
        }
        secoff = struct.unpack_from(order + "Q", blob, 32)[0]
        for i in range(secnum):
            base = secoff + i * secsize
            edits[f"section {i} size 4 GiB"] = [(base + 24, "Q", 2**32 - 1)]
            edits[f"section {i} offset max"] = [(base + 16, "Q", 2**64 - 1)]
            edits[f"section {i} entsize 0"] = [(base + 12, "I", 0)]
            edits[f"section {i} entsize 1"] = [(base + 12, "I", 1)]
        for name, patch in edits.items():
            cases.append(Case(f"{seed.stem} {name}", _patched(blob, order, *patch), "dof"))
        for point in range(0, len(blob), 7):
            cases.append(Case(f"{seed.stem} truncated at {point}", blob[:point], "dof"))
    elf = sunw_dof_seed()
    at = elf.find(b"\x7fDOF")
    assert at > 0
    cases.append(Case("SUNW_dof secnum huge", _patched(elf, "<", (at + 28, "I", 2**32 - 1))))
    cases.append(Case("SUNW_dof secsize 0", _patched(elf, "<", (at + 24, "I", 0))))
    return cases


def macho_cases() -> list[Case]:
    x86, _arm, fat = macho_seeds()
    cases = [
        Case("fat 2**31 slices", struct.pack(">II", 0xCAFEBABE, 2**31) + fat[8:]),
        Case("fat64 2**31 slices", struct.pack(">II", 0xCAFEBABF, 2**31) + fat[8:]),
        Case("fat 30 slices", struct.pack(">II", 0xCAFEBABE, 30) + fat[8:]),
        Case("fat slice offset max", fat[:16] + struct.pack(">I", 2**32 - 1) + fat[20:]),
        Case("fat slice size max", fat[:20] + struct.pack(">I", 2**32 - 1) + fat[24:]),
        Case("fat slice size 0", fat[:20] + struct.pack(">I", 0) + fat[24:]),
        Case("thin ncmds huge", x86[:16] + struct.pack("<I", 2**32 - 1) + x86[20:]),
        Case("thin sizeofcmds huge", x86[:20] + struct.pack("<I", 2**32 - 1) + x86[24:]),
        Case("thin ncmds 0", x86[:16] + struct.pack("<I", 0) + x86[20:]),
    ]
    for point in range(0, 200):
        cases.append(Case(f"thin truncated at {point}", x86[:point]))
    dof_at = x86.find(b"\x7fDOF")
    assert dof_at > 0
    cases.append(Case("thin DOF secnum huge", _patched(x86, "<", (dof_at + 28, "I", 2**32 - 1))))
    cases.append(Case("thin DOF truncated", x86[: dof_at + 40]))
    return cases


def regression_cases() -> list[Case]:
    return [
        Case(f"regression {p.name}", p.read_bytes())
        for p in sorted(REGRESSIONS.iterdir())
        if p.suffix != ".md"
    ]


def pristine_cases() -> Iterator[Case]:
    for path in TRUNCATED:
        yield Case(str(path), path.read_bytes())
    for i, image in enumerate(macho_seeds()):
        yield Case(f"macho {i}", image)
    for path in DOF_SEEDS:
        yield Case(str(path), path.read_bytes(), "dof")


CORPORA: dict[str, Callable[[], Iterable[Case]]] = {
    "pristine": pristine_cases,
    "truncations": lambda: (case for path in TRUNCATED for case in truncations(path)),
    "flips": lambda: itertools.chain(
        bit_flips(TRUNCATED[0], 600, seed=6), bit_flips(TRUNCATED[2], 300, seed=7)
    ),
    "crafted": lambda: (case for path in TRUNCATED for case in crafted_elf(path)),
    "dof-macho": lambda: itertools.chain(dof_cases(), macho_cases()),
    "regressions": regression_cases,
}


# -- the tests -----------------------------------------------------------------


@pytest.fixture(scope="module")
def baseline_rss(tmp_path_factory: pytest.TempPathFactory) -> float:
    """Peak RSS of scanning and rendering the pristine files in a child."""
    results, rss = run_in_child("pristine", tmp_path_factory.mktemp("pristine"))
    assert {outcome for outcome, _sites, _seconds in results.values()} == {"ok"}  # type: ignore[misc]
    return rss


def check(results: dict[str, list[object]], rss: float, baseline: float) -> dict[str, str]:
    bugs = {name: str(r[0]) for name, r in results.items() if str(r[0]).startswith("BUG")}
    assert not bugs, "\n".join(f"{name}: {why}" for name, why in list(bugs.items())[:5])
    slow = {name: r[2] for name, r in results.items() if float(r[2]) > MAX_SECONDS}  # type: ignore[arg-type]
    assert not slow, slow
    assert rss < baseline + RSS_SLACK_MIB, (rss, baseline)
    return {name: str(r[0]) for name, r in results.items()}


def test_every_truncation_point(tmp_path: Path, baseline_rss: float) -> None:
    results, rss = run_in_child("truncations", tmp_path)
    assert len(results) > 6000
    outcomes = check(results, rss, baseline_rss)
    # The section header table is at the end of these files, so every cut
    # loses it: an error, never a silently short listing.
    assert set(outcomes.values()) == {"error"}


def test_bit_flips(tmp_path: Path, baseline_rss: float) -> None:
    results, rss = run_in_child("flips", tmp_path)
    assert len(results) == 2 * 512 + 900
    outcomes = check(results, rss, baseline_rss)
    assert set(outcomes.values()) >= {"ok", "error"}


def test_crafted_headers_and_notes(tmp_path: Path, baseline_rss: float) -> None:
    results, rss = run_in_child("crafted", tmp_path)
    outcomes = check(results, rss, baseline_rss)
    pristine_sites = {p.parent.name: _sites(p) for p in TRUNCATED}
    for target, sites in pristine_sites.items():
        # Extended numbering is legal: same sites as the original.
        for name in ("extended e_shnum", "extended e_shstrndx"):
            assert results[f"{target}: {name}"][:2] == ["ok", sites], name
        for name in (
            "e_shoff max",
            "e_shoff at EOF",
            "e_shnum 0, huge sh_size",
            "e_shnum 0xfeff",
        ):
            assert outcomes[f"{target}: {name}"] == "error", name
        # A 4 GiB or overflowing note section: refused without reading it.
        for name in ("note size 4 GiB", "note size 2**64-1", "note offset 2**64-16"):
            assert outcomes[f"{target}: {name}"] in ("error", "partial"), name
        assert results[f"{target}: note size 0"][:2] == ["ok", 0]
        # Segments are read only for file offsets, after the notes: partial.
        assert outcomes[f"{target}: e_phoff max"] in ("error", "partial")
        assert outcomes[f"{target}: note 0 namesz=0xffffffff"] in ("error", "partial")
        assert outcomes[f"{target}: note 1 descsz=0x80000000"] == "partial"


def _sites(path: Path) -> int:
    from usdtscan.scan import scan

    return len(scan(path, debug_dirs=None).sites)


def test_dof_and_macho_lies(tmp_path: Path, baseline_rss: float) -> None:
    results, rss = run_in_child("dof-macho", tmp_path)
    outcomes = check(results, rss, baseline_rss)
    for seed in DOF_SEEDS:
        assert outcomes[f"{seed.stem} secnum 0xffffffff"] == "error"
        assert outcomes[f"{seed.stem} secsize huge"] == "error"
    assert outcomes["fat 2**31 slices"] == "error"
    assert outcomes["fat64 2**31 slices"] == "error"
    assert outcomes["fat 30 slices"] == "error"
    assert outcomes["thin ncmds huge"] == "error"


def test_fuzzer_regressions(tmp_path: Path, baseline_rss: float) -> None:
    assert regression_cases(), "tests/fuzz/regressions/ is empty"
    results, rss = run_in_child("regressions", tmp_path)
    check(results, rss, baseline_rss)


def test_offset_beyond_ssize_t_is_a_malformed_file() -> None:
    """Regression (atheris): ``struct.unpack_from`` raises OverflowError, not
    struct.error, for an offset of 2**63 or more."""
    from usdtscan import MalformedFileError

    data = bytearray(TRUNCATED[0].read_bytes())
    struct.pack_into("<Q", data, 0x28, 2**64 - 1)  # e_shoff
    struct.pack_into("<H", data, 0x3C, 0)  # e_shnum 0: the count is in section header 0
    elf = ElfFile("x", bytes(data))
    with pytest.raises(MalformedFileError, match="truncated section header 0"):
        _ = elf.sections
