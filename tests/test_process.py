"""``--pid`` on a real process: fixtures/bin/x86_64/wait, a PIE that waits until killed."""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from usdtscan import FileAccessError
from usdtscan.elf import ElfFile, SegmentType
from usdtscan.process import MappedFile, Mapping, ProcessScan, parse_maps, scan_process

from .conftest import FIXTURE_BIN, run_usdtscan

WAIT = FIXTURE_BIN / "x86_64" / "wait"

pytestmark = pytest.mark.skipif(
    platform.machine() != "x86_64" or not sys.platform.startswith("linux"),
    reason="runs the x86_64 Linux fixture natively",
)


class Waiter:
    """A running ``wait``, whose stdout says when a signal made it fire its probe."""

    def __init__(self, command: list[str], preexec: Callable[[], None] | None = None) -> None:
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            preexec_fn=preexec,
        )
        assert self.process.stdout is not None
        self.stdout = self.process.stdout
        line = self.stdout.readline()
        assert line.startswith("ready "), line
        self.pid = int(line.split()[1])

    def poke(self) -> str:
        """SIGUSR1: it reports the guarded semaphore's value as the program sees it."""
        os.kill(self.pid, signal.SIGUSR1)
        return self.stdout.readline().strip()

    def stop(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)


@pytest.fixture
def waiter() -> Iterator[Waiter]:
    running = Waiter([str(WAIT)])
    assert running.pid == running.process.pid
    yield running
    running.stop()


def maps_of(pid: int, path: Path) -> list[tuple[int, int, int]]:
    """(start, end, file offset) of each mapping of ``path``, parsed here independently."""
    found = []
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        fields = line.split()
        if len(fields) == 6 and fields[5] == str(path):
            start, end = (int(x, 16) for x in fields[0].split("-"))
            found.append((start, end, int(fields[2], 16)))
    return found


def wait_entry(result: ProcessScan, path: Path) -> MappedFile:
    (entry,) = [f for f in result.files if f.scanned.path == str(path)]
    return entry


def test_runtime_addresses_follow_the_load_bias(waiter: Waiter) -> None:
    result = scan_process(waiter.pid, debug_dirs=None)
    assert result.warnings == []
    path = WAIT.resolve()
    entry = wait_entry(result, path)
    assert entry.opened_as == f"/proc/{waiter.pid}/root{path}"
    assert [s.probe_id for s in entry.scanned.sites] == ["fxsem:start", "fxsem:guarded"]
    # The PIE's first PT_LOAD is at vaddr 0, file offset 0: the bias is where
    # the kernel put file offset 0.
    elf = ElfFile(str(WAIT), WAIT.read_bytes())
    first_load = next(s for s in elf.segments if s.type == SegmentType.LOAD)
    assert (first_load.vaddr, first_load.offset) == (0, 0)
    mappings = maps_of(waiter.pid, path)
    (zero_start,) = [start for start, _end, offset in mappings if offset == 0]
    assert entry.load_bias == zero_start
    assert entry.load_bias != 0 and entry.load_bias % 4096 == 0
    for site, runtime in zip(entry.scanned.sites, entry.runtime, strict=True):
        assert site.file_offset is not None and site.address is not None
        # readelf says pc 0x12c0 / 0x12e0; the code mapping holds its file offset.
        (start,) = [
            start + site.file_offset - offset
            for start, end, offset in mappings
            if offset <= site.file_offset < offset + (end - start)
        ]
        assert runtime.address == start == zero_start + site.address
        assert runtime.semaphore_address == zero_start + (site.semaphore_address or 0)
        assert runtime.semaphore_value == 0
    assert entry.scanned.sites[0].address == 0x12C0
    assert entry.scanned.sites[1].semaphore_address == 0x4054
    libc = [f for f in result.files if Path(f.scanned.path).name == "libc.so.6"]
    assert len(libc) == 1 and libc[0].load_bias is not None and libc[0].load_bias > 0


