#!/usr/bin/env python3
"""Time usdtscan against the tools people use today, on the same inputs, in one run.

    python benchmarks/bench.py [--python VENV/bin/python] [--repeat N] [--json OUT]
                               [--quick] [--compiled] [--huge]

Each command runs ``--repeat`` times after one warm-up run (once, when the
warm-up took more than ``--slow`` seconds) and the median wall time and the
peak RSS (``ru_maxrss`` from ``wait4``, so a pipeline's largest process) are
reported, with each command's time as a ratio to usdtscan's.  Then every
row of issue 9's table is checked against the same run and printed as met
or missed, with the measured ratio.  Inputs and tools are skipped, with a
note, when absent; a tool that fails is reported with its exit status,
never timed.

``--python`` is the interpreter of the usdtscan to time: make it with
``python3 -m venv V && V/bin/pip install .`` (a plain install: an editable
one's finder adds about 20 ms to every start-up); its ``bin/usdtscan`` and
its ``python -c pass`` are what is timed.  Default: this interpreter.

Inputs:

* ``/usr/bin/python3.11`` (Debian's, built with --with-dtrace) and
  ``libpython3.11.so.1.0`` (``$USDTSCAN_CORPUS``, default
  ``~/.cache/usdtscan-corpus``, from the Debian package libpython3.11);
* binaries with 1,000, 20,000 and 100,000 probes (and 400,000 with
  ``--huge``, not for CI), one site each, 0-3 arguments in the mix of
  fixtures/src/gen-many.py, written directly by ``benchmarks/many_elf.py``
  (seconds, no compiler) into ``fixtures/generated/direct-N/``, which is
  not committed; ``--compiled`` uses ``fixtures/build.sh --many N`` instead
  (GCC; minutes and gigabytes at 100,000);
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
import shlex
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
TREES = ["/usr/lib", "/usr/bin"]
SIZES = (1000, 20000, 100000)
HUGE = 400000
# The interpreter whose usdtscan is timed (--python); set by main().
PYTHON = sys.executable
USDTSCAN: list[str] = [sys.executable, "-m", "usdtscan"]

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


# A child's ru_maxrss starts at its parent's RSS at fork (Linux keeps the
# high-water mark across exec), so commands are started by GNU time, whose own
# RSS is 2 MiB, and its %M is the peak: not this Python process's 15 MiB.
TIME = "/usr/bin/time"
MARK = "@@maxrss "


def run_once(command: Command) -> tuple[float, float, int, str]:
    """Wall seconds, peak RSS (MiB), exit status and the first stderr line."""
    if Path(TIME).is_file():
        if isinstance(command, str):
            command = f"{TIME} -f '{MARK}%M' sh -c {shlex.quote(command)}"
        else:
            command = [TIME, "-f", f"{MARK}%M", *command]
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
    lines = errors.decode(errors="replace").strip().splitlines()
    peak = usage.ru_maxrss / 1024
    if lines and lines[-1].startswith(MARK):
        peak = int(lines.pop()[len(MARK) :]) / 1024
    lines = [line for line in lines if not line.startswith("Command exited with non-zero")]
    return elapsed, peak, os.waitstatus_to_exitcode(status), "".join(lines[:1])


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


def many_probe_binary(count: int, compiled: bool) -> Path | None:
    """A binary with ``count`` probes: written by many_elf.py, or compiled by build.sh."""
    if not compiled:
        path = GENERATED / f"direct-{count}" / "many"
        if not path.is_file():
            writer = REPO / "benchmarks" / "many_elf.py"
            subprocess.run([sys.executable, str(writer), str(count), str(path)], check=False)
        return path if path.is_file() else None
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


def cases(
    quick: bool, compiled: bool, huge: bool, trees_only: bool = False
) -> tuple[list[tuple[str, dict[str, Command]]], list[str]]:
    found: list[tuple[str, dict[str, Command]]] = []
    notes: list[str] = []
    if not trees_only:
        _file_cases(found, notes, quick, compiled, huge)
    trees = [tree for tree in TREES if Path(tree).is_dir()]
    if trees and not quick:
        found.append((" + ".join(trees), _tree_commands(trees)))
    return found, notes


def _file_cases(
    found: list[tuple[str, dict[str, Command]]],
    notes: list[str],
    quick: bool,
    compiled: bool,
    huge: bool,
) -> None:
    for label, path in (
        ("python3.11", Path("/usr/bin/python3.11")),
        ("libpython3.11.so", LIBPYTHON),
    ):
        if path.is_file():
            commands = file_commands(path, full=True)
            commands["python -c pass"] = [PYTHON, "-c", "pass"]
            found.append((label, commands))
        else:
            notes.append(f"{label}: {path} not found, skipped")
    sizes = [n for n in SIZES if not (quick and n == 100000)] + ([HUGE] if huge else [])
    for count in sizes:
        binary = many_probe_binary(count, compiled)
        if binary is None:
            notes.append(f"{count} probes: could not make the binary, skipped")
            continue
        commands = file_commands(binary, full=count <= 100000)
        found.append((f"{count:,} probes", commands))


def _tree_commands(trees: list[str]) -> dict[str, Command]:
    jobs = len(os.sched_getaffinity(0))
    listing = " ".join(trees)
    return {
        f"usdtscan -r -j {jobs} --json": [*USDTSCAN, "-r", "-j", str(jobs), "--json", *trees],
        "usdtscan -r -j 1 --json": [*USDTSCAN, "-r", "-j", "1", "--json", *trees],
        "find | xargs readelf -n": (
            f"find {listing} -type f -print0 | xargs -0 readelf -n >/dev/null 2>&1"
        ),
    }


def _get(results: list[Result], label: str, command: str, prefix: bool = False) -> Result | None:
    for result in results:
        named = result.command.startswith(command) if prefix else result.command == command
        if result.input == label and named and result.seconds:
            return result
    return None


def targets(results: list[Result]) -> list[dict[str, object]]:
    """Every row of issue 9's table, as a measured ratio and met/missed."""
    checks: list[dict[str, object]] = []

    def check(name: str, value: float | None, limit: float, below: bool = True) -> None:
        if value is None:
            checks.append({"target": name, "value": None, "limit": limit, "met": None})
            return
        met = value <= limit if below else value >= limit
        checks.append({"target": name, "value": round(value, 2), "limit": limit, "met": met})

    def ratio(label: str, ours: str, theirs: str, rss: bool = False) -> float | None:
        a, b = _get(results, label, ours), _get(results, label, theirs)
        if a is None or b is None:
            return None
        if rss:
            return (
                None if not (a.peak_rss_mib and b.peak_rss_mib) else a.peak_rss_mib / b.peak_rss_mib
            )
        return None if not (a.seconds and b.seconds) else a.seconds / b.seconds

    for command, limit in (("usdtscan", 2.0), ("usdtscan --json", 2.0)):
        for label in ("python3.11", "libpython3.11.so"):
            value = ratio(label, command, "python -c pass")
            check(f"`{command}` {label} / python -c pass", value, limit)
    twenty = "20,000 probes"
    check(
        "20,000 probes: `usdtscan` (table) / readelf -n",
        ratio(twenty, "usdtscan", "readelf -n"),
        3.0,
    )
    check(
        "20,000 probes: `usdtscan --json` / readelf -n",
        ratio(twenty, "usdtscan --json", "readelf -n"),
        5.0,
    )
    one, hundred = "1,000 probes", "100,000 probes"
    check(
        "--json time 100,000 / 20,000 probes (linear: <= 5.5)",
        _scale(results, twenty, hundred),
        5.5,
    )
    check(
        "--json peak RSS 100,000 / 1,000 probes",
        _scale(results, one, hundred, rss=True),
        1.5,
    )
    for tool in ("gdb info probes", "bpftrace -l", "tplist-bpfcc -l"):
        value = ratio(hundred, tool, "usdtscan --json")
        check(f"100,000 probes: {tool} / `usdtscan --json` (speed-up)", value, 20.0, below=False)
    trees = " + ".join(TREES)
    ours = _get(results, trees, "usdtscan -r -j", prefix=True)
    theirs = _get(results, trees, "find | xargs readelf -n")
    if ours and theirs and ours.seconds and theirs.seconds:
        check(
            f"{trees}: usdtscan -r --json / find | xargs readelf -n",
            ours.seconds / theirs.seconds,
            1.0,
        )
    else:
        check(f"{trees}: usdtscan -r --json / find | xargs readelf -n", None, 1.0)
    return checks


