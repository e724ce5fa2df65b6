"""usdtscan.cpython.catalogue: which markers each CPython release carries, and their caveats."""

from __future__ import annotations

import pytest

from usdtscan.cpython import catalogue
from usdtscan.cpython.catalogue import ArgKind

from .cpython_corpus import ALL_311, NO_FRAME


@pytest.mark.parametrize(
    ("version", "names"),
    [
        ((3, 5), set()),
        ((3, 6), {"function__entry", "function__return", "line", "gc__start", "gc__done"}),
        ((3, 7), ALL_311 - {"audit"}),
        ((3, 8), ALL_311),
        ((3, 11), ALL_311),
        ((3, 12), NO_FRAME),
        ((3, 14), NO_FRAME),
        ((3, 15), NO_FRAME | {"function__entry", "function__return"}),
    ],
)
def test_catalogue_rows(version: tuple[int, int], names: set[str]) -> None:
    assert {m.name for m in catalogue.expected_markers(version)} == names


def test_instance_markers_are_never_expected() -> None:
    for minor in range(0, 20):
        expected = {m.name for m in catalogue.expected_markers((3, minor))}
        assert not any(name.startswith("instance__") for name in expected)


def test_a_newer_release_is_checked_against_the_newest_row() -> None:
    assert catalogue.NEWEST_KNOWN == (3, 15)
    assert catalogue.catalogue_version((3, 19)) == (3, 15)
    assert catalogue.catalogue_version((4, 0)) == (3, 15)
    assert catalogue.catalogue_version((3, 11)) == (3, 11)


def test_version_parsing() -> None:
    assert catalogue.parse_version("3.11") == (3, 11)
    assert catalogue.parse_version("3.13.0rc1") == (3, 13)
    assert catalogue.parse_version(" 3.14.0a1+ ") == (3, 14)
    for bad in ("three", "3", "3.11.2.1", "py3.11"):
        with pytest.raises(ValueError, match="not a Python version"):
            catalogue.parse_version(bad)


def test_caveats() -> None:
    assert any("98894" in c for c in catalogue.caveats((3, 11), "line"))
    assert any("trace function" in c for c in catalogue.caveats((3, 11), "function__entry"))
    assert catalogue.caveats((3, 10), "line") == []
    assert catalogue.caveats((3, 13), "line") == [
        "removed in 3.12 with the new monitoring (PEP 669); the 3.13 documentation still lists it"
    ]
    assert catalogue.caveats((3, 15), "line") == [
        "3.15 restored function__entry and function__return, but not line"
    ]
    assert catalogue.caveats((3, 15), "function__entry") == []
    assert catalogue.caveats((3, 8), "instance__new__start") == [
        "declared in Include/pydtrace.d but never called, so never in a build"
    ]


def test_signatures() -> None:
    gc_done = catalogue.MARKERS_BY_NAME["gc__done"]
    assert [(a.name, a.kind, a.c_type) for a in gc_done.args] == [
        ("collected", ArgKind.SSIZE, "Py_ssize_t")
    ]
    audit = catalogue.MARKERS_BY_NAME["audit"]
    assert [a.kind for a in audit.args] == [ArgKind.STRING, ArgKind.OBJECT]
    assert audit.dtrace_name == "audit"
    assert catalogue.MARKERS_BY_NAME["import__find__load__done"].dtrace_name == (
        "import-find-load-done"
    )
    # The kinds are spelt as before the enum, for scripts.py and the JSON.
    assert [str(kind) for kind in ArgKind] == ["string", "object", "int", "ssize"]
    assert ArgKind.INT == "int"


def test_api_functions_come_one_per_release_in_order() -> None:
    versions = [version for _, version in catalogue.API_INTRODUCED]
    assert versions == [(3, minor) for minor in range(7, 16)]
    assert versions[-1] == catalogue.NEWEST_KNOWN
