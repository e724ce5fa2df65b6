"""Every stapsdt note of every fixture and corpus file, against binutils readelf.

The oracle is ``readelf -n`` output recorded beside each binary (by
fixtures/build.sh, and by ../shared/corpus/fetch), so these tests compare
with a different implementation, not with ourselves.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from usdtscan import scan
from usdtscan.render import readelf

from .conftest import corpus_binaries, fixture_binaries
from .oracle import oracle_text, readelf_notes, stapsdt_blocks

FIXTURES = fixture_binaries()
CORPUS = corpus_binaries()


def _ids(paths: list[Path]) -> list[str]:
    return ["/".join(p.parts[-3:]) for p in paths]


def check_against_readelf(binary: Path) -> None:
    text = oracle_text(binary)
    expected = readelf_notes(text)
    scanned = scan(binary)
    assert scanned.error is None
    got = [
        (s.provider, s.name, s.note.pc, s.note.base, s.note.semaphore, s.args_raw, s.note_size)
        for s in scanned.sites
        if s.note is not None
    ]
    want = [(n.provider, n.name, n.pc, n.base, n.semaphore, n.args, n.size) for n in expected]
    assert got == want
    assert readelf.render_file(scanned) == stapsdt_blocks(text)


def test_fixtures_exist() -> None:
    assert len(FIXTURES) >= 20, "fixtures/bin is missing: run fixtures/build.sh"


@pytest.mark.parametrize("binary", FIXTURES, ids=_ids(FIXTURES))
def test_fixture_notes_match_readelf(binary: Path) -> None:
    check_against_readelf(binary)


@pytest.mark.corpus
@pytest.mark.parametrize("binary", CORPUS, ids=_ids(CORPUS))
def test_corpus_notes_match_readelf(binary: Path) -> None:
    check_against_readelf(binary)


@pytest.mark.corpus
def test_corpus_is_complete_when_present() -> None:
    """If the corpus was fetched at all, all of it must be there: a partial fetch
    would silently shrink the oracle tier."""
    if not CORPUS:
        pytest.skip("corpus not fetched")
    assert len(CORPUS) >= 73
    assert sum(len(readelf_notes(oracle_text(p))) for p in CORPUS) >= 2500
