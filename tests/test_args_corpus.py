"""Every argument of every real binary decodes (corpus and cross-compiled fixtures).

The counts per architecture are printed (run with ``-s``) and written to
``$USDTSCAN_ARGS_REPORT`` when that is set, so the lead can quote them.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import pytest

from usdtscan.args import Unparsed
from usdtscan.args.analysis import analyze_file
from usdtscan.scan import scan

from .conftest import corpus_binaries, fixture_binaries

# (file name, raw argument) pairs that are genuinely undecodable; none so far.
TRUE_ODDITIES: dict[tuple[str, str], str] = {}


def _census(paths: list[Path]) -> tuple[Counter[str], list[tuple[str, str, str]]]:
    decoded: Counter[str] = Counter()
    unparsed: list[tuple[str, str, str]] = []
    for path in paths:
        scanned = scan(path, debug_dirs=None)
        for analysis in analyze_file(scanned):
            if analysis is None:
                continue
            for argument in analysis.arguments:
                location = argument.location
                if isinstance(location, Unparsed):
                    unparsed.append((path.name, argument.argument.raw, location.reason))
                else:
                    decoded[scanned.machine or "?"] += 1
    return decoded, unparsed


def _report(label: str, decoded: Counter[str], unparsed: list[tuple[str, str, str]]) -> None:
    print(f"\n{label}: arguments decoded per architecture: {dict(sorted(decoded.items()))}")
    print(f"{label}: unparsed: {unparsed}")
    target = os.environ.get("USDTSCAN_ARGS_REPORT")
    if target:
        with open(target, "a", encoding="utf-8") as out:
            json.dump({"set": label, "decoded": decoded, "unparsed": unparsed}, out)
            out.write("\n")


@pytest.mark.corpus
def test_every_corpus_argument_decodes() -> None:
    paths = corpus_binaries()
    if not paths:
        pytest.skip("corpus not fetched")
    decoded, unparsed = _census(paths)
    _report("corpus", decoded, unparsed)
    unexpected = [u for u in unparsed if (u[0], u[1]) not in TRUE_ODDITIES]
    assert unexpected == []
    # The corpus covers these architectures; each must contribute decoded arguments.
    for machine in ("x86_64", "i386", "aarch64", "arm", "s390x", "ppc64", "riscv64", "mips"):
        assert decoded[machine] > 0, machine
    assert decoded["x86_64"] >= 2000


def test_every_fixture_argument_decodes() -> None:
    paths = fixture_binaries()
    if not paths:
        pytest.skip("fixtures not built")
    decoded, unparsed = _census(paths)
    _report("fixtures", decoded, unparsed)
    assert unparsed == []
    assert sum(decoded.values()) > 0


@pytest.mark.corpus
def test_every_corpus_site_is_the_sdt_nop() -> None:
    pytest.importorskip("capstone")
    from usdtscan.disasm import check_site

    paths = corpus_binaries()
    if not paths:
        pytest.skip("corpus not fetched")
    checked: Counter[str] = Counter()
    bad: list[tuple[str, str, str | None]] = []
    for path in paths:
        scanned = scan(path, debug_dirs=None)
        for site in scanned.sites:
            if site.code is None:
                continue
            check = check_site(site, scanned.machine or "", scanned.endian or "little")
            checked[scanned.machine or "?"] += 1
            if not check.ok:
                bad.append((path.name, site.name, check.instruction))
    print(f"\nsites checked per architecture: {dict(sorted(checked.items()))}")
    assert bad == []
    assert checked["s390x"] > 0 and checked["arm"] > 0 and checked["loongarch64"] > 0
