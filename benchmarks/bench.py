#!/usr/bin/env python3
"""Time usdtscan against the tools people use today, on the same inputs, in one run.

    python benchmarks/bench.py [--repeat N] [--json OUT] [--quick]

Each command runs ``--repeat`` times after one warm-up run (once, when the
warm-up took more than ``--slow`` seconds) and the median wall time and the
peak RSS (``ru_maxrss`` from ``wait4``, so a pipeline's largest process) are
reported, with each command's time as a ratio to usdtscan's.  Then each
target of issue 6 is checked against the same run and reported as met or
missed, with the ratio.  Inputs and tools are skipped, with a note, when
absent; a tool that fails is reported with its exit status, never timed.

Inputs:

* ``/usr/bin/python3.11`` (Debian's, built with --with-dtrace) and
  ``libpython3.11.so.1.0`` (``$USDTSCAN_CORPUS``, default
  ``~/.cache/usdtscan-corpus``, from the Debian package libpython3.11);
* generated binaries with 1,000, 20,000 and 100,000 probes
  (``fixtures/build.sh --many N DIR``, built on demand into
  ``fixtures/generated/``, which is not committed);
* all of ``/usr/lib`` and ``/usr/bin``: ``usdtscan -r -j N --json`` against
  ``find ... -type f -print0 | xargs -0 readelf -n``.

Tools: binutils ``readelf -n``, ``gdb -batch -ex 'info probes all'``,
``bpftrace -l 'usdt:PATH:*'``, ``tplist-bpfcc -l`` (Debian packages gdb,
bpftrace, bpfcc-tools) and pyelftools' own note iteration.  Nothing here is
a test: timings vary with the machine.  Record the results in
docs/benchmarks.rst with the command line used.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
GENERATED = REPO / "fixtures" / "generated"
CORPUS = Path(os.environ.get("USDTSCAN_CORPUS", Path.home() / ".cache" / "usdtscan-corpus"))
LIBPYTHON = CORPUS / "amd64/libpython3.11/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0"
USDTSCAN = [sys.executable, "-m", "usdtscan"]
TREES = ["/usr/lib", "/usr/bin"]

PYELFTOOLS = """
import sys
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import NoteSection
with open(sys.argv[1], "rb") as stream:
    count = 0
    for section in ELFFile(stream).iter_sections():
        if isinstance(section, NoteSection) and section.name == ".note.stapsdt":
            for note in section.iter_notes():
                count += len(note["n_desc"])
