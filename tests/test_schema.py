"""The shipped JSON Schema is the document: every fixture's and corpus file's --json obeys it."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from usdtscan.cli import main

from .conftest import FIXTURE_BIN, REPO, corpus_binaries, fixture_binaries

jsonschema = pytest.importorskip("jsonschema")


def _schema() -> dict[str, Any]:
    return dict(json.loads((REPO / "usdtscan" / "usdtscan.schema.json").read_text()))


def _validator() -> Any:
    schema = _schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _document(arguments: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    main(arguments)
    return dict(json.loads(capsys.readouterr().out))


def _errors(document: dict[str, Any]) -> list[str]:
    return [f"{e.json_path}: {e.message[:300]}" for e in _validator().iter_errors(document)]


def test_json_schema_option_prints_the_shipped_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--json-schema"]) == 0
    assert json.loads(capsys.readouterr().out) == _schema()


def test_every_fixture_obeys_the_schema(capsys: pytest.CaptureFixture[str]) -> None:
    paths = fixture_binaries()
    document = _document(["--json", *map(str, paths)], capsys)
    assert len(document["files"]) == len(paths) > 20
    assert _errors(document) == []


@pytest.mark.corpus
def test_every_corpus_file_obeys_the_schema(capsys: pytest.CaptureFixture[str]) -> None:
    paths = corpus_binaries()
    if not paths:
        pytest.skip("corpus not fetched")
    document = _document(["--json", *map(str, paths)], capsys)
    assert _errors(document) == []


def test_a_tree_walk_and_bad_files_obey_the_schema(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "text").write_text("not an object file\n")
    (tmp_path / "empty").write_bytes(b"")
    tree = _document(["-r", "--json", str(FIXTURE_BIN)], capsys)
    assert len(tree["files"]) > 20
    assert _errors(tree) == []
    bad = _document(["--json", str(tmp_path / "text"), str(tmp_path / "empty")], capsys)
    assert [f["error"] for f in bad["files"]] == ["not an ELF file", "empty file"]
    assert _errors(bad) == []


def test_the_schema_is_strict(capsys: pytest.CaptureFixture[str]) -> None:
    """A renamed, missing or retyped key is caught: the schema can fail."""
    document = _document(["--json", str(FIXTURE_BIN / "x86_64" / "probes-O2")], capsys)
    site = document["files"][0]["probes"][0]
    for mutate in (
        lambda s: s.update(adress=s.pop("address")),
        lambda s: s.pop("uprobe"),
        lambda s: s.update(file_offset=hex(s["file_offset"])),
        lambda s: s["args"][0]["location"].update(kind="stack"),
    ):
        broken = copy.deepcopy(document)
        mutate(broken["files"][0]["probes"][0])
        assert _errors(broken), mutate
    assert site["args"][0]["location"]["kind"] == "register"
