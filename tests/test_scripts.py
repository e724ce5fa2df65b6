"""usdtscan.scripts: the scripts' text from real binaries' sites (the tools that run
them are the tests of tests/test_cpython*.py and tests/test_live.py)."""

from __future__ import annotations

import os

import pytest

import usdtscan
from usdtscan.scan import scan
from usdtscan.scripts import ScriptTarget, ScriptUnavailableError, generate, kernel_fetcharg

from .conftest import FIXTURE_BIN

PROBES_O2 = FIXTURE_BIN / "x86_64" / "probes-O2"


def _target(path: os.PathLike[str]) -> ScriptTarget:
    scanned = scan(path)
    real = os.path.realpath(path)
    return ScriptTarget(
        executable=real,
        library=None,
        version=None,
        full_version=None,
        machine=scanned.machine or "?",
        bits=scanned.bits or 64,
        sites=tuple((real, site) for site in scanned.sites),
    )


def test_uprobe_events_are_the_analysis_lines() -> None:
    """Each site's line is the one the analysis gives (--json's ``uprobe``), event
    names included, but for symbol operands: the script decodes without the symbol
    table (those arguments are left out, where the analysis reads ``@+OFFSET``)."""
    target = _target(PROBES_O2)
    lines = [
        line for line in generate("uprobe-events", target).splitlines() if line.startswith("p:")
    ]
    by_event = {}
    for site in usdtscan.analyze(PROBES_O2).sites:
        assert site.uprobe is not None and site.uprobe.line is not None
        by_event[site.uprobe.line.split()[0]] = (site, site.uprobe.line)
    assert len(lines) == len(by_event) == 21
    compared = 0
    for line in lines:
        site, expected = by_event[line.split()[0]]
        assert line.split()[1] == expected.split()[1]
        if "(%rip)" not in site.site.args_raw:
            assert line == expected
            compared += 1
    assert compared >= 15
    event = [line.split()[0] for line in lines if line.startswith("p:fx/event")]
    assert event == ["p:fx/event", "p:fx/event_1", "p:fx/event_2"]


def test_unexpressible_arguments_are_named_in_comments() -> None:
    text = generate("uprobe-events", _target(PROBES_O2))
    assert "# p:fx/floats: cannot express arg1 (4f@%edx)" not in text
    comments = [line for line in text.splitlines() if "cannot express" in line]
    assert comments, text
    assert all(line.startswith("# p:fx/") for line in comments)


def test_bpftrace_script_names_every_probe() -> None:
    text = generate("bpftrace", _target(PROBES_O2))
    real = os.path.realpath(PROBES_O2)
    for probe in usdtscan.analyze(PROBES_O2).probes:
        assert f"usdt:{real}:{probe.provider}:{probe.name}" in text, probe.probe_id


def test_cpython_scripts_need_cpython_markers() -> None:
    with pytest.raises(ScriptUnavailableError):
        generate("stap-calltree", _target(PROBES_O2))


def test_fetcharg_of_a_string_dereferences_it() -> None:
    scanned = scan(PROBES_O2)
    site = next(s for s in scanned.sites if s.name == "unsigned")
    fetch = kernel_fetcharg("x86_64", 64, site.args[3], "string", site)
    assert fetch.text == "+0(%cx):string"
    plain = kernel_fetcharg("x86_64", 64, site.args[3], None, site)
    assert plain.text == "%cx:u64"