def _scale(results: list[Result], small: str, large: str, rss: bool = False) -> float | None:
    """usdtscan --json on ``large`` over the same on ``small`` (time, or peak RSS)."""
    a, b = _get(results, large, "usdtscan --json"), _get(results, small, "usdtscan --json")
    if a is None or b is None:
        return None
    if rss:
        return None if not (a.peak_rss_mib and b.peak_rss_mib) else a.peak_rss_mib / b.peak_rss_mib
    return None if not (a.seconds and b.seconds) else a.seconds / b.seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--slow", type=float, default=5.0, help="time a command once if its warm-up took longer"
    )
    parser.add_argument("--quick", action="store_true", help="skip 100,000 probes and the trees")
    parser.add_argument(
        "--trees-only", action="store_true", help="only the /usr/lib + /usr/bin row (-r)"
    )
    parser.add_argument(
        "--compiled", action="store_true", help="compile the N-probe inputs with fixtures/build.sh"
    )
    parser.add_argument(
        "--huge", action="store_true", help=f"also {HUGE:,} probes (usdtscan and readelf only)"
    )
    parser.add_argument(
        "--python",
        default=sys.executable,
        help="the interpreter of a plain `pip install .` venv whose usdtscan is timed",
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    options = parser.parse_args()
    global PYTHON, USDTSCAN
    PYTHON = options.python
    script = Path(PYTHON).with_name("usdtscan")
    USDTSCAN = [str(script)] if script.is_file() else [PYTHON, "-m", "usdtscan"]

    found, notes = cases(options.quick, options.compiled, options.huge, options.trees_only)
    results: list[Result] = []
    print(f"{'input':22} {'command':28} {'median s':>9} {'peak MiB':>9} {'runs':>4}", end=" ")
    print(f"{'vs usdtscan':>11}")
    for label, commands in found:
        reference: float | None = None
        for name, command in commands.items():
            tool = command[0] if isinstance(command, list) else "find"
            why = None if tool in (PYTHON, USDTSCAN[0]) else missing_tool(tool)
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
    print("\ntargets (issue 9), from this run:")
    for item in checked:
        verdict = {True: "met", False: "MISSED", None: "not measured"}[item["met"]]  # type: ignore[index]
        print(f"  {item['target']}: {item['value']} (limit {item['limit']}) {verdict}")
    if options.json:
        document = {
            "machine": {"cores": len(os.sched_getaffinity(0)), "load": os.getloadavg()[0]},
            "python": PYTHON,
            "results": [asdict(r) for r in results],
            "targets": checked,
            "notes": notes,
        }
        options.json.write_text(json.dumps(document, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
