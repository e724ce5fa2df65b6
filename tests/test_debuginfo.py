"""Function names of stripped files from their separate debug files (as GDB finds them)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from usdtscan import scan
from usdtscan.debuginfo import build_id, candidates, debuglink
from usdtscan.elf import ElfFile

from .conftest import FIXTURE_BIN, corpus_file, fixture_binaries
from .dofwriter import SHT_NOTE, SHT_PROGBITS, ElfSection, elf_note, write_elf_file

DEBUG_ROOT = "amd64/python3.11-dbg/usr/lib/debug"


@pytest.mark.corpus
@pytest.mark.parametrize(
    ("binary", "functions"),
    [
        (
            "amd64/python3.11-minimal/usr/bin/python3.11",
            {
                "gc__start": "gc_collect_main.lto_priv.0.cold+",
                "function__entry": "dtrace_function_entry.lto_priv.0+",
                "line": "_PyEval_EvalFrameDefault.cold+",
            },
        ),
        (
            "amd64/libpython3.11/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0",
            {
                "gc__start": "gc_collect_main.lto_priv.0+",
                "audit": "sys_audit_tstate.lto_priv.0+",
            },
        ),
    ],
)
def test_build_id_lookup_names_static_functions(binary: str, functions: dict[str, str]) -> None:
    path = corpus_file(binary)
    some_debug_file = DEBUG_ROOT + "/.build-id/2d/d439c6335b443668ce8099c87b26a093da08b0.debug"
    debug_dir = str(corpus_file(some_debug_file).parents[2])
    without = {s.name: s.function for s in scan(path, debug_dirs=None).sites}
    with_debug = scan(path, debug_dirs=(debug_dir,))
    assert with_debug.function_source is not None
    assert with_debug.function_source.endswith(".debug:.symtab")
    got = {s.name: s.function for s in with_debug.sites}
    for name, prefix in functions.items():
        assert (got[name] or "").startswith(prefix), (name, got[name])
        assert without[name] is None or not without[name].startswith(prefix)


@pytest.mark.corpus
def test_debug_file_of_another_build_is_refused(tmp_path: Path) -> None:
    path = corpus_file("amd64/python3.11-minimal/usr/bin/python3.11")
    wrong = corpus_file(DEBUG_ROOT + "/.build-id/12/dc9652e3f122509c80baca238360fdda2bbb54.debug")
    # Put the wrong debug file where the right one's build ID would lead.
    target = tmp_path / ".build-id" / "2d" / "d439c6335b443668ce8099c87b26a093da08b0.debug"
    target.parent.mkdir(parents=True)
    shutil.copy(wrong, target)
    scanned = scan(path, debug_dirs=(str(tmp_path),))
    assert scanned.function_source == ".dynsym"


def test_debuglink_beside_the_stripped_fixture() -> None:
    stripped = sorted(FIXTURE_BIN.glob("*/*.stripped"))
    assert stripped, "no stripped fixture"
    path = stripped[0]
    unstripped = path.with_suffix("")
    found = candidates(str(path), None, path.name.replace(".stripped", ".debug"), ())
    assert str(path.with_suffix(".debug")) in found
    names = [s.function for s in scan(path).sites]
    assert all(names)
    if unstripped.is_file():
        assert names == [s.function for s in scan(unstripped).sites]
    assert [s.function for s in scan(path, debug_dirs=None).sites] != names or not any(
        s.function for s in scan(path, debug_dirs=None).sites
    )


@pytest.mark.parametrize(
    "binary", fixture_binaries(), ids=lambda p: str(p.relative_to(FIXTURE_BIN))
)
def test_build_id_is_the_one_readelf_prints(binary: Path) -> None:
    oracle = binary.with_name(binary.name + ".readelf-n.txt").read_text()
    printed = re.search(r"Build ID: ([0-9a-f]+)", oracle)
    assert build_id(ElfFile(str(binary), binary.read_bytes())) == (
        printed.group(1) if printed else None
    )


def test_stripped_fixture_names_its_debug_file() -> None:
    stripped = FIXTURE_BIN / "x86_64" / "probes-O2.stripped"
    debug = stripped.with_suffix(".debug")
    elf = ElfFile(str(stripped), stripped.read_bytes())
    assert debuglink(elf) == "probes-O2.debug"
    assert build_id(elf) == build_id(ElfFile(str(debug), debug.read_bytes())) is not None


def _with(sections: list[ElfSection]) -> ElfFile:
    return ElfFile("written", write_elf_file(sections))


def test_debuglink_leaving_the_debug_directories_is_refused() -> None:
    def link(name: bytes) -> ElfFile:
        data = name + b"\0" + bytes(-(len(name) + 1) % 4) + b"\x12\x34\x56\x78"  # + CRC
        return _with([ElfSection(".gnu_debuglink", SHT_PROGBITS, data, align=4)])

    assert debuglink(link(b"app.debug")) == "app.debug"
    assert debuglink(link(b"../../etc/app.debug")) is None
    assert debuglink(link(b"")) is None
    assert debuglink(_with([])) is None


def test_build_id_of_a_damaged_note_is_none() -> None:
    good = elf_note(b"GNU", 3, bytes.fromhex("0123456789abcdef"))
    note = ElfSection(".note.gnu.build-id", SHT_NOTE, good, 2, align=4)
    assert build_id(_with([note])) == "0123456789abcdef"
    note.data = good[:4] + (100).to_bytes(4, "little") + good[8:]  # descsz past the section
    assert build_id(_with([note])) is None
    other = ElfSection(".note.other", SHT_NOTE, good, 2, align=4)  # the right note, wrong section
    assert build_id(_with([other])) is None
