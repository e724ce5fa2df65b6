"""Proof against the running probe: every decoded argument, evaluated at its site.

Each fixture program runs under GDB (natively on x86, under qemu-user
elsewhere); at every probe site ``tests/live/gdb_eval.py`` reads exactly
the registers and memory that usdtscan's decoded location names and
applies its size, sign and float flag; the values must be those that
``fixtures/src/expected.json`` says the C source passed, firing by
firing.  docs/arguments.rst ("Proof against the running probe") shows the
counts.  Skipped when gdb-multiarch or a target's qemu is missing.
"""

from __future__ import annotations

import os
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.live.runner import OPTS, TARGETS, Outcome, expected, missing_tools, run_target, table

pytestmark = pytest.mark.live

CASES = [(target, opt) for target in TARGETS for opt in OPTS]
# The architectures the issue requires, each at -O0 and -O2.
REQUIRED = {"x86_64", "i386", "aarch64", "armhf", "s390x", "ppc64le", "riscv64", "mips"}
# 32-bit targets keep an 8-byte value in a register pair (see runner.py).
PAIR_TARGETS = {"i386", "armhf", "mips"}
# Assembler-local labels: .LC0 (x86), .LANCHOR0 (AArch64), $LC0 (MIPS o32).
LOCAL_LABEL = re.compile(r"(?:\.L|\$L)\w+")
WORKERS = max(2, min(4, os.cpu_count() or 2))


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return expected()


@pytest.fixture(scope="module")
def outcomes(spec: dict[str, Any]) -> dict[tuple[str, str], Outcome]:
    """Every runnable target and level, a few at a time (each run is one GDB and one qemu)."""
    runnable = [case for case in CASES if missing_tools(case[0]) is None]
    with ThreadPoolExecutor(WORKERS) as pool:
        done = pool.map(lambda case: run_target(case[0], case[1], spec), runnable)
        return dict(zip(runnable, done, strict=True))


def _firings(spec: dict[str, Any], programs: set[str]) -> tuple[int, int]:
    """Firings and arguments the C source produces in one run of these programs."""
    calls = [
        call
        for key, info in spec.items()
        if not key.startswith("_") and info["program"] in programs
        for call in info["calls"]
    ]
    return len(calls), sum(len(call) for call in calls)


@pytest.mark.parametrize(("target", "opt"), CASES, ids=[f"{t}-{o}" for t, o in CASES])
def test_every_argument_is_the_value_the_source_passed(
    target: str, opt: str, outcomes: dict[tuple[str, str], Outcome], spec: dict[str, Any]
) -> None:
    why = missing_tools(target)
    if why is not None:
        pytest.skip(why)
    outcome = outcomes[(target, opt)]
    assert outcome.problems == []
    programs = {"libmain", "libprobes"} if target == "x86_64-so" else {"probes"}
    firings, arguments = _firings(spec, programs)
    assert outcome.firings == firings
    assert sum(outcome.counts.values()) == arguments
    assert outcome.counts["mismatch"] == 0
    assert outcome.counts["error"] == 0
    assert outcome.counts["matched"] >= arguments - 11
    if target not in PAIR_TARGETS:
        assert outcome.counts["register-pair"] == 0
    # Every site ran, except a loop copy the compiler never enters (ppc64 -O2).
    assert outcome.sites_hit >= outcome.sites_planned - 1


def test_limitations_are_only_register_pairs_and_local_labels(
    outcomes: dict[tuple[str, str], Outcome],
) -> None:
    if not outcomes:
        pytest.skip("no live target runnable here")
    for (target, _opt), outcome in outcomes.items():
        for remark in outcome.remarks:
            if ": register-pair:" in remark:
                assert target in PAIR_TARGETS, remark
                assert re.search(r"holds (the low|the high|one) half", remark), remark
            elif ": unresolved-symbol:" in remark:
                operand = remark.split("(", 1)[1]
                assert LOCAL_LABEL.search(operand), remark
            else:
                # x86_64-so: libmain's extern fxlib_exported(%rip) lives in libprobes.so.
                assert "fxlib_exported" in remark and target == "x86_64-so", remark


def test_required_architectures_ran(outcomes: dict[tuple[str, str], Outcome]) -> None:
    ran = {target for target, _ in outcomes}
    missing = {t: missing_tools(t) for t in REQUIRED if t not in ran}
    if missing and len(missing) == len(REQUIRED):
        pytest.skip(f"no live target runnable here: {missing}")
    assert missing == {}
    for target, opt in outcomes:
        if target in REQUIRED:
            assert outcomes[(target, opt)].evaluated > 0
    print("\n" + table(list(outcomes.values())))


def test_guarded_probe_fires_only_when_gdb_raises_its_semaphore(spec: dict[str, Any]) -> None:
    why = missing_tools("x86_64")
    if why is not None:
        pytest.skip(why)

    def lower_semaphores(plan: dict[str, Any]) -> None:
        plan["semaphores"] = []

    outcome = run_target("x86_64", "O2", spec, mutate=lower_semaphores)
    assert outcome.problems == [
        "x86_64/probes-O2: fxsem:guarded fired 0 times, the source fires it 1 times"
    ]


def test_a_wrong_location_is_caught(spec: dict[str, Any]) -> None:
    """Negative control: shift every memory operand by one byte and the values no longer match."""
    why = missing_tools("aarch64")
    if why is not None:
        pytest.skip(why)

    def shift_memory(plan: dict[str, Any]) -> None:
        for site in plan["sites"]:
            for arg in site["args"]:
                if arg["location"]["kind"] == "memory":
                    arg["location"]["displacement"] += 1

    outcome = run_target("aarch64", "O0", spec, mutate=shift_memory)
    right = run_target("aarch64", "O0", spec)
    # fx:literals and fx:literal64 (constants) and the register arguments still match.
    assert right.counts["matched"] == 89
    assert 0 < outcome.counts["matched"] < right.counts["matched"]
    assert outcome.counts["mismatch"] + outcome.counts["error"] > 40
