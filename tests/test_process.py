"""``--pid`` on a real process: fixtures/bin/x86_64/wait, a PIE that waits until killed."""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from usdtscan import FileAccessError
from usdtscan.elf import ElfFile, SegmentType
from usdtscan.process import MappedFile, Mapping, ProcessScan, parse_maps, scan_process

from .conftest import FIXTURE_BIN

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
