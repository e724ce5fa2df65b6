"""The small things a daily user trips over (issue 15), each pinned by a test.

The truncated ELF header is in test_cli.py (test_truncated_header), beside
the other damaged headers.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

import usdtscan
from usdtscan import dof

from .conftest import FIXTURE_BIN, corpus_file, run_usdtscan
from .dofwriter import (
    SHT_RELA,
    ElfFunction,
    ElfSection,
    Probe,
    Provider,
    elf_relocations,
    write_dof,
    write_elf,
)

R_X86_64_64 = 1
SHF_INFO_LINK = 0x40

SAMPLE = FIXTURE_BIN / "x86_64" / "probes-O2"
ARM64 = FIXTURE_BIN / "aarch64" / "probes-O2"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return run_usdtscan(*args, timeout=60)


def test_arch_for_elf_files_warns_once_naming_the_files_architecture() -> None:
    result = run("--arch", "arm64", str(SAMPLE), str(ARM64))
    assert result.returncode == 0
    assert result.stderr == (
        f"usdtscan: {SAMPLE}: warning: --arch arm64 selects a slice of Mach-O files only; "
        "this is an ELF file for x86_64, read whole\n"
    )
    # Both files are still listed in full.
    assert result.stdout.count("probes-O2: ") == 2
    assert run(str(SAMPLE)).stderr == ""
    streamed = run("--json", "--arch", "arm64", str(SAMPLE), str(ARM64))
    assert streamed.returncode == 0 and streamed.stderr == result.stderr


# -- .SUNW_dof in ET_REL objects is relocated -----------------------------------------


def _rela(target: int, symtab: int, relocations: list[tuple[int, int]]) -> ElfSection:
    """A ``.rela.SUNW_dof`` section applying ``R_X86_64_64`` (symbol index, offset)
    relocations to section ``target``, as ``dtrace -G`` leaves each probe
    record's ``dofpr_addr`` to the link editor."""
    rows = [(offset, symbol, R_X86_64_64, 0) for symbol, offset in relocations]
    return ElfSection(
        ".rela.SUNW_dof",
        SHT_RELA,
        elf_relocations(rows),
        SHF_INFO_LINK,
        link=symtab,
        info=target,
        align=8,
        entsize=24,
    )


def test_sunw_dof_in_a_relocatable_object_is_relocated(tmp_path: Path) -> None:
    probes = [
        Probe("main", "start", ["int"], offsets=[0x10, 0x18], enabled=[0x4], addr=0),
        Probe("work", "done", ["long"], offsets=[0x8], addr=0),
    ]
    blob = write_dof([Provider("app", probes)])
    records = [p.record_offset for prov in dof.decode(blob, "blob").providers for p in prov.probes]
    # Section-relative function symbols, as in an object file: main at 0x0, work at 0x100.
    functions = [ElfFunction("main", 0x0, 0x40), ElfFunction("work", 0x100, 0x20)]
    # Sections: null, .text, .SUNW_dof (2), .symtab (3); symbols 1 and 2 are main, work.
    rela = _rela(2, 3, [(1, records[0]), (2, records[1])])
    image, _ = write_elf(blob, functions, e_type=1, extra=[rela])
    path = tmp_path / "app.o"
    path.write_bytes(image)
    scanned = usdtscan.scan(path)
    assert scanned.error is None and scanned.elf_type == "REL"
    got = [(s.kind, s.probe_id, s.address, s.file_offset, s.function) for s in scanned.sites]
    assert got == [
        ("dof-probe", "app:start", 0x10, None, "main+0x10"),
        ("dof-probe", "app:start", 0x18, None, "main+0x18"),
        ("dof-is-enabled", "app:start", 0x4, None, "main+0x4"),
        ("dof-probe", "app:done", 0x108, None, "work+0x8"),
    ]
    assert "relocatable object: DOF addresses are section-relative, no file offsets" in (
        scanned.warnings
    )


# -- the generated tapset: frameptr, and names that SystemTap's own tapsets do not use ------

PYFRAME = FIXTURE_BIN / "x86_64" / "pyframe"  # function__entry(file, func, line, frame)
TAPSET_DIR = Path("/usr/share/systemtap/tapset")


def _stap_p2(tmp_path: Path, script: str, tapsets: Path | None) -> subprocess.CompletedProcess[str]:
    from .test_scripts import _fake_kernel_tree

    kernel = tmp_path / "kernel"
    if not kernel.exists():
        _fake_kernel_tree(kernel)
    include = ["-I", str(tapsets)] if tapsets is not None else []
    return subprocess.run(
        ["stap", "-r", str(kernel), *include, "-p2", "-e", script],
        capture_output=True,
        text=True,
        timeout=600,
    )


def _tapset(tmp_path: Path, *args: str) -> Path:
    result = run("script", "tapset", "--python-version", "3.11", *args, str(PYFRAME))
    assert result.returncode == 0, result.stderr
    directory = tmp_path / ("tapsets-" + "-".join(a.strip("-") for a in args))
    directory.mkdir()
    (directory / "generated.stp").write_text(result.stdout)
    return directory


def test_tapset_sets_frameptr_where_the_marker_passes_a_frame(tmp_path: Path) -> None:
    text = (_tapset(tmp_path) / "generated.stp").read_text()
    assert text.count("    frameptr = $arg4;\n") == 2
    assert "probe cpython.function.entry = process(" in text


@pytest.mark.corpus
def test_tapset_has_no_frameptr_where_the_marker_passes_none() -> None:
    """CPython's own markers pass three arguments: a comment says why there is no frameptr."""
    path = corpus_file("amd64/python3.11-minimal/usr/bin/python3.11")
    result = run("script", "tapset", str(path))
    assert result.returncode == 0, result.stderr
    assert "frameptr = $arg4;" not in result.stdout
    assert result.stdout.count("passes only filename, funcname and lineno") == 2


@pytest.mark.skipif(shutil.which("stap") is None, reason="systemtap not installed")
def test_tapset_default_names_do_not_clash_with_systemtaps_own(tmp_path: Path) -> None:
    if TAPSET_DIR.is_dir():
        aliases = {
            line.split()[1].split("=")[0]
            for path in TAPSET_DIR.rglob("*.stp")
            for line in path.read_text(errors="replace").splitlines()
            if line.startswith("probe ")
        }
        assert "python.function.entry" in aliases  # Debian's tapset/python.stp
        assert not any(alias.startswith("cpython.") for alias in aliases)
    use = (
        "probe {0}.function.entry "
        '{{ printf("%s %s %d %x\\n", filename, funcname, lineno, frameptr) }}'
    )
    result = _stap_p2(tmp_path, use.format("cpython"), _tapset(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "process(" in result.stdout
    # The clash the new default avoids: named python.*, the same tapset fails.
    clash = _stap_p2(tmp_path, use.format("python"), _tapset(tmp_path, "--alias", "python"))
    assert clash.returncode != 0
    # --alias still renames.
    renamed = _stap_p2(tmp_path, use.format("mypy"), _tapset(tmp_path, "--alias", "mypy"))
    assert renamed.returncode == 0, renamed.stderr[-3000:]