def test_semaphore_written_by_a_tracer_reads_non_zero(waiter: Waiter) -> None:
    if os.geteuid() != 0:
        pytest.skip("writing another process's memory needs root here")
    assert waiter.poke() == "guarded semaphore 0"
    entry = wait_entry(scan_process(waiter.pid, debug_dirs=None), WAIT.resolve())
    guarded = entry.runtime[1]
    assert guarded.semaphore_address is not None
    # What a tracer does to enable a probe: increment the counter in place.
    with open(f"/proc/{waiter.pid}/mem", "r+b", buffering=0) as memory:
        memory.seek(guarded.semaphore_address)
        memory.write((3).to_bytes(2, "little"))
    entry = wait_entry(scan_process(waiter.pid, debug_dirs=None), WAIT.resolve())
    assert [r.semaphore_value for r in entry.runtime] == [0, 3]
    # The program reads the very counter usdtscan located.
    assert waiter.poke() == "guarded semaphore 3"
    result = subprocess.run(
        [sys.executable, "-m", "usdtscan", "--pid", str(waiter.pid), "--json", "-p", "guarded"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["pid"] == waiter.pid
    (entry_json,) = [f for f in document["files"] if f["path"] == str(WAIT.resolve())]
    (site,) = entry_json["probes"]
    assert site["name"] == "guarded"
    assert site["semaphore_value"] == 3
    assert site["runtime_address"] == entry_json["load_bias"] + site["address"]
    assert site["semaphore_runtime_address"] == guarded.semaphore_address
    assert entry_json["pid"] == waiter.pid
    text = subprocess.run(
        [sys.executable, "-m", "usdtscan", "--pid", str(waiter.pid)],
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    assert f"{guarded.semaphore_address:#x}  3 (enabled)" in text


def test_container_files_are_read_through_proc_root() -> None:
    """A process in its own mount namespace maps ``/mnt/wait``, which the host lacks."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("a mount namespace needs root")
    assert not Path("/mnt/wait").exists()
    script = f"mount -t tmpfs none /mnt && cp {WAIT} /mnt/wait && exec /mnt/wait"
    running = Waiter(["unshare", "--mount", "--propagation", "private", "sh", "-c", script])
    try:
        result = scan_process(running.pid, debug_dirs=None)
        entry = wait_entry(result, Path("/mnt/wait"))
        assert entry.opened_as == f"/proc/{running.pid}/root/mnt/wait"
        assert entry.scanned.error is None
        assert [s.probe_id for s in entry.scanned.sites] == ["fxsem:start", "fxsem:guarded"]
        assert entry.runtime[0].address == (entry.load_bias or 0) + 0x12C0
    finally:
        running.stop()


def test_chrooted_process_is_read_through_its_mapping(tmp_path: Path) -> None:
    """Paths of a chrooted process are printed from our root, not its own."""
    if os.geteuid() != 0 or shutil.which("chroot") is None:
        pytest.skip("chroot needs root")
    root = tmp_path / "root"
    for library in ("/lib/x86_64-linux-gnu/libc.so.6", "/lib64/ld-linux-x86-64.so.2"):
        target = root / library.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(os.path.realpath(library), target)
    shutil.copy(WAIT, root / "wait")
    running = Waiter(["chroot", str(root), "/wait"])
    try:
        entry = wait_entry(scan_process(running.pid, debug_dirs=None), root / "wait")
        assert entry.scanned.error is None and len(entry.scanned.sites) == 2
        assert entry.runtime[1].semaphore_value == 0
    finally:
        running.stop()


def test_deleted_file_is_read_through_its_mapping(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("/proc/PID/map_files needs CAP_SYS_ADMIN")
    copy = tmp_path / "wait-copy"
    shutil.copy(WAIT, copy)
    running = Waiter([str(copy)])
    try:
        copy.unlink()
        result = scan_process(running.pid, debug_dirs=None)
        entry = wait_entry(result, Path(f"{copy} (deleted)"))
        assert "/map_files/" in entry.opened_as
        assert len(entry.scanned.sites) == 2 and entry.runtime[1].semaphore_value == 0
    finally:
        running.stop()


def test_permission_missing_is_said_clearly() -> None:
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to run the fixture as another user")

    def drop() -> None:
        os.setgid(65534)
        os.setuid(65534)

    waiter = Waiter([str(WAIT)], drop)

    # The process runs as nobody; usdtscan as root without any capability,
    # so the kernel's ptrace check fails as it would for another user.
    result = subprocess.run(
        [
            "setpriv",
            "--inh-caps=-all",
            "--bounding-set=-all",
            sys.executable,
            "-m",
            "usdtscan",
            "--pid",
            str(waiter.pid),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    waiter.stop()
    assert result.stderr.startswith(f"usdtscan: /proc/{waiter.pid}/maps: permission denied")


def test_no_such_process() -> None:
    with pytest.raises(FileAccessError, match="no such process"):
        scan_process(2**22 + 12345)


def test_parse_maps_keeps_file_mappings_only() -> None:
    text = (
        "55d4-55d5 r--p 00000000 fe:00 5308716    /opt/a b/wait\n"
        "55d6-55d7 rw-p 00000000 00:00 0          [heap]\n"
        "7ff0-7ff1 r-xp 00000000 00:00 0          [vdso]\n"
        "7ff2-7ff3 rw-p 00000000 00:00 0\n"
        "garbage\n"
    )
    assert list(parse_maps(text)) == [
        Mapping(0x55D4, 0x55D5, "r--p", 0, "fe:00", 5308716, "/opt/a b/wait")
    ]


# -- memfd objects and --pid all ----------------------------------------------------

LIB = FIXTURE_BIN / "x86_64-so" / "libprobes-O2.so"
MEMFD_LOADER = """
import ctypes, os, sys
fd = os.memfd_create("fx-probes")
with open(sys.argv[1], "rb") as source:
    os.write(fd, source.read())
ctypes.CDLL(f"/proc/self/fd/{fd}")
print("ready", os.getpid(), flush=True)
sys.stdin.read()
"""


class MemfdLoader:
    """A process that loads a probe-carrying library from a memfd, the way
    libstapsdt creates runtime probes (a file with no path on any disk)."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", MEMFD_LOADER, str(LIB)],
            stdout=subprocess.PIPE,
            stdin=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line.startswith("ready "), line
        self.pid = int(line.split()[1])

    def stop(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return run_usdtscan(*args)


def test_memfd_loaded_object_is_listed() -> None:
    if os.geteuid() != 0:
        pytest.skip("/proc/PID/map_files needs CAP_SYS_ADMIN")
    loader = MemfdLoader()
    try:
        result = scan_process(loader.pid, debug_dirs=None)
        (entry,) = [f for f in result.files if f.scanned.path == "/memfd:fx-probes (deleted)"]
        assert "/map_files/" in entry.opened_as
        # The same sites as the file it was copied from.
        expected = [(s.probe_id, s.address) for s in scan_file(LIB).sites]
        assert [(s.probe_id, s.address) for s in entry.scanned.sites] == expected
        assert len(expected) == 4
        assert entry.load_bias is not None
        assert entry.runtime[0].address == entry.load_bias + expected[0][1]
        everything = json.loads(run_cli("--pid", "all", "--json").stdout)
        (process,) = [p for p in everything["processes"] if p["pid"] == loader.pid]
        paths = [f["path"] for f in process["files"]]
        assert "/memfd:fx-probes (deleted)" in paths
    finally:
        loader.stop()


def scan_file(path: Path) -> Any:
    from usdtscan import scan

    return scan(path, debug_dirs=None)


def test_pid_all_lists_processes_and_what_is_traced_now(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("writing another process's memory needs root here")
    quiet = Waiter([str(WAIT)])
    traced = Waiter([str(WAIT)])
    deleted_copy = tmp_path / "wait-deleted"
    shutil.copy(WAIT, deleted_copy)
    deleted = Waiter([str(deleted_copy)])
    deleted_copy.unlink()
    try:
        entry = wait_entry(scan_process(traced.pid, debug_dirs=None), WAIT.resolve())
        semaphore = entry.runtime[1].semaphore_address
        assert semaphore is not None
        with open(f"/proc/{traced.pid}/mem", "r+b", buffering=0) as memory:
            memory.seek(semaphore)
            memory.write((2).to_bytes(2, "little"))
        result = run_cli("--pid", "all", "--json")
        assert result.returncode == 0, result.stderr
        document = json.loads(result.stdout)
        by_pid = {p["pid"]: p for p in document["processes"]}
        assert {quiet.pid, traced.pid, deleted.pid} <= set(by_pid)
        deleted_paths = [f["path"] for f in by_pid[deleted.pid]["files"]]
        assert f"{deleted_copy} (deleted)" in deleted_paths
        mine = [t for t in document["traced"] if t["pid"] in (quiet.pid, traced.pid)]
        assert mine == [
            {
                "pid": traced.pid,
                "path": str(WAIT.resolve()),
                "host_path": str(WAIT.resolve()),
                "provider": "fxsem",
                "name": "guarded",
                "semaphore_runtime_address": semaphore,
                "semaphore_value": 2,
            }
        ]
        assert traced.poke() == "guarded semaphore 2"
        text = run_cli("--pid", "all", "-p", "fxsem:*").stdout
        assert f"pid {quiet.pid} wait: {WAIT.resolve()}" in text
        assert "Traced now (semaphore raised):" in text
        # Other processes on the machine may widen the columns.
        row = (
            rf"^  {traced.pid} +fxsem:guarded +{semaphore:#x} +2 +{re.escape(str(WAIT.resolve()))}$"
        )
        assert re.search(row, text, re.MULTILINE), text
        assert "with probes mapped" in text.splitlines()[-1]
    finally:
        for waiter in (quiet, traced, deleted):
            waiter.stop()


def test_pid_all_names_container_processes_by_both_paths() -> None:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("a mount namespace needs root")
    script = f"mount -t tmpfs none /mnt && cp {WAIT} /mnt/wait && exec /mnt/wait"
    running = Waiter(["unshare", "--mount", "--propagation", "private", "sh", "-c", script])
    try:
        document = json.loads(run_cli("--pid", "all", "--json").stdout)
        (process,) = [p for p in document["processes"] if p["pid"] == running.pid]
        assert process["foreign_mount_namespace"] is True
        (entry,) = [f for f in process["files"] if f["path"] == "/mnt/wait"]
        assert entry["host_path"] == f"/proc/{running.pid}/root/mnt/wait"
        assert os.path.isfile(entry["host_path"]) and not os.path.exists("/mnt/wait")
        text = run_cli("--pid", "all", "-p", "fxsem:*").stdout
        assert f"    host path /proc/{running.pid}/root/mnt/wait" in text
    finally:
        running.stop()


NO_CAPABILITIES = ("setpriv", "--inh-caps=-all", "--bounding-set=-all")


def test_pid_all_counts_unreadable_processes_in_one_line() -> None:
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to run the fixture as another user")

    def drop() -> None:
        os.setgid(65534)
        os.setuid(65534)

    # The fixture runs as nobody; usdtscan as root without any capability,
    # so the kernel refuses it nobody's mappings as it would another user's.
    running = Waiter([str(WAIT)], drop)
    try:
        result = subprocess.run(
            [*NO_CAPABILITIES, sys.executable, "-m", "usdtscan", "--pid", "all"],
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
    finally:
        running.stop()
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert f"pid {running.pid} " not in result.stdout
    last = result.stdout.splitlines()[-1]
    assert "not readable (permission denied)" in last
    unreadable = int(last.split("; ")[1].split()[0])
    assert unreadable >= 1


@pytest.mark.corpus
def test_pid_all_sees_bpftrace_tracing_debian_python() -> None:
    """Debian's python3.11 traced by a real bpftrace: its semaphore is raised
    while bpftrace runs, and --pid all says so."""
    from .conftest import corpus_file

    python = corpus_file("amd64/python3.11-minimal/usr/bin/python3.11")
    if os.geteuid() != 0 or shutil.which("bpftrace") is None:
        pytest.skip("needs root and bpftrace")
    target = subprocess.Popen(
        [str(python), "-c", "import time; time.sleep(60)"], stdin=subprocess.DEVNULL
    )
    tracer = subprocess.Popen(
        ["bpftrace", "-p", str(target.pid), "-e", f"usdt:{python}:python:gc__start {{ }}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    try:
        traced: list[Any] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and tracer.poll() is None:
            document = json.loads(run_cli("--pid", "all", "--json", "-p", "python:*").stdout)
            traced = [t for t in document["traced"] if t["pid"] == target.pid]
            if traced:
                break
            time.sleep(0.5)
        if not traced and tracer.poll() is not None:
            output = tracer.stdout.read().decode(errors="replace") if tracer.stdout else ""
            pytest.skip(f"bpftrace could not attach here: {output.strip()[-200:]}")
        assert [(t["provider"], t["name"], t["semaphore_value"]) for t in traced] == [
            ("python", "gc__start", 1)
        ]
        assert traced[0]["path"] == str(python)
    finally:
        tracer.terminate()
        try:
            tracer.wait(timeout=30)
        except subprocess.TimeoutExpired:
            # bpftrace still compiling or attaching on a loaded machine does not
            # act on SIGTERM until it is done; the test is over either way.
            tracer.kill()
            tracer.wait(timeout=30)
        target.kill()
        target.wait(timeout=10)
