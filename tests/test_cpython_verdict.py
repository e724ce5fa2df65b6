"""usdtscan.cpython.verdict: each marker's state, and its arguments against its signature."""

from __future__ import annotations

from pathlib import Path

import pytest

from usdtscan.cpython.catalogue import MARKERS, MARKERS_BY_NAME
from usdtscan.cpython.interpreter import open_interpreter
from usdtscan.cpython.verdict import (
    MarkerState,
    check_marker_site,
    evaluate,
    expected_shape,
    require,
)

from .conftest import corpus_file
from .cpython_corpus import ALL_311, PY311_AMD64, rewrite

LIB311_I386 = "i386/libpython3.11/usr/lib/i386-linux-gnu/libpython3.11.so.1.0"


def test_states_are_spelt_as_the_json_spells_them() -> None:
    assert [str(state) for state in MarkerState] == [
        "present",
        "missing",
        "absent-as-expected",
        "present-unexpected",
        "unknown",
    ]
    assert f"{MarkerState.MISSING:<9}|" == "missing  |"
    assert MarkerState.UNEXPECTED == "present-unexpected"


def test_expected_shapes() -> None:
    gc_start, gc_done = MARKERS_BY_NAME["gc__start"], MARKERS_BY_NAME["gc__done"]
    assert expected_shape(gc_start.args[0], 8) == (4, True)  # an int is 4 bytes everywhere
    assert expected_shape(gc_done.args[0], 4) == (4, True)  # Py_ssize_t is pointer-sized
    assert expected_shape(MARKERS_BY_NAME["audit"].args[0], 8) == (8, None)  # sign unchecked


@pytest.mark.corpus
def test_32bit_pointers_are_checked_at_4_bytes() -> None:
    sites = open_interpreter(str(corpus_file(LIB311_I386))).sites()
    right = evaluate(sites, (3, 11), 4)
    assert [r.name for r in right if r.failed] == []
    # The same notes judged as 64-bit would be wrong: the check looks at sizes.
    wrong = evaluate(sites, (3, 11), 8)
    assert {r.name for r in wrong if r.failed} == ALL_311 - {"gc__start"}
    (done,) = [r for r in wrong if r.name == "gc__done"]
    assert done.problems == ["collected (Py_ssize_t) is '-4@%edi', expected -8@"]


@pytest.mark.corpus
def test_every_state_on_one_build() -> None:
    """Debian's 3.11 judged as 3.11, then as 3.14 (which removed the frame markers)."""
    sites = open_interpreter(str(corpus_file(PY311_AMD64))).sites()
    as_311 = {r.name: r.state for r in evaluate(sites, (3, 11), 8)}
    assert {n for n, s in as_311.items() if s == MarkerState.PRESENT} == ALL_311
    assert {n for n, s in as_311.items() if s == MarkerState.ABSENT_AS_EXPECTED} == {
        m.name for m in MARKERS if m.name.startswith("instance__")
    }
    as_314 = {r.name: r.state for r in evaluate(sites, (3, 14), 8)}
    assert {n for n, s in as_314.items() if s == MarkerState.UNEXPECTED} == {
        "function__entry",
        "function__return",
        "line",
    }
    no_sites = evaluate([], (3, 11), 8)
    assert {r.name for r in no_sites if r.state == MarkerState.MISSING} == ALL_311
    assert all(r.failed for r in no_sites if r.state == MarkerState.MISSING)


@pytest.mark.corpus
def test_an_unknown_python_marker_and_a_wrong_size(tmp_path: Path) -> None:
    doctored = tmp_path / "python3.11"
    rewrite(corpus_file(PY311_AMD64), doctored, b"python\0gc__done\0", b"python\0gc__dXne\0")
    reports = evaluate(open_interpreter(str(doctored)).sites(), (3, 11), 8)
    states = {r.name: r.state for r in reports}
    assert states["gc__done"] == MarkerState.MISSING
    assert states["gc__dXne"] == MarkerState.UNKNOWN
    assert reports[-1].name == "gc__dXne"  # after every catalogued marker
    wrong = tmp_path / "wrong" / "python3.11"
    wrong.parent.mkdir()
    rewrite(corpus_file(PY311_AMD64), wrong, b"gc__start\0-4@112(%rsp)", b"gc__start\0-8@112(%rsp)")
    ((file, site),) = [s for s in open_interpreter(str(wrong)).sites() if s[1].name == "gc__start"]
    check = check_marker_site(MARKERS_BY_NAME["gc__start"], file, site, 8)
    assert check.problems == ["generation (int) is '-8@112(%rsp)', expected -4@"]
    check = check_marker_site(MARKERS_BY_NAME["audit"], file, site, 8)
    assert check.problems == ["1 arguments, expected 2 (event, args)"]


@pytest.mark.corpus
def test_required_probes_of_any_provider() -> None:
    libc = corpus_file("amd64/libc6/usr/lib/x86_64-linux-gnu/libc.so.6")
    sites = open_interpreter(str(libc)).sites()
    reports = require(sites, ["libc:setjmp", "libc:nope"])
    assert [(r.probe_id, r.state, r.expected) for r in reports] == [
        ("libc:setjmp", MarkerState.PRESENT, True),
        ("libc:nope", MarkerState.MISSING, True),
    ]
    assert reports[0].spec is None and not reports[0].failed
    assert reports[1].failed
