"""The table: streamed files list as whole ones do, and a large file row by row."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

import usdtscan
from usdtscan.analysis import StreamedReport
from usdtscan.magic import ELF_MAGIC
from usdtscan.model import ScannedFile
from usdtscan.render import text as text_render
from usdtscan.scan import iter_scan

from .conftest import REPO, corpus_binaries, fixture_binaries


def _streamed(path: Path) -> StreamedReport:
    scanned = ScannedFile(str(path))
    return StreamedReport(scanned, iter_scan(scanned))


def _many(tmp_path: Path, count: int) -> Path:
    spec = importlib.util.spec_from_file_location("many_elf", REPO / "benchmarks" / "many_elf.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    path = tmp_path / "many"
    path.write_bytes(module.build(count))
    return path


@pytest.mark.corpus
def test_a_streamed_file_lists_as_a_whole_one() -> None:
    """Every fixture and corpus ELF file (none has more than STREAM_CHUNK sites),
    plain and with -v: the streamed table is the whole one, byte for byte."""
    checked = 0
    for path in fixture_binaries() + corpus_binaries():
        if path.read_bytes()[:4] != ELF_MAGIC:
            continue
        try:
            whole = usdtscan.analyze(path)
        except usdtscan.UsdtscanError:
            continue
        assert len(whole.sites) <= text_render.STREAM_CHUNK
        for verbose in (False, True):
            expected = text_render.render([whole], verbose=verbose)
            streamed = "".join(text_render.iter_render([_streamed(path)], verbose=verbose))
            assert streamed == expected, (path, verbose)
        checked += 1
    assert checked >= len(fixture_binaries()) // 2


def test_a_large_file_streams_in_note_order(tmp_path: Path) -> None:
    count = text_render.STREAM_CHUNK * 2 + 500
    path = _many(tmp_path, count)
    lines = "".join(text_render.iter_render([_streamed(path)])).splitlines()
    assert lines[0] == f"{path}: x86_64, ELF64 little-endian EXEC, sites in note order"
    assert lines[1].split() == [
        "PROVIDER",
        "MODULE",
        "FUNCTION",
        "NAME",
        "ADDRESS",
        "OFFSET",
        "SEMAPHORE",
        "ARGS",
    ]
    assert lines[-1] == f"  {count} probes, {count} sites"
    rows = lines[2:-1]
    assert len(rows) == count
    # The same cells as the whole table (one site per probe: the same order too).
    whole = text_render.render([usdtscan.analyze(path)]).splitlines()[2:]
    assert [row.split() for row in rows] == [row.split() for row in whole]
    assert rows[3].split() == [
        "fxmany",
        "many",
        "chunk0",
        "p00003",
        "0x401003",
        "0x1003",
        "-",
        "1@$3",
        "-2@$-3",
        "8@%rdx",
    ]
    # This generator's cells keep one width: every row aligns as in the whole table.
    assert rows == [line.rstrip() for line in whole]


def test_chunk_columns_widen_and_never_narrow() -> None:
    widths = [1, 1]
    first = text_render._chunk_lines(["A", "B", "C"], [["xx", "y", "z"]], widths)
    assert first == "  A   B  C\n  xx  y  z\n"
    second = text_render._chunk_lines(None, [["x", "yyyy", "z"]], widths)
    assert second == "  x   yyyy  z\n"
    third = text_render._chunk_lines(None, [["x", "y", "z"]], widths)
    assert third == "  x   y     z\n" and widths == [2, 4]


def test_the_large_table_decodes_no_argument(tmp_path: Path) -> None:
    path = _many(tmp_path, text_render.STREAM_CHUNK + 1)
    report = _streamed(path)
    assert "".join(text_render.iter_render([report])).count("\n") == text_render.STREAM_CHUNK + 4
    assert report._analyzer._cache == {}
    assert report._analyzer.attach_facts == {}
