"""The command line as a user runs it: output formats, filters, exit status, bad input."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from usdtscan import FileAccessError, MalformedFileError, NotObjectFileError, probes, scan
from usdtscan.elf import ElfFile

from .conftest import FIXTURE_BIN, run_usdtscan

SAMPLE = FIXTURE_BIN / "x86_64" / "probes-O2"


def run(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return run_usdtscan(*args, timeout=timeout)


def note_section_offset(path: Path) -> tuple[int, int]:
    elf = ElfFile(str(path), path.read_bytes())
    section = elf.section_by_name(".note.stapsdt")
    assert section is not None
    return section.offset, section.size


# -- good input -------------------------------------------------------------


def test_table_lists_every_site() -> None:
    result = run(str(SAMPLE))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    header = result.stdout.splitlines()[1].split()
    assert header == [
        "PROVIDER",
        "MODULE",
        "FUNCTION",
        "NAME",
        "ADDRESS",
        "OFFSET",
        "SEMAPHORE",
        "ARGS",
    ]
    rows = result.stdout.splitlines()[2:]
    assert len(rows) == len(probes(SAMPLE))
    first = probes(SAMPLE)[0]
    assert f"{first.file_offset:#x}" in rows[0] or any(f"{first.file_offset:#x}" in r for r in rows)


def test_json_contract() -> None:
    result = run("--json", str(SAMPLE))
    assert result.returncode == 0
    document = json.loads(result.stdout)
    assert set(document) == {"usdtscan_version", "files"}
    (entry,) = document["files"]
    for key in ("path", "format", "machine", "bits", "endian", "elf_type", "error", "probes"):
        assert key in entry
    assert (entry["format"], entry["machine"], entry["bits"], entry["endian"]) == (
        "elf",
        "x86_64",
        64,
        "little",
    )
    assert entry["error"] is None
    sites = probes(SAMPLE)
    assert len(entry["probes"]) == len(sites)
    for site_json, site in zip(entry["probes"], sites, strict=True):
        for key in (
            "provider",
            "name",
            "note",
            "address",
            "file_offset",
            "semaphore_address",
            "semaphore_file_offset",
            "function",
            "args_raw",
            "args",
        ):
            assert key in site_json
        assert (
            site_json["note"]
            == {
                "pc": site.note.pc,
                "base": site.note.base,
                "semaphore": site.note.semaphore,
            }
            if site.note
            else None
        )
        assert site_json["file_offset"] == site.file_offset
        assert [a["raw"] for a in site_json["args"]] == [a.raw for a in site.args]
        for arg in site_json["args"]:
            assert set(arg) >= {"raw", "size", "signed", "float", "operand"}
    grouped = {(g["provider"], g["name"]): g["sites"] for g in entry["groups"]}
    assert sum(len(v) for v in grouped.values()) == len(sites)


def test_probe_glob_filters() -> None:
    sites = probes(SAMPLE)
    provider = sites[0].provider
    result = run("--json", "--probe", f"{provider}:*", str(SAMPLE))
    names = {s["provider"] for s in json.loads(result.stdout)["files"][0]["probes"]}
    assert names == {provider}
    result = run("--json", "--probe", "no_such_probe*", str(SAMPLE))
    assert json.loads(result.stdout)["files"][0]["probes"] == []


def test_verbose_shows_each_site() -> None:
    result = run("-v", str(SAMPLE))
    assert result.returncode == 0
    assert result.stdout.count("    site ") == len(probes(SAMPLE))


def test_readelf_format_matches_the_tool() -> None:
    result = run("--format", "readelf", str(SAMPLE))
    readelf = subprocess.run(["readelf", "-n", str(SAMPLE)], capture_output=True, text=True)
    if readelf.returncode != 0:
        pytest.skip("binutils readelf not installed")
    from .oracle import stapsdt_blocks

    assert result.stdout == stapsdt_blocks(readelf.stdout)


def test_default_is_the_running_interpreter() -> None:
    result = run("--json")
    assert result.returncode == 0, result.stderr
    paths = [f["path"] for f in json.loads(result.stdout)["files"]]
    assert paths[0] == os.path.realpath(sys.executable)


def test_default_text_reports_the_interpreters_markers() -> None:
    result = run()
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(os.path.realpath(sys.executable) + ": ")
    assert "CPython markers of this interpreter" in result.stdout
    version = f"CPython {sys.version_info.major}.{sys.version_info.minor}."
    assert version in result.stdout
    assert "python:gc__start" in result.stdout


def test_recursive_walk_finds_fixtures_once(tmp_path: Path) -> None:
    target = tmp_path / "tree"
    target.mkdir()
    (target / "a").write_bytes(SAMPLE.read_bytes())
    (target / "b").hardlink_to(target / "a")  # same inode: read once
    (target / "c").symlink_to(target / "a")  # same inode again
    (target / "loop").symlink_to(target)  # a directory symlink is not descended
    (target / "text").write_text("not an object")
    os.mkfifo(target / "fifo")  # special files are skipped, never opened
    result = run("--json", "-r", str(target), timeout=20)
    assert result.returncode == 0, result.stderr
    files = json.loads(result.stdout)["files"]
    assert [f["path"] for f in files] == [str(target / "a")]
    assert len(files[0]["probes"]) == len(probes(SAMPLE))


# -- bad input ----------------------------------------------------------------


def expect_one_error(result: subprocess.CompletedProcess[str], path: Path, reason: str) -> None:
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"usdtscan: {path}: ")
    assert reason in lines[0]


def test_missing_file() -> None:
    expect_one_error(run("/no/such/file"), Path("/no/such/file"), "no such file")
    with pytest.raises(FileAccessError):
        probes("/no/such/file")


def test_directory_needs_recursive(tmp_path: Path) -> None:
    expect_one_error(run(str(tmp_path)), tmp_path, "is a directory")


def test_fifo_does_not_block(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    expect_one_error(run(str(fifo), timeout=10), fifo, "is a FIFO")


def test_not_elf(tmp_path: Path) -> None:
    path = tmp_path / "text"
    path.write_text("hello\n")
    expect_one_error(run(str(path)), path, "not an ELF file")
    with pytest.raises(NotObjectFileError):
        scan(path)


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty"
    path.write_bytes(b"")
    expect_one_error(run(str(path)), path, "empty file")


@pytest.mark.parametrize("length", [4, 6, 15, 20, 63])
def test_truncated_header(tmp_path: Path, length: int) -> None:
    """The ELF magic and a few bytes (issue 15: \x7fELF and two) is a cut ELF header."""
    path = tmp_path / "cut"
    path.write_bytes(SAMPLE.read_bytes()[:length])
    result = run(str(path))
    expect_one_error(result, path, "truncated ELF header")
    with pytest.raises(MalformedFileError, match="truncated ELF header"):
        scan(path)


def test_truncated_section_table(tmp_path: Path) -> None:
    data = SAMPLE.read_bytes()
    path = tmp_path / "cut"
    path.write_bytes(data[: len(data) - 100])
    expect_one_error(run(str(path)), path, "section header table")
    with pytest.raises(MalformedFileError):
        probes(path)


def test_note_running_past_its_section_keeps_earlier_sites(tmp_path: Path) -> None:
    data = bytearray(SAMPLE.read_bytes())
    offset, _size = note_section_offset(SAMPLE)
    good = probes(SAMPLE)
    # Walk to the third note and give it a descriptor size that overflows.
    position = offset
    for _ in range(2):
        namesz, descsz, _type = struct.unpack_from("<III", data, position)
        position += 12 + (namesz + 3 & ~3) + (descsz + 3 & ~3)
    struct.pack_into("<I", data, position + 4, 0xFFFFFFF0)
    path = tmp_path / "corrupt"
    path.write_bytes(bytes(data))
    scanned = scan(path)
    assert scanned.error is not None and "past the end of the section" in scanned.error
    assert scanned.sites == good[:2]
    with pytest.raises(MalformedFileError):
        probes(path)
    result = run("--json", str(path))
    assert result.returncode == 2
    assert len(json.loads(result.stdout)["files"][0]["probes"]) == 2


def _main_as_nobody(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI in a forked child that has dropped root: root reads every file."""
    from usdtscan.cli import main

    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        try:
            os.close(read_end)
            sys.stderr = open(write_end, "w")  # noqa: SIM115 - the child exits right after
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            code = main(list(args))
            sys.stderr.flush()
        except BaseException:
            code = 99
        os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end) as stream:
        stderr = stream.read()
    _pid, status = os.waitpid(pid, 0)
    return subprocess.CompletedProcess(list(args), os.waitstatus_to_exitcode(status), "", stderr)


