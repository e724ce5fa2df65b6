"""Following DT_NEEDED from a listed executable (usdtscan.deps), against glibc itself.

The layouts are compiled here with the native gcc (real ELF files, real
DT_RPATH/DT_RUNPATH), and glibc's own answer is read from ``ldd``, which
runs the real loader in trace mode: every resolution usdtscan computes is
compared with it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from usdtscan import deps, ldso
from usdtscan.cli import main

pytestmark = pytest.mark.skipif(
    shutil.which("gcc") is None or shutil.which("ldd") is None, reason="needs gcc and ldd"
)

PROBED_LIB = """
#include <sys/sdt.h>
int fx_work(int n) { DTRACE_PROBE1(fxlib, work, n); DTRACE_PROBE(fxlib, idle); return n + 1; }
"""
PLAIN_LIB = "int two(int n) { return n * 2; }\n"
CALLS_TWO = "int two(int); int one(int n) { return two(n) + 1; }\n"


def _cc(out: Path, source: str, *flags: str) -> Path:
    src = out.with_suffix(".c")
    src.write_text(source)
    subprocess.run(["gcc", "-O1", "-o", str(out), str(src), *flags], check=True)
    return out


def _ldd(path: Path) -> dict[str, str | None]:
    """glibc's resolution of every library: name -> path (None: "not found")."""
    out = subprocess.run(["ldd", str(path)], capture_output=True, text=True).stdout
    result: dict[str, str | None] = {}
    for line in out.splitlines():
        name, arrow, rest = line.strip().partition(" => ")
        if not arrow:
            continue
        where = rest.split(" (", 1)[0].strip()
        result[name] = None if where == "not found" else where
    return result


@pytest.fixture
def chain(tmp_path: Path) -> dict[str, Path]:
    """exe -> libone.so (in d1) -> libtwo.so (in d2); neither library has a path list."""
    d1, d2 = tmp_path / "d1", tmp_path / "d2"
    d1.mkdir()
    d2.mkdir()
    _cc(d2 / "libtwo.so", PLAIN_LIB, "-shared", "-fPIC")
    _cc(d1 / "libone.so", CALLS_TWO, "-shared", "-fPIC", f"-L{d2}", "-ltwo")
    return {"d1": d1, "d2": d2, "dir": tmp_path}


def _exe(chain: dict[str, Path], *link: str) -> Path:
    d1, d2 = chain["d1"], chain["d2"]
    return _cc(
        chain["dir"] / "main",
        "int one(int); int main(void) { return one(1) == 3 ? 0 : 1; }\n",
        f"-L{d1}",
        "-lone",
        f"-Wl,-rpath-link,{d2}",
        *link,
    )


def _resolved(path: Path) -> dict[str, str | None]:
    found = deps.closure(str(path), environ={})
    out: dict[str, str | None] = {d.name: d.path for d in found.libraries}
    out.update({d.name: None for d in found.unresolved})
    return out


def test_rpath_of_the_executable_is_inherited_by_its_libraries(chain: dict[str, Path]) -> None:
    exe = _exe(chain, f"-Wl,-rpath,{chain['d1']}:{chain['d2']}", "-Wl,--disable-new-dtags")
    assert subprocess.run([str(exe)], env={}).returncode == 0  # glibc loads it
    glibc = _ldd(exe)
    assert glibc["libtwo.so"] == str(chain["d2"] / "libtwo.so")
    ours = _resolved(exe)
    assert ours["libone.so"] == glibc["libone.so"]
    assert ours["libtwo.so"] == glibc["libtwo.so"]
    two = next(d for d in deps.closure(str(exe), environ={}).libraries if d.name == "libtwo.so")
    assert two.how == "DT_RPATH of main (inherited)"
    assert two.needed_by == "libone.so"
    # Without inheritance (the old behaviour) libtwo.so could not be found at all.
    plain = ldso.Loader(ldso.read_target(str(exe)) or ldso.Target(62, 64, "little"), environ={})
    assert plain.resolve("libtwo.so", str(chain["d1"])).path is None


