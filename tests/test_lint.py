"""``usdtscan check PATH`` (lint): every finding on a doctored real binary or on the
fixture built for it, the exit statuses, --ignore and the JSON contract, and the
whole corpus giving no error finding.

Doctoring works on a copy: a section renamed in .shstrtab, a byte patched at a
site, a field of one stapsdt note rewritten, each located by our own scan and
checked against pyelftools, so that a wrong offset cannot pass silently.
"""

from __future__ import annotations

import json
import shutil
import struct
from collections import Counter
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from usdtscan import scan
from usdtscan.cli import main
from usdtscan.lint import RULES, lint, name_problem

from .conftest import CORPUS, FIXTURE_BIN, corpus_binaries, corpus_file

LINT_FIXTURE = FIXTURE_BIN / "lint" / "x86_64" / "lint"
PROBES_O2 = FIXTURE_BIN / "x86_64" / "probes-O2"
PY311 = "amd64/python3.11-minimal/usr/bin/python3.11"
# A stapsdt note: 12-byte header, "stapsdt\0", then pc, base, semaphore (ELF64).
DESC = 20


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = main(argv)
    out, err = capsys.readouterr()
    return status, out, err


def _copy(source: Path, tmp_path: Path) -> Path:
    target = tmp_path / source.name
    shutil.copyfile(source, target)
    return target


def _patch(path: Path, offset: int, data: bytes) -> None:
    with open(path, "r+b") as handle:
        handle.seek(offset)
        handle.write(data)


def _section(path: Path, name: str) -> tuple[int, int, int]:
    """(sh_addr, sh_offset, name offset in .shstrtab's file bytes) from pyelftools."""
    with open(path, "rb") as handle:
        elf = ELFFile(handle)
        section = elf.get_section_by_name(name)
        assert section is not None, name
        strtab = elf.get_section(elf["e_shstrndx"])
        name_at = strtab["sh_offset"] + section["sh_name"]
        return section["sh_addr"], section["sh_offset"], name_at


# -- the fixture built for the findings that patching cannot make -------------------


def test_lint_fixture_findings(capsys: pytest.CaptureFixture[str]) -> None:
    result = lint(LINT_FIXTURE)
    by_id = {(f.id, f.probe or f.message.split()[-1]): f for f in result.findings}
    assert result.error is None
    assert ("too-many-args", "lint:many") in by_id
    assert ("name-rejected", "lint:bad-name") in by_id
    assert ("sites-disagree", "lint:split") in by_id
    assert ("semaphore-misplaced", "lint:rosem") in by_id
    assert ("site-nop5", "lint:nop5") in by_id
    assert ("site-nop10", "lint:nop10") in by_id
    assert Counter(f.id for f in result.findings) == {
        "base-zero": 1,
        "site-nop5": 1,
        "site-nop10": 1,
        "too-many-args": 1,
        "name-rejected": 1,
        "sites-disagree": 1,
        "semaphore-misplaced": 1,
        # perf drops constants (-4@$1): five probes
        "arg-unreadable": 5,
    }
    base_zero = next(f for f in result.findings if f.id == "base-zero")
    assert base_zero.effective_severity == "error"
    assert "lint:rustlike" in base_zero.message
    rosem = by_id[("semaphore-misplaced", "lint:rosem")]
    assert "in .rodata, not .probes, in a read-only segment" in rosem.message
    encodings = {s.probe: s.encoding for s in result.sites}
    assert encodings["lint:nop5"] == "nop; nop5"
    assert encodings["lint:nop10"] == "nop; nop10"
    assert encodings["lint:plain"] == "nop"
    status, out, _ = _run(["check", str(LINT_FIXTURE)], capsys)
    assert status == 1
    assert "(7 nop, 1 nop; nop10, 1 nop; nop5)" in out
    assert "FAIL: 4 errors, 7 warnings, 1 info" in out
    assert "red zone" in out


