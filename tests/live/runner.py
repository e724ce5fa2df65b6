"""Run a fixture program under GDB and judge usdtscan's decoded arguments against the C source.

For one fixture target and optimisation level this builds a plan (every
site's link-time address and every argument's location, as usdtscan's JSON
renders it), runs ``tests/live/gdb_eval.py`` in ``gdb-multiarch`` against
the program (natively on x86, under ``qemu-<arch> -g PORT`` elsewhere), and
compares each value read at each firing with ``fixtures/src/expected.json``.

Every argument of every firing ends in exactly one class:

``matched``
    evaluated from our location, equal to the source's value;
``mismatch``
    evaluated, different: a decoding bug (or a fixture bug);
``register-pair``
    an 8-byte argument that a 32-bit target keeps in two registers while
    the note names one (a ``sys/sdt.h`` limitation, not ours);
``unresolved-symbol``
    a symbol operand naming an assembler-local label (``.LC0``) that no
    symbol table holds;
``error``
    anything else the evaluator could not read (reported with the reason).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from usdtscan.args.analysis import analyze_file
from usdtscan.elf import ElfFile
from usdtscan.model import ScannedFile
from usdtscan.render.json import location_to_json
from usdtscan.scan import scan
from usdtscan.symbols import SymbolIndex, symbol_index

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
FIXTURE_BIN = REPO / "fixtures" / "bin"
EXPECTED = REPO / "fixtures" / "src" / "expected.json"
GDB_SCRIPT = HERE / "gdb_eval.py"
GDB = "gdb-multiarch"
RUN_TIMEOUT = 90.0

# target -> (qemu binary or None for native, sysroot for -L)
TARGETS: dict[str, tuple[str | None, str | None]] = {
    "x86_64": (None, None),
    "x86_64-pie": (None, None),
    "x86_64-so": (None, None),
    "i386": (None, None),
    "aarch64": ("qemu-aarch64", "/usr/aarch64-linux-gnu"),
    "armhf": ("qemu-arm", "/usr/arm-linux-gnueabihf"),
    "s390x": ("qemu-s390x", "/usr/s390x-linux-gnu"),
    "ppc64le": ("qemu-ppc64le", "/usr/powerpc64le-linux-gnu"),
    "ppc64": ("qemu-ppc64", "/usr/powerpc64-linux-gnu"),
    "riscv64": ("qemu-riscv64", "/usr/riscv64-linux-gnu"),
    "mips64el": ("qemu-mips64el", "/usr/mips64el-linux-gnuabi64"),
    "mips": ("qemu-mips", "/usr/mips-linux-gnu"),
}
OPTS = ("O0", "O2")
CLASSES = ("matched", "mismatch", "register-pair", "unresolved-symbol", "error")


def expected() -> dict[str, Any]:
    with open(EXPECTED) as handle:
        data: dict[str, Any] = json.load(handle)
    return data


def native_i386_ok() -> bool:
    """i386 runs natively when the 32-bit loader (libc6-i386) is installed."""
    return Path("/lib/ld-linux.so.2").exists()


def missing_tools(target: str) -> str | None:
    """Why ``target`` cannot run here, or None."""
    if shutil.which(GDB) is None:
        return f"{GDB} not installed (scripts/install-toolchains.sh)"
    qemu, sysroot = TARGETS[target]
    if target == "i386" and not native_i386_ok():
        qemu, sysroot = "qemu-i386", "/usr/i686-linux-gnu"
    if qemu is not None:
        if shutil.which(qemu) is None:
            return f"{qemu} not installed (qemu-user, scripts/install-toolchains.sh)"
        if sysroot is not None and not Path(sysroot).is_dir():
            return f"sysroot {sysroot} missing (cross libc, scripts/install-toolchains.sh)"
    return None


@dataclass
class Program:
    """One run: the executable, and the objects (it, then shared libraries) holding probes."""

    target: str
    opt: str
    executable: Path
    objects: list[Path]
    probe_program: str  # expected.json "program" of the probes checked

    @property
    def label(self) -> str:
        return f"{self.target}/{self.executable.name}"


def programs(target: str, opt: str) -> list[Program]:
    base = FIXTURE_BIN / target
    if target == "x86_64-so":
        return [
            Program(
                target,
                opt,
                base / f"libmain-{opt}",
                [base / f"libmain-{opt}", base / f"libprobes-{opt}.so"],
                "libmain",
            )
        ]
    return [Program(target, opt, base / f"probes-{opt}", [base / f"probes-{opt}"], "probes")]


# ------------------------------------------------------------------- plan


def _plan(program: Program, types: dict[str, list[str]]) -> tuple[dict[str, Any], list[str]]:
    """The JSON plan for gdb_eval.py, and the ``provider:name`` of each planned site."""
    objects: list[dict[str, Any]] = []
    sites: list[dict[str, Any]] = []
    semaphores: dict[tuple[int, int], dict[str, Any]] = {}
    probe_ids: list[str] = []
    endian, pointer_size = "little", 8
    for number, path in enumerate(program.objects):
        scanned: ScannedFile = scan(str(path))
        assert scanned.error is None, scanned.error
        endian, pointer_size = scanned.endian or "little", (scanned.bits or 64) // 8
        # The scan reads the symbol table only when an operand names a symbol;
        # the harness always needs it, for main and the GOT.
        with open(path, "rb") as handle:
            elf = ElfFile(str(path), handle.read())
        symbols = symbol_index(elf)
        anchor = "main" if number == 0 else _library_anchor(scanned, symbols)
        objects.append(
            {
                "path": str(path),
                "entry": elf.e_entry,
                "anchor": anchor,
                "anchor_address": symbols.address_of(anchor),
                "got": symbols.address_of("_GLOBAL_OFFSET_TABLE_"),
            }
        )
        for analysis in analyze_file(scanned):
            assert analysis is not None
            site = analysis.site
            assert site.address is not None
            probe_types = types.get(site.probe_id, [])
            args = []
            for position, decoded in enumerate(analysis.arguments):
                ctype = probe_types[position] if position < len(probe_types) else None
                args.append(
                    {
                        "raw": decoded.argument.raw,
                        "size": decoded.size,
                        "signed": decoded.signed,
                        "is_float": decoded.is_float,
                        "location": location_to_json(decoded.location),
                        "string": ctype == "ptr",
                    }
                )
            sites.append(
                {"object": number, "probe": site.probe_id, "address": site.address, "args": args}
            )
            probe_ids.append(site.probe_id)
            if site.semaphore_address is not None:
                semaphores[(number, site.semaphore_address)] = {
                    "object": number,
                    "address": site.semaphore_address,
                    "size": 2,
                }
    plan = {
        "endian": endian,
        "pointer_size": pointer_size,
        "objects": objects,
        "sites": sites,
        "semaphores": list(semaphores.values()),
    }
    return plan, probe_ids


def _library_anchor(scanned: ScannedFile, symbols: SymbolIndex) -> str:
    """A function of the library whose run-time address GDB can find by name."""
    for site in scanned.sites:
        if site.function:
            name = site.function.rsplit("+", 1)[0]
            if symbols.address_of(name) is not None:
                return name
    raise AssertionError(f"{scanned.path}: no named function holds a probe")


# -------------------------------------------------------------------- run


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _kill(process: subprocess.Popen[bytes] | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=10)


def run_gdb(program: Program, plan: dict[str, Any]) -> dict[str, Any]:
    """Run the program under GDB with the plan; the raw result of gdb_eval.py.

    A failed run is tried once more: the free port picked for qemu may have
    been taken by another run between the choice and qemu's bind.
    """
    result = _run_gdb_once(program, plan)
    if "fatal" in result:
        result = _run_gdb_once(program, plan)
    return result


def _run_gdb_once(program: Program, plan: dict[str, Any]) -> dict[str, Any]:
    qemu, sysroot = TARGETS[program.target]
    if program.target == "i386" and not native_i386_ok():
        qemu, sysroot = "qemu-i386", "/usr/i686-linux-gnu"
    env = {}
    if program.target == "x86_64-so":
        env["LD_LIBRARY_PATH"] = str(program.executable.parent)
    with tempfile.TemporaryDirectory(prefix="usdtscan-live-") as tmp:
        plan = dict(plan, result=os.path.join(tmp, "result.json"))
        qemu_process: subprocess.Popen[bytes] | None = None
        try:
            if qemu is None:
                plan.update(mode="native", env=env)
            else:
                port = _free_port()
                plan.update(mode="remote", port=port)
                command = [qemu]
                if sysroot:
                    command += ["-L", sysroot]
                for name, value in env.items():
                    command += ["-E", f"{name}={value}"]
                command += ["-g", str(port), str(program.executable)]
                qemu_process = subprocess.Popen(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                )
            plan_path = os.path.join(tmp, "plan.json")
            with open(plan_path, "w") as handle:
                json.dump(plan, handle)
            gdb_command = [GDB, "-batch", "-nx", "-x", str(GDB_SCRIPT), str(program.executable)]
            completed = subprocess.run(
                gdb_command,
                env=dict(os.environ, USDTSCAN_LIVE_PLAN=plan_path, PYTHONDONTWRITEBYTECODE="1"),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=RUN_TIMEOUT,
                check=False,
            )
            if not os.path.exists(plan["result"]):
                return {
                    "fatal": f"gdb wrote no result (exit {completed.returncode})",
                    "traceback": completed.stderr.decode(errors="replace")[-3000:],
                }
            with open(plan["result"]) as handle:
                result: dict[str, Any] = json.load(handle)
            return result
        except subprocess.TimeoutExpired:
            return {"fatal": f"gdb did not finish within {RUN_TIMEOUT:.0f} s"}
        finally:
            _kill(qemu_process)


# ------------------------------------------------------------------ judge


@dataclass
class Outcome:
    """What one target/opt run proved."""

    target: str
    opt: str
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CLASSES, 0))
    problems: list[str] = field(default_factory=list)  # failures: mismatches, missing firings
    remarks: list[str] = field(default_factory=list)  # limitations, reported not failed
    firings: int = 0
    sites_planned: int = 0
    sites_hit: int = 0
    seconds: float = 0.0

    @property
    def evaluated(self) -> int:
        return self.counts["matched"] + self.counts["mismatch"]


def _same(actual: dict[str, Any], want: Any) -> bool:
    if isinstance(want, dict):
        return actual.get("string") == want["str"]
    value = actual["value"]
    if isinstance(want, float) or isinstance(value, float):
        return isinstance(value, float) and isinstance(want, float) and value == want
    return bool(value == want)


def _pair_remark(actual: dict[str, Any], want: Any) -> str:
    """Which half of the 8-byte value the one named register held."""
    bits = actual.get("named_bits", 32)
    if "named" not in actual or isinstance(want, dict):
        return "not read"
    if isinstance(want, float):
        whole = int.from_bytes(struct.pack("<d", want), "little")
    else:
        whole = want & ((1 << 64) - 1)
    mask = (1 << bits) - 1
    if whole & mask == (whole >> bits) & mask and actual["named"] == whole & mask:
        return "named register holds one half (both halves are equal here)"
    if actual["named"] == whole & mask:
        return "named register holds the low half"
    if actual["named"] == (whole >> bits) & mask:
        return "named register holds the high half"
    return f"named register holds {actual['named']:#x}, neither half"


def judge(
    program: Program,
    plan: dict[str, Any],
    probe_ids: list[str],
    result: dict[str, Any],
    spec: dict[str, Any],
    outcome: Outcome,
) -> None:
    label = program.label
    if "fatal" in result:
        outcome.problems.append(f"{label}: {result['fatal']}\n{result.get('traceback', '')}")
        return
    outcome.sites_planned += len(plan["sites"])
    outcome.sites_hit += len({hit["site"] for hit in result["hits"]})
    for line in result.get("log", []):
        outcome.problems.append(f"{label}: {line}")
    if result.get("exit_code") not in (0, None):
        outcome.problems.append(f"{label}: exit status {result['exit_code']}")
    firings: dict[str, list[tuple[int, list[dict[str, Any]]]]] = {}
    for hit in result["hits"]:
        probe = probe_ids[hit["site"]]
        firings.setdefault(probe, []).append((hit["site"], hit["values"]))
    wanted = {
        key: value
        for key, value in spec.items()
        if not key.startswith("_") and _program_of(value, program)
    }
    for probe in sorted(set(firings) - set(wanted)):
        outcome.problems.append(f"{label}: {probe} fired but is not in expected.json")
    for probe, info in sorted(wanted.items()):
        got = firings.get(probe, [])
        calls = info["calls"]
        if len(got) != len(calls):
            outcome.problems.append(
                f"{label}: {probe} fired {len(got)} times, the source fires it {len(calls)} times"
            )
        for number, ((site, values), call) in enumerate(zip(got, calls, strict=False)):
            outcome.firings += 1
            raws = [a["raw"] for a in plan["sites"][site]["args"]]
            if len(values) != len(call):
                outcome.problems.append(
                    f"{label}: {probe} firing {number}: {len(values)} arguments, "
                    f"source has {len(call)}"
                )
                continue
            for position, (actual, want) in enumerate(zip(values, call, strict=True)):
                where = f"{label}: {probe} firing {number} arg {position + 1} ({raws[position]})"
                status = actual.get("status")
                if status is None:
                    if _same(actual, want):
                        outcome.counts["matched"] += 1
                        if actual.get("runtime_symbol"):
                            outcome.remarks.append(
                                f"{where}: symbol not defined in the file, resolved in the process"
                            )
                    else:
                        outcome.counts["mismatch"] += 1
                        shown = actual.get("string", actual.get("value"))
                        outcome.problems.append(f"{where}: read {shown!r}, source passed {want!r}")
                elif status in ("register-pair", "unresolved-symbol"):
                    outcome.counts[status] += 1
                    extra = f"; {_pair_remark(actual, want)}" if status == "register-pair" else ""
                    outcome.remarks.append(f"{where}: {status}: {actual['reason']}{extra}")
                else:
                    outcome.counts["error"] += 1
                    outcome.problems.append(f"{where}: {status}: {actual['reason']}")


def _program_of(info: dict[str, Any], program: Program) -> bool:
    if program.probe_program == "libmain":
        return info["program"] in ("libmain", "libprobes")
    return bool(info["program"] == program.probe_program)


def run_target(
    target: str,
    opt: str,
    spec: dict[str, Any] | None = None,
    mutate: Callable[[dict[str, Any]], None] | None = None,
) -> Outcome:
    """Run every program of one target at one optimisation level and judge it.

    ``mutate`` may change the plan before the run: the tests use it to show
    that a wrong location, or a semaphore left down, is caught.
    """
    spec = spec if spec is not None else expected()
    types = {k: v["types"] for k, v in spec.items() if not k.startswith("_")}
    outcome = Outcome(target, opt)
    start = time.monotonic()
    for program in programs(target, opt):
        if not program.executable.exists():
            outcome.problems.append(f"{program.label}: not built (fixtures/build.sh {target})")
            continue
        plan, probe_ids = _plan(program, types)
        if mutate is not None:
            mutate(plan)
        result = run_gdb(program, plan)
        judge(program, plan, probe_ids, result, spec, outcome)
    outcome.seconds = time.monotonic() - start
    return outcome


# ------------------------------------------------------------------ table

# Targets as the per-architecture table groups them.
ARCHITECTURE = {
    "x86_64": "x86-64",
    "x86_64-pie": "x86-64",
    "x86_64-so": "x86-64",
}


def table(outcomes: list[Outcome]) -> str:
    """An RST-ready grid of evaluated/matched and the limitation counts per target and level."""
    header = (
        "target",
        "opt",
        "firings",
        "args",
        "evaluated",
        "matched",
        "mismatch",
        "register-pair",
        "unresolved-symbol",
        "error",
        "sites hit",
    )
    rows = [header]
    for o in sorted(outcomes, key=lambda o: (list(TARGETS).index(o.target), o.opt)):
        total = sum(o.counts.values())
        rows.append(
            (
                o.target,
                o.opt,
                str(o.firings),
                str(total),
                str(o.evaluated),
                str(o.counts["matched"]),
                str(o.counts["mismatch"]),
                str(o.counts["register-pair"]),
                str(o.counts["unresolved-symbol"]),
                str(o.counts["error"]),
                f"{o.sites_hit}/{o.sites_planned}",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    rule = "  ".join("=" * w for w in widths)
    lines = [
        rule,
        "  ".join(c.ljust(w) for c, w in zip(rows[0], widths, strict=True)).rstrip(),
        rule,
    ]
    for row in rows[1:]:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    lines.append(rule)
    return "\n".join(lines)