def test_a_runpath_stops_the_inheritance(chain: dict[str, Path]) -> None:
    # The executable's RUNPATH (new dtags) applies to its own DT_NEEDED only.
    exe = _exe(chain, f"-Wl,-rpath,{chain['d1']}:{chain['d2']}", "-Wl,--enable-new-dtags")
    assert _ldd(exe)["libtwo.so"] is None
    assert _resolved(exe)["libtwo.so"] is None
    assert _resolved(exe)["libone.so"] == str(chain["d1"] / "libone.so")


def test_a_library_with_its_own_runpath_does_not_inherit(chain: dict[str, Path]) -> None:
    d1, d2 = chain["d1"], chain["d2"]
    _cc(
        d1 / "libone.so",
        CALLS_TWO,
        "-shared",
        "-fPIC",
        f"-L{d2}",
        "-ltwo",
        "-Wl,-rpath,/nonexistent",
        "-Wl,--enable-new-dtags",
    )
    exe = _exe(chain, f"-Wl,-rpath,{d1}:{d2}", "-Wl,--disable-new-dtags")
    assert _ldd(exe)["libtwo.so"] is None
    assert _resolved(exe)["libtwo.so"] is None


def test_origin_in_an_inherited_rpath_is_the_owner_directory(chain: dict[str, Path]) -> None:
    exe = _exe(chain, "-Wl,-rpath,$ORIGIN/d1:$ORIGIN/d2", "-Wl,--disable-new-dtags")
    glibc = _ldd(exe)
    assert glibc["libtwo.so"] == str(chain["d2"] / "libtwo.so")
    ours = _resolved(exe)
    assert (ours["libone.so"], ours["libtwo.so"]) == (glibc["libone.so"], glibc["libtwo.so"])


def test_closure_matches_ldd_on_system_programs() -> None:
    for program in ("/bin/ls", "/usr/bin/gdb-multiarch", "/usr/bin/bpftrace"):
        if not Path(program).is_file():
            continue
        glibc = {k: v for k, v in _ldd(Path(program)).items() if not k.startswith("ld-linux")}
        ours = {k: v for k, v in _resolved(Path(program)).items() if not k.startswith("ld-linux")}
        assert {k: v and str(Path(v).resolve()) for k, v in ours.items()} == {
            k: v and str(Path(v).resolve()) for k, v in glibc.items()
        }, program


# -- the listing ------------------------------------------------------------------------


@pytest.fixture
def probed_layout(tmp_path: Path) -> Path:
    """An executable without probes whose library (found by RUNPATH $ORIGIN/lib) has 2."""
    lib = tmp_path / "lib"
    lib.mkdir()
    _cc(lib / "libfxwork.so.1", PROBED_LIB, "-shared", "-fPIC", "-Wl,-soname,libfxwork.so.1")
    (lib / "libfxwork.so").symlink_to("libfxwork.so.1")
    return _cc(
        tmp_path / "prog",
        "int fx_work(int); int main(void) { return fx_work(1) == 2 ? 0 : 1; }\n",
        f"-L{lib}",
        "-lfxwork",
        "-Wl,-rpath,$ORIGIN/lib",
        "-Wl,--enable-new-dtags",
    )


def test_listing_says_where_the_probes_are(
    probed_layout: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(probed_layout)]) == 0
    out = capsys.readouterr().out
    assert "  note: no probes here; 2 in libfxwork.so.1 (DT_NEEDED, found by DT_RUNPATH)\n" in out
    assert "fxlib" not in out  # not CPython: the hint only, not the library's table


