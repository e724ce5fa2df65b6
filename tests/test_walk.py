"""``-r`` and ``-j``: tree walks over real fixtures, with every trap a tree can hold."""

from __future__ import annotations

import json
import os
import pickle
import pty
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from usdtscan import scan
from usdtscan.parallel import scan_targets
from usdtscan.walk import (
    PSEUDO_FILE_SYSTEMS,
    Target,
    WalkStats,
    expand,
    looks_like_object,
    object_files,
    pseudo_devices,
)

from .conftest import FIXTURE_BIN

SAMPLE = FIXTURE_BIN / "x86_64" / "probes-O2"
SAMPLE_SITES = len(scan(SAMPLE, debug_dirs=None).sites)
OBJECTS = [
    FIXTURE_BIN / "x86_64" / "probes-O0",
    FIXTURE_BIN / "x86_64" / "probes-O0.o",
    FIXTURE_BIN / "i386" / "probes-O2",
    FIXTURE_BIN / "aarch64" / "probes-O2",
    FIXTURE_BIN / "s390x" / "probes-O2",
    FIXTURE_BIN / "mips" / "probes-O0",
    FIXTURE_BIN / "x86_64-so" / "libprobes-O2.so",
    FIXTURE_BIN / "riscv64" / "probes-O2",
    FIXTURE_BIN / "ppc64" / "probes-O2",
]


def run(*args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "usdtscan", *args],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        **kwargs,  # type: ignore[call-overload]
    )


@pytest.fixture
def hostile_tree(tmp_path: Path) -> Path:
    """One object file reachable five ways, and everything a walk must not trip on."""
    root = tmp_path / "tree"
    (root / "sub" / "deeper").mkdir(parents=True)
    shutil.copy(SAMPLE, root / "sub" / "real")
    os.link(root / "sub" / "real", root / "hardlink")  # same inode, sorts first
    (root / "sub" / "deeper" / "symlink").symlink_to(root / "sub" / "real")
    (root / "loop").symlink_to(root)  # directory loop
    (root / "sub" / "self").symlink_to(root / "sub" / "self")  # ELOOP
    (root / "dangling").symlink_to(root / "nowhere")
    os.mkfifo(root / "fifo")  # opening it would block
    (root / "fifo-link").symlink_to(root / "fifo")
    (root / "text").write_text("#!/bin/sh\necho not an object\n")
    (root / "empty").write_bytes(b"")
    (root / "Main.class").write_bytes(b"\xca\xfe\xba\xbe\x00\x00\x00\x34" + bytes(64))
    (root / "elf-magic-only").write_bytes(b"\x7fELF")  # an object by magic, broken
    return root


def test_walk_lists_each_inode_once_sorted_and_skips_traps(hostile_tree: Path) -> None:
    stats = WalkStats()
    targets = list(object_files(expand([str(hostile_tree)], True, stats)))
    assert [t.path for t in targets] == [
        str(hostile_tree / "elf-magic-only"),
        str(hostile_tree / "hardlink"),
    ]
    # Regular files: Main.class, elf-magic-only, empty, hardlink, text (real and
    # the symlink are the hardlink's inode); special: fifo and its symlink.
    assert stats.files == 5
    assert stats.duplicates == 2
    assert stats.special == 2


def test_cli_walk_reports_broken_file_and_summary(hostile_tree: Path) -> None:
    result = run("--json", "-r", str(hostile_tree))
    assert result.returncode == 2
    files = json.loads(result.stdout)["files"]
    assert [f["path"] for f in files] == [
        str(hostile_tree / "elf-magic-only"),
        str(hostile_tree / "hardlink"),
    ]
    assert files[0]["error"] is not None and files[0]["format"] is None
    assert len(files[1]["probes"]) == SAMPLE_SITES
    lines = result.stderr.splitlines()
    assert lines[0].startswith(f"usdtscan: {hostile_tree / 'elf-magic-only'}: ")
    assert lines[-1] == (
        f"usdtscan: 5 files seen, 1 ELF, 0 Mach-O, 1 with probes, "
        f"{len(scan(SAMPLE).probes)} probes, {SAMPLE_SITES} sites, 1 errors"
    )
    assert "Traceback" not in result.stderr


def test_magic_filter() -> None:
    assert looks_like_object(b"\x7fELF\x02\x01\x01\x00")
    assert looks_like_object(b"\xcf\xfa\xed\xfe\x07\x00\x00\x01")
    assert looks_like_object(b"\xca\xfe\xba\xbe\x00\x00\x00\x02")  # fat, two slices
    assert not looks_like_object(b"\xca\xfe\xba\xbe\x00\x00\x00\x34")  # Java 8 class
    assert not looks_like_object(b"\xca\xfe\xba\xbe")  # too short to tell
    assert not looks_like_object(b"#!/bin/sh")
    assert not looks_like_object(b"")


