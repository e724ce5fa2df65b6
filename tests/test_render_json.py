"""The JSON renderer: the streamed text of each site is its dict encoded, byte for byte."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import usdtscan
from usdtscan.attach import c_string
from usdtscan.model import ScannedFile
from usdtscan.render import json as json_render
from usdtscan.scan import iter_scan

from .conftest import FIXTURE_BIN, corpus_binaries, fixture_binaries

PROBES_O2 = FIXTURE_BIN / "x86_64" / "probes-O2"


def _reports() -> list[usdtscan.FileReport]:
    found = []
    for path in fixture_binaries() + corpus_binaries():
        try:
            found.append(usdtscan.analyze(path))
        except usdtscan.UsdtscanError:
            continue
    return found


@pytest.mark.corpus
def test_site_text_is_the_site_dict_encoded() -> None:
    """The spliced text (argument texts encoded once per report object) equals
    json.dumps of the dict, for every site of every fixture and corpus file."""
    sites = 0
    for report in _reports():
        for site in report.sites:
            expected = json.dumps(json_render.site_report_to_json(site))
            assert json_render.site_report_text(site) == expected, (report.path, site.site.name)
            sites += 1
    assert sites > 1000


def test_arguments_spelled_alike_share_one_text() -> None:
    """libc's memory_* probes pass ``8@%rbx``-style arguments at many sites: the
    analysis gives one ArgumentReport per spelling, so one encoding serves all."""
    report = usdtscan.analyze(PROBES_O2)
    by_raw: dict[str, list[object]] = {}
    for site in report.sites:
        for argument in site.arguments or ():
            if "rip" not in argument.raw:
                by_raw.setdefault(argument.raw, []).append(argument)
    shared = {raw: found for raw, found in by_raw.items() if len(found) > 1}
    assert "-4@$1" in shared or len(shared) >= 2, sorted(by_raw)
    for found in shared.values():
        assert all(argument is found[0] for argument in found)


def test_streamed_document_equals_the_whole_one() -> None:
    whole = json_render.render([usdtscan.analyze(PROBES_O2)])
    scanned = ScannedFile(str(PROBES_O2))
    streamed = "".join(
        json_render.iter_document([usdtscan.analysis.StreamedReport(scanned, iter_scan(scanned))])
    )
    assert json.loads(streamed) == json.loads(whole)
    assert streamed == whole


def test_encoder_is_json_dumps() -> None:
    value = {"a": [1, -2.5, None, True], "é": "\u2603\n", "n": {"x": float("inf")}}
    assert json_render._encode(value) == json.dumps(value)


@pytest.mark.parametrize(
    ("text", "literal"),
    [
        ("usdt//usr/bin/python3:python:gc__start", '"usdt//usr/bin/python3:python:gc__start"'),
        ('a"b\\c', '"a\\"b\\\\c"'),
        ("tab\there\x7f", '"tab\\011here\\177"'),
        ("é", '"\\303\\251"'),
    ],
)
def test_c_string_literals(text: str, literal: str) -> None:
    assert c_string(text) == literal


def test_plain_probes_keep_no_attach_facts(tmp_path: Path) -> None:
    """A streamed file keeps attach facts only for probes that are not plain, yet
    its groups' specs are those of the whole report."""
    scanned = ScannedFile(str(PROBES_O2))
    streamed = usdtscan.analysis.StreamedReport(scanned, iter_scan(scanned))
    pieces = list(json_render.iter_document([streamed]))
    facts = streamed._analyzer.attach_facts
    assert facts is not None
    whole = usdtscan.analyze(PROBES_O2)
    assert 0 < len(facts) < len(whole.probes)
    streamed_groups = json.loads("".join(pieces))["files"][0]["groups"]
    assert streamed_groups == [json_render._group(p) for p in whole.probes]