def test_no_permission(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    path.write_bytes(SAMPLE.read_bytes())
    path.chmod(0)
    if os.geteuid() == 0:
        tmp_path.chmod(0o755)
        result = _main_as_nobody(str(path))
    else:
        result = run(str(path))
    expect_one_error(result, path, "permission denied")
    if os.geteuid() != 0:
        with pytest.raises(FileAccessError):
            probes(path)


def test_other_files_still_reported(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    result = run("--json", str(missing), str(SAMPLE))
    assert result.returncode == 2
    files = json.loads(result.stdout)["files"]
    assert files[0]["error"] == "no such file or directory"
    assert files[1]["error"] is None and len(files[1]["probes"]) == len(probes(SAMPLE))


# -- the command plumbing (usdtscan/cli.py) -----------------------------------


def _modules_loaded_by(*args: str) -> set[str]:
    """The usdtscan modules that one run of the command imports, in a fresh interpreter."""
    code = (
        "import sys\nfrom usdtscan.cli import main\nmain(sys.argv[1:])\n"
        "sys.stderr.write(' '.join(m for m in sys.modules if m.startswith('usdtscan')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=60
    )
    return set(done.stderr.splitlines()[-1].split())


def test_each_command_imports_only_its_own_module() -> None:
    listing = _modules_loaded_by(str(SAMPLE))
    assert "usdtscan.listing" in listing
    assert not listing & {"usdtscan.checkrun", "usdtscan.diffrun", "usdtscan.scriptrun"}
    assert "usdtscan.lint" not in listing and "usdtscan.render.checks" not in listing
    diff = _modules_loaded_by("diff", str(SAMPLE), str(SAMPLE))
    assert "usdtscan.diffrun" in diff
    assert not diff & {"usdtscan.listing", "usdtscan.checkrun", "usdtscan.parallel"}
    # The check renderers share a module; diff's does not load the others' checks.
    assert not diff & {"usdtscan.lint", "usdtscan.cpython"}
    check = _modules_loaded_by("check", str(SAMPLE))
    assert "usdtscan.checkrun" in check and "usdtscan.lint" in check
    assert not check & {"usdtscan.listing", "usdtscan.diffrun", "usdtscan.scriptrun"}


def test_every_command_in_the_registry_loads() -> None:
    from usdtscan.cli import COMMANDS, DEFAULT_COMMAND, load_command

    assert sorted(COMMANDS) == ["check", "diff", "script"]
    assert DEFAULT_COMMAND == "usdtscan.listing:run_listing"
    for name in (*COMMANDS, None):
        run_command = load_command(name)
        assert run_command.__name__.startswith("run_")


@pytest.mark.parametrize("command", ["", "check", "diff", "script"])
def test_usage_error_and_help_statuses(command: str) -> None:
    """argparse's exits become main's return value, for every command alike."""
    from usdtscan.cli import main

    words = [command] if command else []
    assert main([*words, "--no-such-option"]) == 2
    assert main([*words, "--help"]) == 0


def _closed_stdout(*args: str) -> subprocess.CompletedProcess[str]:
    """The CLI with its stdout a pipe whose reader has gone (``| head`` after it exits)."""
    child = subprocess.Popen(
        [sys.executable, "-m", "usdtscan", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None and child.stderr is not None
    child.stdout.close()  # before the child can have written anything
    stderr = child.stderr.read()
    child.stderr.close()
    return subprocess.CompletedProcess(list(args), child.wait(timeout=120), "", stderr)


@pytest.mark.parametrize(
    "args",
    [
        ("--json", str(SAMPLE)),
        ("-v", str(SAMPLE), str(FIXTURE_BIN / "x86_64" / "probes-O0")),
        ("--help",),
        ("check", "--help"),
        ("check", "--json", str(SAMPLE)),
    ],
)
def test_a_closed_stdout_is_not_an_error(args: tuple[str, ...]) -> None:
    result = _closed_stdout(*args)
    assert result.returncode == 0
    assert result.stderr == ""


def test_a_closed_stdout_keeps_the_scan_status(tmp_path: Path) -> None:
    """The error of a later file still reaches stderr and the status."""
    missing = tmp_path / "missing"
    result = _closed_stdout("-v", str(SAMPLE), str(missing))
    assert result.returncode == 2
    assert result.stderr == f"usdtscan: {missing}: no such file or directory\n"


def test_no_command_imports_shutil_for_argparse() -> None:
    """argparse's own formatter imports shutil (and so bz2 and lzma) for every
    add_argument; usdtscan's sizes help the same way without it."""
    code = (
        "import sys\nfrom usdtscan.cli import main\nmain(sys.argv[1:])\n"
        "sys.stderr.write(' '.join(m for m in ('shutil', 'bz2', 'lzma') if m in sys.modules))\n"
    )
    for args in ([str(SAMPLE)], ["check", str(SAMPLE)], ["diff", str(SAMPLE), str(SAMPLE)]):
        done = subprocess.run(
            [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=60
        )
        assert done.stderr.splitlines()[-1:] in ([], [""]), (args, done.stderr)


@pytest.mark.parametrize("columns", ["40", "100", ""])
def test_help_is_laid_out_as_argparse_lays_it_out(
    columns: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import argparse

    from usdtscan.listing import build_parser

    monkeypatch.setenv("COLUMNS", columns)
    ours = build_parser()
    theirs = build_parser()
    theirs.formatter_class = argparse.HelpFormatter
    assert ours.format_help() == theirs.format_help()
    assert ours.formatter_class is not argparse.HelpFormatter
