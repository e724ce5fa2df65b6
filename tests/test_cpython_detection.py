"""usdtscan.cpython.detection: is one ELF file CPython, which version, and on what evidence."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from usdtscan.cpython.detection import detect, version_from_file_name, version_strings
from usdtscan.elf import ElfFile, Machine
from usdtscan.errors import UsdtscanError
from usdtscan.fileio import opened

from .conftest import corpus_file
from .cpython_corpus import DEBUG311_AMD64, PY311_AMD64

PY311D_AMD64 = "amd64/python3.11-dbg/usr/bin/python3.11d"


def test_file_name_versions() -> None:
    assert version_from_file_name("/usr/bin/python3.11") == ((3, 11), "")
    assert version_from_file_name("libpython3.11d.so.1.0") == ((3, 11), "d")
    assert version_from_file_name("libpython3.7m.so.1.0") == ((3, 7), "m")
    assert version_from_file_name("libpython3.13.a") == ((3, 13), "")
    assert version_from_file_name("python3.11-config") is None
    assert version_from_file_name("python3") is None


def test_free_threaded_names_are_recognised() -> None:
    assert version_from_file_name("libpython3.13t.so.1.0") == ((3, 13), "t")
    assert version_from_file_name("python3.13t") == ((3, 13), "t")


@pytest.mark.corpus
def test_a_static_executable() -> None:
    path = corpus_file(PY311_AMD64)
    detection = detect(str(path))
    assert detection.is_cpython
    assert (detection.version, detection.full_version) == ((3, 11), "3.11.2")
    assert detection.version_source == "version string in read-only data"
    assert detection.evidence == [
        "defines Py_Initialize, Py_BytesMain, Py_Main",
        'PY_VERSION "3.11.2"',
    ]
    assert detection.warnings == []
    assert not detection.debug_build and not detection.free_threaded
    assert detection.needed_libpython is None
    assert detection.dynamic is not None
    assert (detection.dynamic.machine, detection.dynamic.bits) == (Machine.X86_64, 64)
    with opened(str(path)) as reader:
        assert version_strings(ElfFile(str(path), reader)) == ["3.11.2"]


@pytest.mark.corpus
def test_a_debug_build_by_its_symbol_and_its_name() -> None:
    detection = detect(str(corpus_file(PY311D_AMD64)))
    assert detection.debug_build
    assert detection.full_version == "3.11.2"


@pytest.mark.corpus
def test_a_separate_debug_file_is_dated_by_its_api() -> None:
    """No read-only data and a build-ID name: PyFrame_GetLocals says 3.11."""
    detection = detect(str(corpus_file(DEBUG311_AMD64)))
    assert detection.is_cpython
    assert (detection.version, detection.full_version) == ((3, 11), None)
    assert detection.version_source == "newest public API symbol (no read-only data)"


@pytest.mark.corpus
@pytest.mark.parametrize(
    ("relative", "float_abi"),
    [
        ("armhf/python3.11-minimal/usr/bin/python3.11", "hard"),
        ("armel/libpython3.11/usr/lib/arm-linux-gnueabi/libpython3.11.so.1.0", "soft"),
        ("arm64/python3.11-minimal/usr/bin/python3.11", None),
    ],
)
def test_the_float_abi_the_loader_looks_for(relative: str, float_abi: str | None) -> None:
    target = detect(str(corpus_file(relative))).dynamic
    assert target is not None
    assert target.float_abi == float_abi


@pytest.mark.corpus
def test_disagreeing_witnesses_are_warned_of(tmp_path: Path) -> None:
    renamed = tmp_path / "python3.12"
    shutil.copy(corpus_file(PY311_AMD64), renamed)
    detection = detect(str(renamed))
    assert detection.version == (3, 11)  # PY_VERSION wins over the name
    assert detection.warnings == [
        "the file name says 3.12, the version string in read-only data says 3.11.2"
    ]
    older = tmp_path / "python3.10"
    shutil.copy(corpus_file(DEBUG311_AMD64), older)
    detection = detect(str(older))
    assert (detection.version, detection.version_source) == ((3, 10), "file name")
    assert detection.warnings == ["exports an API function of 3.11, newer than the detected 3.10"]


def test_a_file_named_python_without_cpython_in_it(tmp_path: Path) -> None:
    stub = tmp_path / "python3.11"
    shutil.copy("/bin/true", stub)
    detection = detect(str(stub))
    assert not detection.is_cpython
    assert detection.version == (3, 11)
    assert detection.warnings == ["the file name says CPython, but no CPython symbol is defined"]


def test_not_elf_raises_our_error(tmp_path: Path) -> None:
    text = tmp_path / "python3.11"
    text.write_text("#!/bin/sh\n")
    with pytest.raises(UsdtscanError, match="not an ELF file"):
        detect(str(text))
