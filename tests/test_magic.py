"""Telling object files apart by their first bytes: ELF, Mach-O, ar, not a Java class."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from usdtscan.magic import ELF_MAGIC, is_archive, is_macho

from .conftest import FIXTURE_BIN, FIXTURES
from .dofwriter import X86_CODE, MachFunction, make_fat, write_macho, x86_demo_dof

MACHO_CACHE = Path(os.environ.get("USDTSCAN_MACHO", Path.home() / ".cache" / "usdtscan-macho"))
DEBS = Path.home() / ".cache" / "usdtscan-debs"
JAVA_CLASS = Path("/usr/share/gettext/javaversion.class")  # Debian's gettext


def _head(path: Path) -> bytes:
    with path.open("rb") as stream:
        return stream.read(24)


def test_elf_fixtures_are_elf_and_nothing_else() -> None:
    binaries = sorted(p for p in FIXTURE_BIN.glob("*/probes-O2") if p.is_file())
    assert len(binaries) > 5
    for path in binaries:
        head = _head(path)
        assert head[:4] == ELF_MAGIC
        assert not is_macho(head) and not is_archive(head)


def test_thin_and_fat_macho_are_macho(tmp_path: Path) -> None:
    thin, _, _ = write_macho(X86_CODE, [MachFunction("_myfunc", 0)], x86_demo_dof)
    for image in (thin, make_fat([thin], "32"), make_fat([thin], "64")):
        assert is_macho(image[:24]) and not is_archive(image[:24])
    real = [p for p in sorted(MACHO_CACHE.glob("node-*")) if p.is_file()]
    for path in real:
        assert is_macho(_head(path)), path


@pytest.mark.skipif(not JAVA_CLASS.is_file(), reason=f"{JAVA_CLASS} absent (Debian's gettext)")
def test_a_java_class_is_not_a_fat_file() -> None:
    """Java class files start with 0xCAFEBABE too; their version (45 and up)
    sits where a fat file counts its slices."""
    head = _head(JAVA_CLASS)
    assert head[:4] == bytes.fromhex("cafebabe")
    assert not is_macho(head)


def test_static_libraries_are_archives_but_packages_are_not() -> None:
    libraries = sorted((FIXTURES / "archives" / "x86_64").glob("*.a"))
    assert {p.name for p in libraries} >= {"libfx.a", "libfx-thin.a"}
    for path in libraries:
        assert is_archive(_head(path)), path
    for package in sorted(DEBS.glob("*.deb"))[:3]:
        head = _head(package)
        assert head[:8] == b"!<arch>\n" and not is_archive(head)


def test_too_short_a_head_is_nothing() -> None:
    thin, _, _ = write_macho(X86_CODE, [MachFunction("_myfunc", 0)], x86_demo_dof)
    assert not is_macho(thin[:7])
    assert not is_archive(b"!<arch")
