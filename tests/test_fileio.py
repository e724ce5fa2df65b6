"""Reading with pread: files that shrink or change under the scan, and Ctrl-C.

The shrinking file is the issue's reproduction: ``usdtscan --json`` on a
20,000-probe binary that is truncated to 4096 bytes while it is read.  With
the old mapped reader that was a SIGBUS (exit status -7, no message, every
earlier result lost); now it must be one error line and the other files
still reported.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import pytest

from usdtscan import scan
from usdtscan.elf import ElfFile
from usdtscan.errors import FileAccessError, MalformedFileError
from usdtscan.fileio import FileReader, opened
from usdtscan.scan import scan_if_object
from usdtscan.stapsdt import drain, iter_sites

from .conftest import FIXTURE_BIN, FIXTURES, fixture_binaries

SAMPLE = FIXTURE_BIN / "x86_64" / "probes-O2"
SAMPLE_SITES = len(scan(SAMPLE, debug_dirs=None).sites)
MANY = 20_000


@pytest.fixture(scope="session")
def many_binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 20,000-probe program of fixtures/src/gen-many.py, compiled here (-O0: quick)."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    work = tmp_path_factory.mktemp("many")
    subprocess.run(
        [sys.executable, str(FIXTURES / "src" / "gen-many.py"), str(MANY), "many.c"],
        cwd=work,
        check=True,
    )
    built = subprocess.run(
        ["gcc", "-O0", "-g0", "many.c", "-o", "many"], cwd=work, capture_output=True, text=True
    )
    if built.returncode != 0:
        pytest.skip(f"cannot build the {MANY}-probe binary (sys/sdt.h?): {built.stderr[-300:]}")
    return work / "many"


def _read_until(stream: IO[bytes], marker: bytes, deadline: float) -> bytes:
    """What the process has written up to ``marker`` (and a little more)."""
    seen = b""
    while marker not in seen:
        assert time.monotonic() < deadline, "usdtscan wrote no site"
        chunk = os.read(stream.fileno(), 65536)
        assert chunk, "usdtscan ended before it wrote a site"
        seen += chunk
    return seen


def test_file_truncated_during_json_scan_is_one_error_line(
    many_binary: Path, tmp_path: Path
) -> None:
    victim = tmp_path / "victim"
    shutil.copy(many_binary, victim)
    process = subprocess.Popen(
        [sys.executable, "-m", "usdtscan", "--json", str(victim), str(SAMPLE)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    assert process.stdout is not None
    # Truncate once the first site is out: the scan has read the headers by then,
    # and it cannot have finished, since a pipe nobody reads stops its writes at
    # 64 KiB of the 4 MB.  (Waiting for the file to be open was a race: under
    # load the truncation could come before the first read.)
    head = _read_until(process.stdout, b'"probes": [{', time.monotonic() + 60)
    subprocess.run(["truncate", "-s", "4096", str(victim)], check=True)
    rest, errors = process.communicate(timeout=120)
    stdout, stderr = (head + rest).decode(), errors.decode()
    assert process.returncode == 2, stderr  # not -7 (SIGBUS)
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"usdtscan: {victim}: file changed while being read")
    assert "now 0x1000 bytes" in lines[0]
    files = json.loads(stdout)["files"]
    assert [f["path"] for f in files] == [str(victim), str(SAMPLE)]
    assert files[0]["error"] == lines[0].split(": ", 2)[2]
    assert files[1]["error"] is None
    assert len(files[1]["probes"]) == SAMPLE_SITES  # one entry per site


def test_short_read_names_what_was_cut_off(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    shutil.copy(SAMPLE, victim)
    with opened(str(victim)) as reader:
        elf = ElfFile(str(victim), reader)
        note = elf.section_by_name(".note.stapsdt")
        assert note is not None
        os.truncate(victim, note.offset)
        with pytest.raises(MalformedFileError) as caught:
            list(elf.notes(note))
    assert caught.value.reason == (
        "file changed while being read: section .note.stapsdt "
        f"({note.size:#x} bytes) is cut off (it is now {note.offset:#x} bytes, "
        f"was {SAMPLE.stat().st_size:#x}) (at file offset {note.offset:#x})"
    )


def test_code_cut_off_mid_scan_is_an_error_with_the_earlier_sites(many_binary: Path) -> None:
    """The bytes at each site are read site by site, after the notes: cutting
    the code off then is an error on the file, with the sites read before it."""
    victim = many_binary.with_name("victim-code")
    shutil.copy(many_binary, victim)
    with opened(str(victim)) as reader:
        elf = ElfFile(str(victim), reader)
        sites = iter_sites(elf)
        first = [next(sites) for _ in range(100)]
        text = elf.section_by_name(".text")
        assert text is not None
        os.truncate(victim, text.offset + text.size // 2)
        result = drain(sites)
    assert first[0].code is not None
    assert 100 < len(first) + len(result.sites) < MANY
    assert result.error is not None
    assert result.error.startswith("file changed while being read: code (0x38 bytes) is cut off")


def test_file_rewritten_in_place_is_reported(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    shutil.copy(SAMPLE, victim)
    with opened(str(victim)) as reader:
        assert reader.changed() is None
        stat = victim.stat()
        os.utime(victim, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
        assert reader.changed() == "file changed while being read (modified during the scan)"


def test_reads_are_bounded_by_the_size_at_open(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(bytes(100))
    fd = os.open(victim, os.O_RDONLY)
    try:
        reader = FileReader(str(victim), fd)
        assert reader.read(90, 10, "tail") == bytes(10)
        with pytest.raises(MalformedFileError) as caught:
            reader.read(1 << 40, 1 << 40, "a lying table")
        assert "runs past the end of the file (0x64 bytes)" in caught.value.reason
    finally:
        os.close(fd)


def test_directory_swapped_in_for_a_walked_file(tmp_path: Path) -> None:
    """A walked file is opened without an fstat; a directory there now is still one line."""
    (tmp_path / "d").mkdir()
    with pytest.raises(FileAccessError) as caught, opened(str(tmp_path / "d"), True) as reader:
        reader.head(8)
    assert caught.value.reason == "is a directory (use -r to scan it)"


def _opened_under(pid: int, prefix: str) -> bool:
    """Whether process ``pid`` has a file or directory below ``prefix`` open."""
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}").startswith(prefix):
                return True
        except OSError:
            continue
    return False


def _interrupted(arguments: list[str], group: bool) -> subprocess.CompletedProcess[str]:
    """Run usdtscan, wait until it is walking, send SIGINT (to its whole process
    group when ``group``, as a terminal's Ctrl-C does) and collect the result."""
    process = subprocess.Popen(
        [sys.executable, "-m", "usdtscan", *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
        # As a terminal's shell starts a command: SIGINT at its default.  A suite
        # started in the background by a shell without job control inherits it
        # ignored, and Python then never raises KeyboardInterrupt.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    # Interrupt the walk, not the start-up: wait until a directory or file of the
    # tree is open (a fixed sleep raced with a slow start under load).
    deadline = time.monotonic() + 60
    while not _opened_under(process.pid, "/usr/"):
        assert process.poll() is None, "usdtscan ended before it walked"
        assert time.monotonic() < deadline, "usdtscan did not start walking"
        time.sleep(0.01)
    time.sleep(0.2)
    assert process.poll() is None, "the walk ended before the interrupt"
    if group:
        os.killpg(process.pid, signal.SIGINT)
    else:
        os.kill(process.pid, signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


@pytest.mark.parametrize(("jobs", "group"), [("1", False), ("2", True)])
def test_ctrl_c_is_status_130_and_one_line(jobs: str, group: bool) -> None:
    result = _interrupted(["-r", "-j", jobs, "--json", "/usr"], group)
    assert result.returncode == 130
    assert result.stderr == "usdtscan: interrupted\n"
    assert result.stdout == ""


@pytest.mark.parametrize(
    "binary", fixture_binaries(), ids=lambda p: str(p.relative_to(FIXTURE_BIN))
)
def test_lookups_without_the_full_section_table_agree_with_it(binary: Path) -> None:
    """note_sections() and section_by_name() work from the raw headers (names
    found by offset in the name table); they must give what the table gives."""
    data = binary.read_bytes()
    lazy = ElfFile(str(binary), data)
    full = ElfFile(str(binary), data).sections
    assert lazy.note_sections() == [s for s in full if s.type == 7]
    for name in {s.name for s in full} | {".stapsdt.base", ".SUNW_dof", ".text", "text", ""}:
        assert lazy.section_by_name(name) == next((s for s in full if s.name == name), None)
    assert lazy.section_count == len(full)


def test_walked_files_have_only_their_sdt_note_section_read(tmp_path: Path) -> None:
    """-r reads the notes of .note.stapsdt only (sys/sdt.h writes no other);
    a file named alone has every note section read, whatever its name."""
    data = bytearray(SAMPLE.read_bytes())
    at = data.index(b".note.stapsdt\0")
    data[at : at + 13] = b".note.renamed"
    renamed = tmp_path / "renamed"
    renamed.write_bytes(bytes(data))
    assert len(scan(renamed, debug_dirs=None).sites) == SAMPLE_SITES
    walked = scan_if_object(str(renamed), None)
    assert walked is not None and walked.format == "elf" and walked.error is None
    assert walked.sites == []
    original = scan_if_object(str(SAMPLE), None)
    assert original is not None and len(original.sites) == SAMPLE_SITES


def test_one_describer_says_what_failed(tmp_path: Path) -> None:
    from usdtscan.fileio import describe_os_error

    missing = tmp_path / "missing"
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    reasons = []
    for path in (missing, loop):
        try:
            os.open(path, os.O_RDONLY)
        except OSError as exc:
            reasons.append(describe_os_error(exc))
            if path == missing:
                # A process reader says what is missing in its own terms.
                assert describe_os_error(exc, missing="no such process") == "no such process"
    assert reasons == ["no such file or directory", "too many levels of symbolic links"]
    with (
        pytest.raises(FileAccessError, match=r": no such file or directory$"),
        opened(str(missing)),
    ):
        pass
