"""The CPython files of the corpus and the layouts built from them, for the CPython tests.

The corpus holds Debian's CPython 3.11 (executable, libpython, debug build
and its separate debug files) on nine architectures, 3.13, 3.14 and 3.15.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from usdtscan.cpython import Version, parse_version

from .conftest import CORPUS, corpus_file

PY311_AMD64 = "amd64/python3.11-minimal/usr/bin/python3.11"
PY314_AMD64 = "amd64/python3.14-minimal/usr/bin/python3.14"
LIB311_AMD64 = "amd64/libpython3.11/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0"
DEBUG311_AMD64 = (
    "amd64/python3.11-dbg/usr/lib/debug/.build-id/12/dc9652e3f122509c80baca238360fdda2bbb54.debug"
)

ALL_311 = {
    "function__entry",
    "function__return",
    "line",
    "gc__start",
    "gc__done",
    "import__find__load__start",
    "import__find__load__done",
    "audit",
}
NO_FRAME = ALL_311 - {"function__entry", "function__return", "line"}


def cpython_corpus() -> list[Path]:
    """Every file of the corpus's python and libpython packages (empty when not fetched)."""
    if not CORPUS.is_dir():
        return []
    found = []
    for path in sorted(CORPUS.rglob("*")):
        if not path.is_file() or path.name.endswith(".txt") or ".fetch" in path.parts:
            continue
        if "python" in str(path.relative_to(CORPUS)).split("/")[1]:
            found.append(path)
    return found


def expected_version(path: Path) -> Version:
    """The version the package name promises: python3.11-minimal, libpython3.14, ..."""
    package = path.relative_to(CORPUS).parts[1]
    return parse_version(package.split("python", 1)[1].split("-")[0])


def rewrite(source: Path, target: Path, old: bytes, new: bytes) -> None:
    """Copy ``source`` with the one occurrence of ``old`` in its note replaced."""
    assert len(old) == len(new)
    data = source.read_bytes()
    assert data.count(old) == 1, old
    target.write_bytes(data.replace(old, new))


@pytest.fixture
def shared_build(tmp_path: Path) -> Path:
    """An ``--enable-shared`` layout: bin/python3, RUNPATH $ORIGIN/../lib, a real libpython."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc not installed")
    library = corpus_file(LIB311_AMD64)
    (tmp_path / "bin").mkdir()
    (tmp_path / "lib").mkdir()
    shutil.copy(library, tmp_path / "lib" / library.name)
    source = tmp_path / "main.c"
    source.write_text(
        "extern int Py_BytesMain(int, char **);\n"
        "int main(int c, char **v) { return Py_BytesMain(c, v); }\n"
    )
    executable = tmp_path / "bin" / "python3"
    subprocess.run(
        [
            "gcc",
            "-o",
            str(executable),
            str(source),
            str(tmp_path / "lib" / library.name),
            "-Wl,--allow-shlib-undefined",
            "-Wl,-rpath,$ORIGIN/../lib",
        ],
        check=True,
    )
    return executable