@pytest.fixture
def many_tree(tmp_path: Path) -> Path:
    """Enough real objects (and non-objects between them) for a worker pool."""
    root = tmp_path / "many"
    for i, source in enumerate(OBJECTS):
        directory = root / f"d{i % 3}"
        directory.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, directory / f"{source.parent.name}-{source.name}")
        (directory / f"notes-{i}.txt").write_text("text " * i)
    return root


def test_parallel_output_equals_serial_and_is_sorted(many_tree: Path) -> None:
    serial = run("--json", "-r", "-j", "1", str(many_tree))
    parallel = run("--json", "-r", "-j", "2", str(many_tree))
    wide = run("--json", "-r", "-j", "7", str(many_tree))
    assert serial.returncode == 0, serial.stderr
    assert serial.stdout == parallel.stdout == wide.stdout
    assert serial.stderr == parallel.stderr == wide.stderr
    paths = [f["path"] for f in json.loads(serial.stdout)["files"]]
    assert len(paths) == len(OBJECTS)
    assert paths == sorted(paths)
    text_serial = run("-r", "-j", "1", str(many_tree))
    text_parallel = run("-r", "-j", "2", str(many_tree))
    assert text_serial.stdout == text_parallel.stdout
    assert "\r" not in text_parallel.stdout + text_parallel.stderr  # stderr is a pipe: no bar


def test_pool_results_equal_in_process_results(many_tree: Path) -> None:
    targets = list(expand([str(many_tree)], True))
    serial = list(scan_targets(targets, 1, None, None))
    pooled = list(scan_targets(targets, 2, None, None))
    assert len(serial) == len(OBJECTS)
    assert [(f.path, f.sites, f.warnings, f.error) for f in serial] == [
        (f.path, f.sites, f.warnings, f.error) for f in pooled
    ]


def test_scanned_file_pickles() -> None:
    scanned = scan(SAMPLE, debug_dirs=None)
    copy = pickle.loads(pickle.dumps(scanned))
    assert copy.sites == scanned.sites
    assert copy.sites[0].code is not None and copy.sites[0].code == scanned.sites[0].code


def test_listing_error_target_becomes_file_error() -> None:
    (result,) = scan_targets(
        [Target("/x", "cannot list directory: permission denied")], 1, None, None
    )
    assert result.error == "cannot list directory: permission denied"


