"""The loader search (usdtscan.ldso); the dynamic section it reads is tests/test_dynamic.py's.

Search-order tests build real directory layouts holding copies of real
ELF files, so the class/machine filtering is exercised on genuine headers.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from usdtscan import ldso
from usdtscan.dynamic import dynamic_info
from usdtscan.elf import ElfFile
from usdtscan.symbols import defined_symbols

from .conftest import corpus_file

LIB64 = "amd64/libpython3.11/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0"
LIB32 = "i386/libpython3.11/usr/lib/i386-linux-gnu/libpython3.11.so.1.0"
ARMHF = "armhf/libpython3.11/usr/lib/arm-linux-gnueabihf/libpython3.11.so.1.0"
ARMEL = "armel/libpython3.11/usr/lib/arm-linux-gnueabi/libpython3.11.so.1.0"
NAME = "libpython3.11.so.1.0"
X86_64 = ldso.Target(62, 64, "little")


# -- ld.so.cache ----------------------------------------------------------------------


def _new_cache(entries: list[tuple[str, str]], order: str = "<") -> bytes:
    """A cache in glibc's current layout, as ldconfig writes it."""
    header_size, entry_size = 48, 24
    strings = b""
    offsets = []
    base = header_size + entry_size * len(entries)
    for key, value in entries:
        key_at = base + len(strings)
        strings += key.encode() + b"\0"
        value_at = base + len(strings)
        strings += value.encode() + b"\0"
        offsets.append((key_at, value_at))
    header = b"glibc-ld.so.cache1.1" + struct.pack(
        order + "IIB3sI12s", len(entries), len(strings), 0, b"", 0, b""
    )
    assert len(header) == header_size
    table = b"".join(struct.pack(order + "iIIIQ", 0x303, k, v, 0, 0) for k, v in offsets)
    return header + table + strings


def test_parse_new_cache() -> None:
    entries = [("libz.so.1", "/lib/x86_64-linux-gnu/libz.so.1"), ("libc.so.6", "/lib/libc.so.6")]
    assert ldso.parse_cache(_new_cache(entries)) == entries
    assert ldso.parse_cache(_new_cache(entries, ">")) == entries


def test_parse_old_cache_with_new_appended() -> None:
    entries = [("libfoo.so.2", "/opt/lib/libfoo.so.2")]
    old = b"ld.so-1.7.0" + b"\0" + struct.pack("<I", 0)  # no old-format entries
    assert ldso.parse_cache(old + _new_cache(entries)) == entries


def test_damaged_cache_gives_no_entries() -> None:
    good = _new_cache([("libz.so.1", "/lib/libz.so.1")])
    lying = good[:20] + struct.pack("<I", 0x10000000) + good[24:]
    assert ldso.parse_cache(lying) == []
    assert ldso.parse_cache(good[:30]) == []
    assert ldso.parse_cache(b"not a cache") == []
    # Offsets pointing outside the data give empty strings, which are dropped.
    broken = bytearray(good)
    struct.pack_into("<I", broken, 48 + 4, 0xFFFFFF)
    assert ldso.parse_cache(bytes(broken)) == []


@pytest.mark.skipif(not os.path.isfile(ldso.CACHE_FILE), reason="no /etc/ld.so.cache")
def test_system_cache_matches_ldconfig() -> None:
    if shutil.which("ldconfig") is None and not os.path.exists("/sbin/ldconfig"):
        pytest.skip("ldconfig not installed")
    parsed = ldso.parse_cache(Path(ldso.CACHE_FILE).read_bytes())
    assert parsed
    assert set(parsed) == set(ldso._ldconfig_p())


# -- search order ----------------------------------------------------------------------


@pytest.fixture
def layout(tmp_path: Path) -> Path:
    """Directories a/ b/ c/ d/, each with an x86-64 libpython, and w/ with an i386 one."""
    library = corpus_file(LIB64)
    for name in "abcd":
        (tmp_path / name).mkdir()
        if _same_device(library, tmp_path):
            os.link(library, tmp_path / name / NAME)
        else:
            shutil.copy(library, tmp_path / name / NAME)
    (tmp_path / "w").mkdir()
    shutil.copy(corpus_file(LIB32), tmp_path / "w" / NAME)
    return tmp_path


def _same_device(a: Path, b: Path) -> bool:
    return a.stat().st_dev == b.stat().st_dev


def _loader(**kwargs: object) -> ldso.Loader:
    return ldso.Loader(X86_64, cache=[], **kwargs)  # type: ignore[arg-type]


@pytest.mark.corpus
def test_rpath_applies_only_without_runpath(layout: Path) -> None:
    loader = _loader(environ={})
    found = loader.resolve(NAME, "/nowhere", rpath=str(layout / "a"))
    assert (found.path, found.how) == (str(layout / "a" / NAME), "DT_RPATH")
    found = loader.resolve(NAME, "/nowhere", rpath=str(layout / "a"), runpath=str(layout / "b"))
    assert (found.path, found.how) == (str(layout / "b" / NAME), "DT_RUNPATH")
    assert str(layout / "a" / NAME) not in found.tried


@pytest.mark.corpus
def test_ld_library_path_between_rpath_and_runpath(layout: Path) -> None:
    loader = _loader(environ={"LD_LIBRARY_PATH": f"{layout / 'missing'}:{layout / 'c'}"})
    found = loader.resolve(NAME, "/x", runpath=str(layout / "b"))
    assert (found.path, found.how) == (str(layout / "c" / NAME), "LD_LIBRARY_PATH")
    assert found.tried == [str(layout / "missing" / NAME), str(layout / "c" / NAME)]
    found = loader.resolve(NAME, "/x", rpath=str(layout / "a"))
    assert found.how == "DT_RPATH"


