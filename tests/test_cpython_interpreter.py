"""usdtscan.cpython.interpreter: the files of a build, found as ld.so would and read once each."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from usdtscan.cpython.interpreter import (
    BuildKind,
    PartRole,
    open_interpreter,
    running_interpreter_files,
)

from .conftest import FIXTURE_BIN, corpus_file, run_usdtscan
from .cpython_corpus import LIB311_AMD64, PY311_AMD64, shared_build

__all__ = ["shared_build"]  # a fixture, used by name


@pytest.mark.corpus
def test_a_static_build_is_one_part() -> None:
    path = corpus_file(PY311_AMD64)
    interpreter = open_interpreter(str(path))
    assert interpreter.error is None
    assert interpreter.build == BuildKind.STATIC == "static"
    assert [(p.path, p.role) for p in interpreter.parts] == [(str(path), PartRole.FILE)]
    assert interpreter.marker_file == str(path)
    by_name = {site.name: site for _, site in interpreter.sites()}
    assert by_name["line"].args_raw == "8@%r14 8@%rax -4@%ebp"
    assert by_name["gc__done"].args_raw == "-8@%r12"
    assert (interpreter.version, interpreter.version_source) == (
        (3, 11),
        "version string in read-only data",
    )


@pytest.mark.corpus
def test_a_shared_build_is_the_executable_and_its_libpython(shared_build: Path) -> None:
    interpreter = open_interpreter(str(shared_build))
    library = str(shared_build.parent.parent / "lib" / "libpython3.11.so.1.0")
    assert interpreter.error is None
    assert interpreter.build == BuildKind.SHARED
    assert [(p.path, p.role) for p in interpreter.parts] == [
        (str(shared_build), PartRole.EXECUTABLE),
        (library, PartRole.LIBRARY),
    ]
    assert interpreter.marker_file == library
    assert interpreter.library is not None and interpreter.library.how == "DT_RUNPATH"
    assert len(interpreter.sites()) == 8
    detection = interpreter.detection
    assert detection.needed_libpython == "libpython3.11.so.1.0"
    assert detection.runpath == "$ORIGIN/../lib"
    # The executable says nothing of its version: the library's PY_VERSION does.
    assert detection.full_version == "3.11.2"
    assert interpreter.version_source == f"version string in read-only data of {library}"
    assert detection.evidence == [  # main() only calls Py_BytesMain: it does not define it
        "needs libpython3.11.so.1.0",
        f"{library}: defines Py_Initialize, Py_BytesMain, Py_Main",
        f'{library}: PY_VERSION "3.11.2"',
    ]


@pytest.mark.corpus
def test_a_libpython_not_found_keeps_the_version_its_name_says(shared_build: Path) -> None:
    (shared_build.parent.parent / "lib").rename(shared_build.parent.parent / "elsewhere")
    empty = shared_build.parent.parent / "empty-root"
    empty.mkdir()
    interpreter = open_interpreter(str(shared_build), environ={}, sysroot=str(empty))
    assert interpreter.error is not None
    assert interpreter.error.startswith("needs libpython3.11.so.1.0, which the loader would not")
    assert interpreter.library_not_found
    assert (interpreter.version, interpreter.version_source) == (
        (3, 11),
        "DT_NEEDED libpython3.11.so.1.0",
    )
    assert interpreter.marker_file == "libpython3.11.so.1.0"


@pytest.mark.corpus
def test_an_unreadable_part_leaves_the_version_unknown(tmp_path: Path) -> None:
    truncated = tmp_path / "python3.11"
    truncated.write_bytes(corpus_file(PY311_AMD64).read_bytes()[:4096])
    interpreter = open_interpreter(str(truncated), python_version=(3, 11))
    assert interpreter.error is not None and "past the end of the file" in interpreter.error
    assert interpreter.version is None
    assert interpreter.parts == []


@pytest.mark.corpus
def test_a_static_archive_is_read_member_by_member(tmp_path: Path) -> None:
    """The CPython evidence of one member and the probes of all of them."""
    if shutil.which("ar") is None:
        pytest.skip("binutils not installed")
    shutil.copy(corpus_file(LIB311_AMD64), tmp_path / "python.o")
    shutil.copy(FIXTURE_BIN / "x86_64" / "probes-O0.o", tmp_path / "probes.o")
    (tmp_path / "README").write_text("not an object: skipped, as the linker skips it\n")
    archive = tmp_path / "libpython3.11.a"
    subprocess.run(
        ["ar", "rc", str(archive), "README", "probes.o", "python.o"], cwd=tmp_path, check=True
    )
    interpreter = open_interpreter(str(archive))
    assert interpreter.error is None
    assert interpreter.archive and interpreter.build == BuildKind.ARCHIVE
    assert [(p.path, p.role, len(p.scanned.sites)) for p in interpreter.parts] == [
        (f"{archive}(probes.o)", PartRole.MEMBER, 18),
        (f"{archive}(python.o)", PartRole.MEMBER, 8),
    ]
    assert interpreter.detection.is_cpython
    assert interpreter.detection.evidence == [
        "python.o: defines Py_Initialize, Py_BytesMain, Py_Main",
        'python.o: PY_VERSION "3.11.2"',
    ]
    assert (interpreter.version, interpreter.detection.full_version) == ((3, 11), "3.11.2")


_COUNT_OPENS = """
import collections, json, sys
import usdtscan
opened = collections.Counter()
sys.addaudithook(lambda event, args: opened.update([args[0]]) if event == "open" else None)
usdtscan.check_cpython(sys.argv[1])
print(json.dumps(opened))
"""


def _opens(path: Path) -> dict[str, int]:
    """How many times the check opens each file, by real path."""
    done = subprocess.run(
        [sys.executable, "-c", _COUNT_OPENS, str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    opened: dict[str, int] = {}
    for name, count in json.loads(done.stdout).items():
        real = os.path.realpath(name)
        opened[real] = opened.get(real, 0) + count
    return opened


@pytest.mark.corpus
def test_each_file_is_opened_once(shared_build: Path) -> None:
    """One reader serves the archive test, the detection and the scan (each
    opened the file on its own before)."""
    static = corpus_file(PY311_AMD64)
    assert _opens(static)[str(static)] == 1
    opened = _opens(shared_build)
    library = str(shared_build.parent.parent / "lib" / "libpython3.11.so.1.0")
    assert opened[str(shared_build)] == 1
    # The loader's search reads the header of the candidate it accepts, as
    # ld.so does, and the check reads the rest of it in that same open.
    assert opened[library] == 1


def test_a_fifo_is_refused_not_waited_on(tmp_path: Path) -> None:
    """The check once opened the file a first time with a plain ``open()`` to
    look for an ar archive, which blocks on a FIFO until a writer comes (run
    in a child, so that a regression fails instead of hanging the suite)."""
    fifo = tmp_path / "python3.11"
    os.mkfifo(fifo)
    done = run_usdtscan("check", "--cpython", str(fifo))
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == f"usdtscan: {fifo}: is a FIFO, not a regular file\n"


def test_the_running_interpreter() -> None:
    files = running_interpreter_files()
    assert files[0] == os.path.realpath(sys.executable)
    assert all(os.path.basename(f).startswith("libpython") for f in files[1:])
    interpreter = open_interpreter(files[0])
    assert interpreter.error is None
    assert interpreter.detection.is_cpython
    assert interpreter.version == sys.version_info[:2]
