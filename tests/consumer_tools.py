"""The real consumers, run on real binaries, and what they say about each argument.

* bcc's ``tplist -vv -l`` lists every site and each argument it parsed; a
  parse error stops its argument list (the rest are not shown).
* bpftrace before 0.24 parses with bcc's library and prints the same
  ``Parse error`` blocks on ``bpftrace -lv``.
* ``perf probe --dry-run`` prints the uprobe event it would write, with one
  ``argN=`` per argument it converted; what it cannot convert is dropped.

Each helper returns plain data; tests/test_consumer_proof.py compares it
with usdtscan's verdicts.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

TPLIST = shutil.which("tplist-bpfcc") or shutil.which("tplist") or "/usr/sbin/tplist-bpfcc"
BPFTRACE = shutil.which("bpftrace")
PERF = shutil.which("perf")

_PROBE = re.compile(r"^(\S+):(\S+) \[sema 0x[0-9a-f]+\]$")
_LOCATION = re.compile(r"^  location #(\d+) (.+) (0x[0-9a-f]+)$")
_ARGUMENT = re.compile(r"^    argument #(\d+) ")
_EVENT = re.compile(
    r"^Writing event: p:sdt_([^/]+)/(\S+) (.+):(0x[0-9a-f]+)(?:\(0x[0-9a-f]+\))?(.*)$"
)


def tplist_available() -> bool:
    return Path(TPLIST).is_file()


def tplist_sites(path: Path) -> dict[str, list[set[int]]]:
    """probe id -> per site (in note order), the argument numbers bcc parsed."""
    done = subprocess.run(
        [TPLIST, "-vv", "-l", str(path)], capture_output=True, text=True, timeout=600, check=False
    )
    sites: dict[str, list[set[int]]] = {}
    current: list[set[int]] | None = None
    for line in done.stdout.splitlines():
        if (match := _PROBE.match(line)) is not None:
            current = sites.setdefault(f"{match.group(1)}:{match.group(2)}", [])
        elif _LOCATION.match(line) is not None and current is not None:
            current.append(set())
        elif (match := _ARGUMENT.match(line)) is not None and current:
            current[-1].add(int(match.group(1)))
    return sites


def parse_errors(stderr: str) -> list[tuple[str, int]]:
    """(argument string, caret column) of every bcc ``Parse error`` block."""
    lines = stderr.splitlines()
    errors = []
    for i, line in enumerate(lines):
        if line == "Parse error:" and i + 2 < len(lines):
            caret = lines[i + 2]
            errors.append((lines[i + 1][4:], len(caret) - 1 - 4))
    return errors


def tplist_errors(path: Path) -> list[tuple[str, int]]:
    done = subprocess.run(
        [TPLIST, "-vv", "-l", str(path)], capture_output=True, text=True, timeout=600, check=False
    )
    return parse_errors(done.stderr)


def bpftrace_errors(path: Path) -> list[tuple[str, int]]:
    assert BPFTRACE is not None
    done = subprocess.run(
        [BPFTRACE, "-lv", f"usdt:{path.resolve()}:*"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    return parse_errors(done.stderr)


def perf_events(path: Path, probes: set[str], home: Path) -> dict[str, dict[int, set[int]]]:
    """probe id -> {uprobe offset: argument numbers perf kept}, from ``--dry-run``.

    perf finds SDT notes through its build-id cache, so the file is added to
    a cache under ``home`` (never the user's ~/.debug) first.  One command
    takes a few probes: a provider glob of libjvm's 500 probes is refused
    (E2BIG).
    """
    assert PERF is not None
    env = {"HOME": str(home), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    subprocess.run(
        [PERF, "buildid-cache", "--add", str(path)],
        env=env,
        capture_output=True,
        timeout=600,
        check=True,
    )
    events: dict[str, dict[int, set[int]]] = {}
    names = sorted(probes)
    for start in range(0, len(names), 16):
        command = [PERF, "probe", "-v", "--dry-run", "-x", str(path)]
        for probe_id in names[start : start + 16]:
            command += ["--add", f"sdt_{probe_id}"]
        done = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=600, check=False
        )
        for line in done.stderr.splitlines() + done.stdout.splitlines():
            match = _EVENT.match(line)
            if match is None:
                continue
            name = re.sub(r"_\d+$", "", match.group(2))
            numbers = {int(n) for n in re.findall(r"\barg(\d+)=", match.group(5))}
            events.setdefault(f"{match.group(1)}:{name}", {})[int(match.group(4), 16)] = numbers
    return events