@pytest.mark.corpus
def test_origin_is_expanded(layout: Path) -> None:
    loader = _loader(environ={})
    (layout / "bin").mkdir()  # the kernel resolves bin/.. only if bin exists, as for ld.so
    for spelling in ("$ORIGIN/../d", "${ORIGIN}/../d"):
        found = loader.resolve(NAME, str(layout / "bin"), runpath=spelling)
        assert found.path == str(layout / "d" / NAME)


@pytest.mark.corpus
def test_wrong_class_is_skipped(layout: Path) -> None:
    loader = _loader(environ={"LD_LIBRARY_PATH": f"{layout / 'w'}:{layout / 'a'}"})
    found = loader.resolve(NAME, "/x")
    assert found.path == str(layout / "a" / NAME)
    assert found.tried[0] == str(layout / "w" / NAME)
    i386 = ldso.Loader(ldso.Target(3, 32, "little"), cache=[], environ={})
    assert i386.resolve(NAME, "/x", runpath=f"{layout / 'a'}:{layout / 'w'}").path == str(
        layout / "w" / NAME
    )


def test_read_target_refuses_what_ld_so_could_not_map(tmp_path: Path) -> None:
    """Missing, not ELF, a directory, or cut inside the header: none is a candidate."""
    elf = Path(__file__).parent.parent / "fixtures" / "bin" / "s390x" / "probes-O2"
    assert ldso.read_target(str(elf)) == ldso.Target(22, 64, "big")
    cut = tmp_path / "cut"
    cut.write_bytes(elf.read_bytes()[:40])
    text = tmp_path / "text"
    text.write_text("INPUT(libc.so.6)\n")  # a linker script named like a library
    for path in (cut, text, tmp_path, tmp_path / "missing"):
        assert ldso.read_target(str(path)) is None


@pytest.mark.corpus
def test_arm_float_abi_is_told_apart() -> None:
    hard = ldso.read_target(str(corpus_file(ARMHF)))
    soft = ldso.read_target(str(corpus_file(ARMEL)))
    assert hard == ldso.Target(40, 32, "little", "hard")
    assert soft == ldso.Target(40, 32, "little", "soft")
    assert ldso.multiarch_dir(hard) == "arm-linux-gnueabihf"
    assert ldso.multiarch_dir(soft) == "arm-linux-gnueabi"


@pytest.mark.corpus
def test_cache_then_default_dirs_under_a_sysroot(layout: Path) -> None:
    root = layout / "root"
    (root / "usr/lib/x86_64-linux-gnu").mkdir(parents=True)
    shutil.copy(layout / "a" / NAME, root / "usr/lib/x86_64-linux-gnu" / NAME)
    loader = ldso.Loader(X86_64, environ={}, sysroot=str(root), cache=[])
    found = loader.resolve(NAME, "/x")
    assert (found.path, found.how) == (
        str(root / "usr/lib/x86_64-linux-gnu" / NAME),
        "default path",
    )
    assert found.tried[:2] == [
        str(root / "lib/x86_64-linux-gnu" / NAME),
        str(root / "usr/lib/x86_64-linux-gnu" / NAME),
    ]
    cached = ldso.Loader(X86_64, environ={}, sysroot=str(root), cache=[(NAME, f"/../c/{NAME}")])
    assert cached.resolve(NAME, "/x").how == "ld.so.cache"


def test_not_found_lists_every_place_tried() -> None:
    loader = _loader(environ={})
    found = loader.resolve("libdoesnotexist.so.9", "/x", runpath="/opt/a:/opt/b")
    assert found.path is None
    assert found.tried[:2] == ["/opt/a/libdoesnotexist.so.9", "/opt/b/libdoesnotexist.so.9"]
    assert "/usr/lib/libdoesnotexist.so.9" in found.tried


def test_slash_names_are_used_as_they_are(tmp_path: Path) -> None:
    found = _loader(environ={}).resolve("./libx.so", str(tmp_path))
    assert found.tried == ["./libx.so"]


@pytest.mark.corpus
def test_defined_symbols_ignores_imports(tmp_path: Path) -> None:
    if shutil.which("gcc") is None:
        pytest.skip("gcc not installed")
    library = corpus_file(LIB64)
    source = tmp_path / "main.c"
    source.write_text(
        "extern int Py_BytesMain(int, char **);\nint main(int c, char **v) "
        "{ return Py_BytesMain(c, v); }\n"
    )
    executable = tmp_path / "python3"
    subprocess.run(
        [
            "gcc",
            "-o",
            str(executable),
            str(source),
            str(library),
            "-Wl,--allow-shlib-undefined",
            "-Wl,-rpath,/opt/py/lib",
        ],
        check=True,
    )
    elf = ElfFile(str(executable), executable.read_bytes())
    assert defined_symbols(elf, ["Py_BytesMain", "main"]) == {"main"}
    info = dynamic_info(elf)
    assert info is not None
    assert info.needed[0] == NAME
    assert info.runpath == "/opt/py/lib"
    lib = ElfFile(str(library), library.read_bytes())
    assert defined_symbols(lib, ["Py_BytesMain", "Py_Initialize", "nonexistent"]) == {
        "Py_BytesMain",
        "Py_Initialize",
    }