def test_lint_json_contract(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _run(["check", "--json", str(LINT_FIXTURE)], capsys)
    document = json.loads(out)
    assert status == 1 and document["status"] == 1 and document["ok"] is False
    (entry,) = document["files"]
    assert entry["errors"] == 4 and entry["warnings"] == 7
    keys = {"id", "severity", "consumers", "consequence", "message", "probe", "address"}
    assert all(set(f) == keys for f in entry["findings"])
    assert {f["id"] for f in entry["findings"]} <= set(RULES)
    nop5 = next(f for f in entry["findings"] if f["id"] == "site-nop5")
    assert nop5["severity"] == "warning" and nop5["consumers"] == ["kernel"]
    sites = {s["probe"]: s for s in entry["sites"]}
    assert nop5["address"] == sites["lint:nop5"]["address"]
    assert {s["nop_encoding"] for s in entry["sites"]} == {"nop", "nop; nop5", "nop; nop10"}
    assert all(s["nop"] is True for s in entry["sites"])


def test_ignore(capsys: pytest.CaptureFixture[str]) -> None:
    errors = "base-zero,too-many-args,sites-disagree"
    status, out, _ = _run(
        ["check", "--ignore", errors, "--ignore", "semaphore-misplaced", str(LINT_FIXTURE)], capsys
    )
    assert status == 0
    assert "OK: no error (7 warnings, 1 info, 4 ignored)" in out
    status, _, err = _run(["check", "--ignore", "no-such-id", str(LINT_FIXTURE)], capsys)
    assert status == 2
    assert "unknown finding ID no-such-id" in err


def test_clean_fixtures_have_no_error(capsys: pytest.CaptureFixture[str]) -> None:
    """The ordinary fixtures of every architecture: warnings only (floats, symbols)."""
    paths = [*sorted(FIXTURE_BIN.glob("*/probes-O[02]")), FIXTURE_BIN / "x86_64" / "probes-O0.o"]
    assert len(paths) >= 20
    for path in paths:
        result = lint(path)
        assert result.error is None
        assert not result.errors, (path, [f.message for f in result.errors])
    floats = [f for f in lint(PROBES_O2).findings if f.probe == "fx:floats"]
    assert {f.effective_consumers for f in floats} == {
        ("libbpf<1.7", "libbpf>=1.7", "bpftrace>=0.24"),
        ("bpftrace<0.24", "bcc"),
        ("perf",),
        ("gdb",),
    }
    assert all("float" in f.message for f in floats)
    messages = {f.effective_consumers[0]: f.message for f in floats}
    assert messages["libbpf<1.7"].startswith(
        "libbpf < 1.7, libbpf >= 1.7, bpftrace >= 0.24 will refuse to attach fx:floats: "
        "argument 1: 4f@%edx: float"
    )
    # Scale-index-base operands split libbpf's versions.
    fields = [f.message for f in lint(PROBES_O2).findings if f.probe == "fx:fields"]
    assert (
        "libbpf < 1.7 will refuse to attach fx:fields: argument 1: -4@(%rdi,%rax,8): "
        "scale-index-base operands are read from libbpf 1.7 on"
    ) in fields
    status, out, _ = _run(["check", str(PROBES_O2)], capsys)
    assert status == 0
    assert "(21 nop)" in out


# -- real binaries doctored by the test ------------------------------------------------


def _doctored_findings(path: Path, rule: str) -> list[str]:
    return [f.message for f in lint(path).findings if f.id == rule]


def test_base_section_renamed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _copy(PROBES_O2, tmp_path)
    _addr, _offset, name_at = _section(path, ".stapsdt.base")
    _patch(path, name_at, b".stapsdt.xxxx")
    (message,) = _doctored_findings(path, "base-section-missing")
    assert message.startswith("21 stapsdt notes but no .stapsdt.base section")
    status, out, _ = _run(["check", str(path)], capsys)
    assert status == 1
    assert "GDB lists no probe of the file" in out


def _site_note(path: Path, probe: str, index: int = 0) -> tuple[int, int]:
    """(note header file offset, site address) of one site of ``probe``."""
    sites = [s for s in scan(path).sites if s.probe_id == probe]
    site = sites[index]
    assert site.note_offset is not None and site.address is not None
    return site.note_offset, site.address


def test_site_byte_patched(tmp_path: Path) -> None:
    path = _copy(PROBES_O2, tmp_path)
    site = next(s for s in scan(path).sites if s.probe_id == "fx:one")
    assert site.file_offset is not None
    _patch(path, site.file_offset, b"\xcc")
    (message,) = _doctored_findings(path, "site-not-nop")
    assert message == f"site {site.address:#x} in p_one holds 'int3', not a nop"


def test_note_pc_into_data(tmp_path: Path) -> None:
    path = _copy(PROBES_O2, tmp_path)
    data_addr, _o, _n = _section(path, ".data")
    note, _address = _site_note(path, "fx:one")
    _patch(path, note + DESC, struct.pack("<Q", data_addr))
    (message,) = _doctored_findings(path, "site-not-in-text")
    assert message == f"site {data_addr:#x} is in a non-executable segment (section .data)"


def test_note_base_zeroed(tmp_path: Path) -> None:
    path = _copy(PROBES_O2, tmp_path)
    note, _address = _site_note(path, "fx:three")
    _patch(path, note + DESC + 8, struct.pack("<Q", 0))
    (finding,) = [f for f in lint(path).findings if f.id == "base-zero"]
    assert finding.effective_severity == "error"
    assert finding.message == "1 note records base 0 while .stapsdt.base exists: fx:three"


def test_semaphore_rewritten(tmp_path: Path) -> None:
    path = _copy(PROBES_O2, tmp_path)
    note, address = _site_note(path, "fxsem:start")
    # The semaphore now points at the probe's own code.
    _patch(path, note + DESC + 16, struct.pack("<Q", address))
    (message,) = _doctored_findings(path, "semaphore-misplaced")
    assert message == (
        f"semaphore {address:#x} of fxsem:start is in .text, not .probes, "
        "in a read-only segment, in an executable segment"
    )


def test_sites_disagree_on_semaphore(tmp_path: Path) -> None:
    path = _copy(PROBES_O2, tmp_path)
    semaphore = next(s.semaphore_address for s in scan(path).sites if s.probe_id == "fxsem:start")
    assert semaphore is not None
    note, _address = _site_note(path, "fx:event", 1)
    _patch(path, note + DESC + 16, struct.pack("<Q", semaphore))
    messages = _doctored_findings(path, "sites-disagree")
    assert messages == [f"fx:event: 3 sites with different semaphores (none, {semaphore:#x})"]


def test_provider_renamed(tmp_path: Path) -> None:
    path = _copy(PROBES_O2, tmp_path)
    note, _address = _site_note(path, "fx:one")
    with open(path, "rb") as handle:
        handle.seek(note + DESC + 24)
        assert handle.read(3) == b"fx\0"
    _patch(path, note + DESC + 24, b"f-")
    (message,) = _doctored_findings(path, "name-rejected")
    assert message.startswith("provider 'f-' is not a C identifier ('-'): perf probe rejects it")


def test_names() -> None:
    """As perf 6.1 and bpftrace 0.17 took them (test_names_as_perf_and_bpftrace_take_them)."""
    assert name_problem("name", "function__entry", False) is None
    dotted = name_problem("name", "a.b", False) or ""
    assert dotted.startswith("name 'a.b' is not a C identifier ('.'): perf probe rejects it")
    assert "bpftrace" not in dotted  # bpftrace takes letters, digits and _./+- as they are
    assert "bpftrace needs it quoted" in (name_problem("name", "a b", False) or "")
    assert "cannot spell it even quoted" in (name_problem("name", "a:b", False) or "")
    assert "a leading digit" in (name_problem("name", "9lives", False) or "")
    # perf names the group sdt_9lives: a provider may start with a digit.
    assert name_problem("provider", "9lives", True) is None
    assert "longer than" in (name_problem("provider", "p" * 60, True) or "")
    assert "empty" in (name_problem("name", "", False) or "")


@pytest.mark.corpus
def test_corpus_python_doctored(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A real Debian python3.11: its .stapsdt.base renamed, then one nop patched."""
    path = _copy(corpus_file(PY311), tmp_path)
    assert _run(["check", str(path)], capsys)[0] == 0
    _addr, _offset, name_at = _section(path, ".stapsdt.base")
    _patch(path, name_at, b".stapsdt.xxxx")
    status, out, _ = _run(["check", str(path)], capsys)
    assert status == 1
    assert "error    8 stapsdt notes but no .stapsdt.base section" in out
    site = scan(path).sites[0]
    assert site.file_offset is not None
    _patch(path, site.file_offset, b"\xc3")
    assert "holds 'retq', not a nop" in "\n".join(_doctored_findings(path, "site-not-nop"))


# -- trouble -------------------------------------------------------------------------


def test_trouble_exit_2_and_other_files_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not an ELF file\n")
    missing = tmp_path / "missing"
    status, out, err = _run(["check", str(text), str(missing), str(LINT_FIXTURE)], capsys)
    assert status == 2
    assert err.splitlines() == [
        f"usdtscan: {text}: not an ELF file",
        f"usdtscan: {missing}: no such file or directory",
    ]
    assert "FAIL: 4 errors" in out
    status, out, _ = _run(["check", "/bin/true"], capsys)
    assert status == 0
    assert "OK: no probe sites" in out
    assert _run(["check"], capsys)[0] == 2


# -- the corpus: no error finding anywhere ----------------------------------------------


@pytest.mark.corpus
def test_corpus_has_no_error_finding() -> None:
    files = corpus_binaries()
    if not files:
        pytest.skip(f"corpus not fetched ({CORPUS})")
    totals: Counter[str] = Counter()
    unreadable: Counter[tuple[str, ...]] = Counter()
    encodings: Counter[str | None] = Counter()
    for path in files:
        result = lint(path)
        assert result.error is None, path
        assert not result.errors, (path, [f.message for f in result.errors])
        totals.update(f.id for f in result.findings)
        unreadable.update(
            f.effective_consumers for f in result.findings if f.id == "arg-unreadable"
        )
        if result.scanned is not None and result.scanned.machine in ("x86_64", "i386"):
            encodings.update(s.encoding for s in result.sites if s.instruction is not None)
            assert all(s.ok for s in result.sites if s.instruction is not None), path
    # What docs/checks.rst ("The corpus") reports: warnings of two kinds only,
    # counted per consumer, so that a change of a verdict shows up here and there.
    assert len(files) == 73
    assert totals == {"arg-unreadable": 161, "sites-disagree": 37}
    assert unreadable == {
        ("perf",): 69,
        ("gdb",): 46,
        ("libbpf<1.7", "libbpf>=1.7", "bpftrace>=0.24"): 23,
        ("libbpf<1.7",): 1,
        ("bpftrace<0.24", "bcc"): 22,
    }
    assert encodings == {"nop": 1040}


def test_listing_names_the_encoding_and_versioned_verdicts(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The plain listing carries the same facts: nop encoding per site, verdicts per
    consumer version per argument."""
    status, out, _ = _run(["-d", "-p", "lint:nop*", str(LINT_FIXTURE)], capsys)
    assert status == 0
    assert "instruction: nop (the sdt.h nop; encoding nop; nop5)" in out
    assert "instruction: nop (the sdt.h nop; encoding nop; nop10)" in out
    status, out, _ = _run(["--json", str(PROBES_O2)], capsys)
    (entry,) = json.loads(out)["files"]
    assert {s["site_check"]["nop_encoding"] for s in entry["probes"]} == {"nop"}
    fields = next(s for s in entry["probes"] if s["name"] == "fields")
    versions = fields["args"][0]["consumers_by_version"]
    assert versions["libbpf<1.7"] == {
        "ok": False,
        "why": "scale-index-base operands are read from libbpf 1.7 on",
    }
    assert versions["libbpf>=1.7"]["ok"] is True
    assert versions["bpftrace>=0.24"] == versions["libbpf>=1.7"]
    assert versions["bpftrace<0.24"] == versions["bcc"]
    assert versions["perf"]["ok"] is False


# -- every finding ID is a contract: documented, in --json, accepted by --ignore -----------

CHECKS_RST = Path(__file__).resolve().parent.parent / "docs" / "checks.rst"
# One edited provider file gives each of the four provider-* findings on probes-O2.
PROVIDER_FILE = """provider fxsem {
  probe start(unsigned char, unsigned long long);
  probe request(int, short, unsigned char);
  probe vanished(int);
};
"""


def _doctor(rule: str, tmp_path: Path) -> list[str]:
    """The ``check`` arguments that produce ``rule``: the lint fixture, a doctored
    copy of probes-O2, or probes-O2 against an edited provider file."""
    if rule.startswith("provider-"):
        declared = tmp_path / "fxsem.d"
        declared.write_text(PROVIDER_FILE)
        return ["--provider", str(declared), str(PROBES_O2)]
    if rule not in ("base-section-missing", "site-not-in-text", "site-not-nop"):
        return [str(LINT_FIXTURE)]
    path = _copy(PROBES_O2, tmp_path)
    if rule == "base-section-missing":
        _patch(path, _section(path, ".stapsdt.base")[2], b".stapsdt.xxxx")
    elif rule == "site-not-in-text":
        note, _address = _site_note(path, "fx:one")
        _patch(path, note + DESC, struct.pack("<Q", _section(path, ".data")[0]))
    else:
        offset = next(s.file_offset for s in scan(path).sites if s.probe_id == "fx:one")
        assert offset is not None
        _patch(path, offset, b"\xcc")
    return [str(path)]


def _json_ids(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[Counter[str], int]:
    _status, out, _ = _run(["check", "--json", *argv], capsys)
    (entry,) = json.loads(out)["files"]
    return Counter(f["id"] for f in entry["findings"]), entry["ignored"]


@pytest.mark.parametrize("rule", sorted(RULES))
def test_every_finding_id_is_documented_in_json_and_ignorable(
    rule: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert f"``{rule}``" in CHECKS_RST.read_text()
    argv = _doctor(rule, tmp_path)
    found, ignored = _json_ids(argv, capsys)
    assert found[rule] >= 1 and ignored == 0
    kept, ignored = _json_ids(["--ignore", rule, *argv], capsys)
    assert rule not in kept and ignored == found[rule]
    assert kept == found - Counter({rule: found[rule]})