def _run_with_tty_stderr(*args: str) -> tuple[str, str, int]:
    """Run usdtscan with stdout a pipe and stderr a terminal."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "usdtscan", *args],
        stdout=subprocess.PIPE,
        stderr=follower,
        stdin=subprocess.DEVNULL,
    )
    os.close(follower)
    out = process.communicate(timeout=60)[0].decode()
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the terminal's other side is closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    return out, b"".join(chunks).decode(), process.returncode


def test_progress_bar_on_terminal_only(many_tree: Path) -> None:
    out, err, status = _run_with_tty_stderr("-r", "-j", "2", str(many_tree))
    assert status == 0
    assert f"] {len(OBJECTS) * 2}/{len(OBJECTS) * 2} files" in err
    assert "\r" not in out and "files seen" not in out
    assert out.count("x86_64, ELF64") >= 3
    out, err, status = _run_with_tty_stderr("--json", "-r", str(many_tree))
    assert status == 0
    assert f"/{len(OBJECTS) * 2} files" not in err and "files seen" in err
    assert len(json.loads(out)["files"]) == len(OBJECTS)


def _mounts_below(root: str) -> list[tuple[str, str]]:
    """(mount point, type) of every mount strictly below ``root``, from mountinfo."""
    found = []
    with open("/proc/self/mountinfo", encoding="utf-8") as stream:
        for line in stream:
            fields = line.split()
            point, fstype = fields[4], fields[fields.index("-", 6) + 1]
            if point.startswith(root.rstrip("/") + "/"):
                found.append((point, fstype))
    return found


def test_walk_does_not_enter_pseudo_file_systems_below_a_root() -> None:
    pseudo = [p for p, t in _mounts_below("/dev") if t in PSEUDO_FILE_SYSTEMS]
    if not pseudo:
        pytest.skip("no pseudo file system is mounted below /dev here")
    stats = WalkStats()
    paths = [t.path for t in expand(["/dev"], True, stats)]
    for point in pseudo:
        assert not [p for p in paths if p.startswith(point + "/")], point
    assert stats.mounts_skipped >= 1
    # Named as a root, a pseudo file system is walked as asked.
    named = WalkStats()
    list(expand([pseudo[0]], True, named))
    assert named.mounts_skipped == 0
    assert named.files + named.special > 0


def test_one_file_system_stays_on_the_root_device() -> None:
    other = [p for p, t in _mounts_below("/dev") if t == "tmpfs" and os.access(p, os.W_OK)]
    if not other:
        pytest.skip("no writable tmpfs is mounted below /dev here")
    marker = Path(other[0]) / f"usdtscan-test-{os.getpid()}"
    shutil.copy(SAMPLE, marker)
    try:
        walked = run("--json", "-r", "/dev")
        staying = run("--json", "-r", "-x", "/dev")
    finally:
        marker.unlink()
    assert str(marker) in [f["path"] for f in json.loads(walked.stdout)["files"]]
    assert str(marker) not in [f["path"] for f in json.loads(staying.stdout)["files"]]
    assert "Traceback" not in walked.stderr + staying.stderr


def test_pseudo_devices_from_mountinfo(tmp_path: Path) -> None:
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(
        "22 28 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw\n"
        "23 28 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:2 - sysfs sysfs rw\n"
        "28 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
        "30 23 0:26 / /sys/fs/cgroup/cpu rw,nosuid - cgroup cgroup rw,cpu\n"
        "31 28 0:27 / /tmp rw,nosuid,nodev shared:3 - tmpfs tmpfs rw\n"
        "garbage line\n"
    )
    assert pseudo_devices(str(mountinfo)) == {
        os.makedev(0, 21),
        os.makedev(0, 22),
        os.makedev(0, 26),
    }
    assert pseudo_devices(str(tmp_path / "missing")) == frozenset()


def test_a_file_that_vanished_since_the_listing_is_skipped(tmp_path: Path) -> None:
    # The walk lists first and opens later: a file deleted in between (a tree
    # under a running build) is no longer there to scan, and no error.
    root = tmp_path / "tree"
    root.mkdir()
    for number in range(10):
        shutil.copy(SAMPLE, root / f"file{number}")
    targets = list(expand([str(root)], True, WalkStats()))
    assert len(targets) == 10
    (root / "file3").unlink()
    (root / "file7").unlink()
    for jobs in (1, 2):
        results = list(scan_targets(targets, jobs, None, None))
        assert [r.path for r in results] == [
            str(root / f"file{n}") for n in range(10) if n not in (3, 7)
        ]
        assert all(r.error is None and len(r.sites) == SAMPLE_SITES for r in results)


def test_a_named_file_that_is_missing_is_still_an_error(tmp_path: Path) -> None:
    result = run("-r", str(tmp_path / "nowhere"), str(SAMPLE))
    assert result.returncode == 2
    assert f"usdtscan: {tmp_path / 'nowhere'}: no such file or directory" in result.stderr


def test_summary_counts_archive_members_as_members(tmp_path: Path) -> None:
    archives = FIXTURE_BIN.parent / "archives" / "x86_64"
    root = tmp_path / "tree"
    root.mkdir()
    shutil.copy(archives / "libfx.a", root / "libfx.a")
    shutil.copy(SAMPLE, root / "probes")
    (root / "readme").write_text("not an object\n")
    members = [scan(archives / name, debug_dirs=None) for name in ("probes.o", "sem.o")]
    members.append(scan(archives / "libprobes-with-a-long-member-name.o", debug_dirs=None))
    everything = [scan(SAMPLE, debug_dirs=None), *members]
    probes = sum(len(f.probes) for f in everything)
    sites = sum(len(f.sites) for f in everything)
    result = run("-r", str(root))
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines()[-1] == (
        f"usdtscan: 3 files seen, 1 ELF, 0 Mach-O, 1 ar archives (3 members), "
        f"4 with probes, {probes} probes, {sites} sites, 0 errors"
    )


@pytest.mark.parametrize("form", [None, "json", "readelf"])
def test_recursive_listing_writes_each_file_as_it_is_scanned(
    form: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """-r streams: a file's listing is on stdout before the next file is scanned
    (readelf's form looks one file ahead, to know whether to name each), so that
    nothing of a tree is kept but the counts of the closing line."""
    import io
    from collections.abc import Iterator

    from usdtscan.listing import _write_listing, build_parser
    from usdtscan.model import ScannedFile

    written = io.StringIO()
    monkeypatch.setattr(sys, "stdout", written)
    options = build_parser().parse_args(["-r", str(SAMPLE)] + (["--format", form] if form else []))
    files = [FIXTURE_BIN / "x86_64" / name for name in ("probes-O2", "probes-O0", "probes-O0.o")]
    before: list[str] = []

    def scanned() -> Iterator[ScannedFile]:
        for path in files:
            before.append(written.getvalue())
            yield scan(path, debug_dirs=None)

    _write_listing(scanned(), options)
    ahead = 2 if form == "readelf" else 1
    assert str(files[0]) not in before[ahead - 1]
    assert str(files[0]) in before[ahead]
    assert str(files[2]) not in before[2]
    assert str(files[2]) in written.getvalue()