print(count)
"""

Command = list[str] | str


@dataclass
class Result:
    input: str
    command: str
    seconds: float | None
    peak_rss_mib: float | None
    runs: int
    status: str  # "ok", or why it was not timed
    ratio: float | None = None  # seconds / usdtscan's seconds on the same input


def run_once(command: Command) -> tuple[float, float, int, str]:
    """Wall seconds, peak RSS (MiB), exit status and the first stderr line."""
    start = time.perf_counter()
    process = subprocess.Popen(
        command,
        shell=isinstance(command, str),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        cwd=REPO,
    )
    assert process.stderr is not None
    errors = process.stderr.read()
    _pid, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    first = errors.decode(errors="replace").strip().splitlines()[:1]
    return elapsed, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status), "".join(first)


def measure(label: str, name: str, command: Command, repeat: int, slow: float) -> Result:
    seconds, rss, status, error = run_once(command)  # warm-up: page cache, pyc files
    if status != 0 and not name.startswith("find"):
        return Result(label, name, None, None, 0, f"failed: exit {status}: {error[:100]}")
    runs = 1 if seconds > slow else repeat
    times, peak = [], 0.0
    for _ in range(runs):
        seconds, rss, status, _error = run_once(command)
        times.append(seconds)
        peak = max(peak, rss)
    return Result(label, name, statistics.median(times), peak, runs, "ok")


def many_probe_binary(count: int) -> Path | None:
    """``fixtures/generated/many`` (20,000 probes, the fixture) or ``many-N``."""
    directory = GENERATED if count == 20000 else GENERATED / f"many-{count}"
    path = directory / "many"
    if path.is_file():
        return path
    script = REPO / "fixtures" / "build.sh"
    if shutil.which("gcc") and script.is_file():
        subprocess.run(
            ["bash", str(script), "--many", str(count), str(directory)],
            check=False,
            stdout=subprocess.DEVNULL,
        )
    return path if path.is_file() else None


def missing_tool(tool: str) -> str | None:
    if shutil.which(tool) is None:
        return f"not installed ({tool} not on PATH)"
    return None


def file_commands(path: Path, full: bool) -> dict[str, Command]:
    """Every lister on one file; usdtscan --json first (the reference)."""
    commands: dict[str, Command] = {
        "usdtscan --json": [*USDTSCAN, "--json", str(path)],
        "usdtscan": [*USDTSCAN, str(path)],
        "readelf -n": ["readelf", "-n", str(path)],
    }
    if full:
        commands.update(
            {
                "gdb info probes": ["gdb", "-batch", "-ex", "info probes all", str(path)],
                "bpftrace -l": ["bpftrace", "-l", f"usdt:{path}:*"],
                "tplist-bpfcc -l": ["tplist-bpfcc", "-l", str(path)],
                "pyelftools notes": [sys.executable, "-c", PYELFTOOLS, str(path)],
            }
        )
    return commands


def cases(quick: bool) -> tuple[list[tuple[str, dict[str, Command]]], list[str]]:
    found: list[tuple[str, dict[str, Command]]] = []
    notes: list[str] = []
    for label, path in (
        ("python3.11", Path("/usr/bin/python3.11")),
        ("libpython3.11.so", LIBPYTHON),
    ):
        if path.is_file():
            commands = file_commands(path, full=True)
            commands["python3 -c pass"] = [sys.executable, "-c", "pass"]
            found.append((label, commands))
        else:
            notes.append(f"{label}: {path} not found, skipped")
    for count in (1000, 20000, 100000):
        if quick and count == 100000:
            continue
        binary = many_probe_binary(count)
        if binary is None:
            notes.append(f"{count} probes: could not build (gcc, sys/sdt.h?), skipped")
            continue
        found.append((f"{count:,} probes", file_commands(binary, full=True)))
    trees = [tree for tree in TREES if Path(tree).is_dir()]
    if trees and not quick:
        jobs = len(os.sched_getaffinity(0))
        listing = " ".join(trees)
        found.append(
            (
                " + ".join(trees),
                {
                    f"usdtscan -r -j {jobs} --json": [
                        *USDTSCAN,
                        "-r",
                        "-j",
                        str(jobs),
                        "--json",
                        *trees,
                    ],
                    "usdtscan -r -j 1 --json": [*USDTSCAN, "-r", "-j", "1", "--json", *trees],
                    "find | xargs readelf -n": (
                        f"find {listing} -type f -print0 | xargs -0 readelf -n >/dev/null 2>&1"
                    ),
                },
            )
        )
    return found, notes


def _get(results: list[Result], label: str, command: str, prefix: bool = False) -> Result | None:
    for result in results:
        named = result.command.startswith(command) if prefix else result.command == command
        if result.input == label and named and result.seconds:
            return result
    return None


def targets(results: list[Result]) -> list[dict[str, object]]:
    """Issue 6's targets, each as a measured ratio and met/missed."""
    checks: list[dict[str, object]] = []

    def check(name: str, value: float | None, limit: float, below: bool = True) -> None:
        if value is None:
            checks.append({"target": name, "value": None, "limit": limit, "met": None})
            return
        met = value <= limit if below else value >= limit
        checks.append({"target": name, "value": round(value, 2), "limit": limit, "met": met})

    for label in ("python3.11", "libpython3.11.so"):
        ours, base = _get(results, label, "usdtscan"), _get(results, label, "python3 -c pass")
        if ours and base and ours.seconds and base.seconds:
            check(f"{label}: usdtscan wall / python3 -c pass", ours.seconds / base.seconds, 2.0)
            if ours.peak_rss_mib and base.peak_rss_mib:
                check(
                    f"{label}: usdtscan peak RSS / python3 -c pass",
                    ours.peak_rss_mib / base.peak_rss_mib,
                    2.0,
                )
    label = "20,000 probes"
    ours = _get(results, label, "usdtscan --json")
    if ours and ours.seconds:
        readelf = _get(results, label, "readelf -n")
        if readelf and readelf.seconds:
            check(
                "20,000 probes: usdtscan --json / readelf -n", ours.seconds / readelf.seconds, 3.0
            )
        for tool in ("gdb info probes", "bpftrace -l", "tplist-bpfcc -l"):
            other = _get(results, label, tool)
            speedup = None if other is None or not other.seconds else other.seconds / ours.seconds
            check(f"20,000 probes: {tool} / usdtscan --json (speed-up)", speedup, 20.0, below=False)
    trees = " + ".join(TREES)
    ours = _get(results, trees, "usdtscan -r -j", prefix=True)
    theirs = _get(results, trees, "find | xargs readelf -n")
    if ours and theirs and ours.seconds and theirs.seconds:
        check(f"{trees}: usdtscan -r / find | xargs readelf -n", ours.seconds / theirs.seconds, 1.0)
    small, large = (
        _get(results, "1,000 probes", "usdtscan --json"),
        _get(results, "100,000 probes", "usdtscan --json"),
    )
    if small and large and small.peak_rss_mib and large.peak_rss_mib:
        # RSS above the interpreter's own, per probe: must not grow faster than the count.
        base = _get(results, "python3.11", "python3 -c pass")
        floor = base.peak_rss_mib if base and base.peak_rss_mib else 0.0
        growth = (large.peak_rss_mib - floor) / max(small.peak_rss_mib - floor, 0.1)
        check("RSS growth 1,000 -> 100,000 probes (probe count grows 100x)", growth, 100.0)
    return checks


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--slow", type=float, default=5.0, help="time a command once if its warm-up took longer"
    )
    parser.add_argument("--quick", action="store_true", help="skip 100,000 probes and the trees")
    parser.add_argument("--json", type=Path, help="also write the results here")
    options = parser.parse_args()

    found, notes = cases(options.quick)
    results: list[Result] = []
    print(f"{'input':22} {'command':28} {'median s':>9} {'peak MiB':>9} {'runs':>4}", end=" ")
    print(f"{'vs usdtscan':>11}")
    for label, commands in found:
        reference: float | None = None
        for name, command in commands.items():
            tool = command[0] if isinstance(command, list) else "find"
            why = None if tool == sys.executable else missing_tool(tool)
            result = (
                Result(label, name, None, None, 0, why)
                if why
                else measure(label, name, command, options.repeat, options.slow)
            )
            if reference is None and result.seconds:
                reference = result.seconds
            if result.seconds and reference:
                result.ratio = result.seconds / reference
            results.append(result)
            if result.seconds is None:
                print(f"{label[:22]:22} {name[:28]:28} {result.status}")
            else:
                print(
                    f"{label[:22]:22} {name[:28]:28} {result.seconds:9.3f} "
                    f"{result.peak_rss_mib or 0:9.1f} {result.runs:4d} {result.ratio or 0:10.2f}x"
                )
            sys.stdout.flush()
    for note in notes:
        print(f"note: {note}")
    checked = targets(results)
    print("\ntargets (issue 6), from this run:")
    for item in checked:
        verdict = {True: "met", False: "MISSED", None: "not measured"}[item["met"]]  # type: ignore[index]
        print(f"  {item['target']}: {item['value']} (limit {item['limit']}) {verdict}")
    if options.json:
        document = {
            "machine": {"cores": len(os.sched_getaffinity(0)), "python": sys.version.split()[0]},
            "results": [asdict(r) for r in results],
            "targets": checked,
            "notes": notes,
        }
        options.json.write_text(json.dumps(document, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