def test_listing_says_how_to_fix_a_library_not_found(
    probed_layout: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (probed_layout.parent / "lib").rename(probed_layout.parent / "elsewhere")
    assert main([str(probed_layout)]) == 0
    out = capsys.readouterr().out
    assert (
        "  note: no probes here, and the loader would not find libfxwork.so.1 (DT_NEEDED), so "
        "its probes cannot be listed: set LD_LIBRARY_PATH to its directory, or use "
        "--sysroot DIR\n"
    ) in out


def test_deps_lists_every_library_once(
    probed_layout: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The same program twice and the library itself: each file is still listed once.
    lib = probed_layout.parent / "lib" / "libfxwork.so.1"
    assert main(["--deps", "--json", str(probed_layout), str(probed_layout), str(lib)]) == 0
    document = json.loads(capsys.readouterr().out)
    files = document["files"]
    given = [f["path"] for f in files if f["loaded_as"] is None]
    assert given == [str(probed_layout), str(probed_layout), str(lib)]
    loaded = [str(Path(f["path"]).resolve()) for f in files if f["loaded_as"] is not None]
    assert len(loaded) == len(set(loaded))  # each library once
    glibc = {
        str(Path(v).resolve())
        for k, v in _ldd(probed_layout).items()
        if v and not k.startswith("ld-linux")
    }
    assert glibc - {str(lib.resolve())} <= set(loaded)
    import jsonschema

    schema = json.loads((Path(deps.__file__).parent / "usdtscan.schema.json").read_text())
    jsonschema.validate(document, schema)
    libc = next(f for f in files if f["loaded_as"] and f["loaded_as"]["name"] == "libc.so.6")
    assert libc["loaded_as"]["needed_by"] == str(probed_layout)
    assert libc["loaded_as"]["found_by"] == "ld.so.cache"


def test_deps_exits_2_naming_a_library_not_found(
    probed_layout: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (probed_layout.parent / "lib").rename(probed_layout.parent / "elsewhere")
    assert main(["--deps", str(probed_layout)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1
    assert err[0].startswith(
        f"usdtscan: {probed_layout}: needs libfxwork.so.1, which the loader would not find (tried "
    )
    assert err[0].endswith(
        "places); set LD_LIBRARY_PATH to its directory, or --sysroot DIR for another system's tree"
    )


def test_ld_library_path_is_honoured(
    probed_layout: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    moved = probed_layout.parent / "elsewhere"
    (probed_layout.parent / "lib").rename(moved)
    monkeypatch.setenv("LD_LIBRARY_PATH", str(moved))
    assert main([str(probed_layout)]) == 0
    assert "2 in libfxwork.so.1 (DT_NEEDED, found by LD_LIBRARY_PATH)" in capsys.readouterr().out


@pytest.mark.corpus
def test_a_ruby_launcher_points_at_libruby(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Not only CPython: a launcher whose probes are all in the library it needs."""
    from .conftest import corpus_file

    real = corpus_file("amd64/libruby3.1/usr/lib/x86_64-linux-gnu/libruby-3.1.so.3.1.2")
    (tmp_path / "lib").mkdir()
    shutil.copy(real, tmp_path / "lib" / "libruby-3.1.so.3.1")
    ruby = _cc(
        tmp_path / "ruby",
        "extern int ruby_run_node(void *); int main(void) { return ruby_run_node(0); }\n",
        str(tmp_path / "lib" / "libruby-3.1.so.3.1"),
        "-Wl,--allow-shlib-undefined",
        "-Wl,-rpath,$ORIGIN/lib",
        "-Wl,--enable-new-dtags",
    )
    assert main([str(ruby)]) == 0
    out = capsys.readouterr().out
    assert (
        "  note: no probes here; 22 in libruby-3.1.so.3.1 (DT_NEEDED, found by DT_RUNPATH)\n"
    ) in out
    assert "ruby      libruby" not in out  # the hint only: libruby is listed with --deps
    assert main(["--deps", "-p", "ruby:*", str(ruby)]) == 0
    out = capsys.readouterr().out
    library = tmp_path / "lib" / "libruby-3.1.so.3.1"
    assert f"{library}: x86_64, ELF64 little-endian DYN, 22 probes, 40 sites\n" in out
