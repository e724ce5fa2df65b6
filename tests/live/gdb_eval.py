"""Evaluate usdtscan's decoded probe arguments inside a running program, from GDB.

Run as ``gdb-multiarch -batch -nx -x tests/live/gdb_eval.py`` with
``USDTSCAN_LIVE_PLAN`` naming a JSON plan written by
:mod:`tests.live.runner`.  The plan holds, for every probe site, its
link-time address and each argument's decoded location in usdtscan's JSON
form.  This script starts the program (natively, or by connecting to a
``qemu-user -g PORT`` stub), relocates every address by the load bias
that it measures itself, raises every semaphore, stops at every site and
computes each argument from *that* location only: the registers and
memory it names, the size, the sign and the float flag.  GDB's own
``-probe-stap`` argument evaluation is never used, so a wrong location
cannot be rescued by GDB's parser.

The result file gets the raw evidence; judging it against the C source's
values is the runner's job.  This file runs in GDB's embedded Python and
imports nothing from usdtscan.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import struct
import time
import traceback
from typing import Any

import gdb  # type: ignore[import-not-found]

STRING_LIMIT = 4096
MAX_HITS = 2000


class NotEvaluable(Exception):
    """The location is exact but cannot give the argument's value (with the reason)."""

    def __init__(self, status: str, reason: str, **extra: Any) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.extra = extra


def _gdb(command: str) -> str:
    return gdb.execute(command, to_string=True) or ""


# ------------------------------------------------------------- registers


def _general_registers() -> list[str]:
    arch = gdb.selected_inferior().architecture()
    return [r.name for r in arch.registers("general")]


class Registers:
    """usdtscan's canonical register names to the names GDB uses for this target.

    usdtscan names MIPS and ARM registers by number (``r4``, ``r13``) and
    RISC-V ones by ABI name (``s0``); GDB calls them ``a0``, ``sp`` and
    ``fp``.  Both number the general registers in the same order, so a
    number indexes GDB's general register list.
    """

    def __init__(self) -> None:
        self.arch = gdb.selected_inferior().architecture().name()
        self.general = _general_registers()

    def gdb_name(self, canonical: str) -> str:
        numbered = re.fullmatch(r"r(\d+)", canonical)
        if numbered and (self.arch.startswith("mips") or self.arch.startswith("arm")):
            return self.general[int(numbered.group(1))]
        if self.arch.startswith("riscv") and canonical == "s0":
            return "fp"
        return canonical

    def read(self, register: dict[str, Any]) -> int:
        """The named part (``width_bits`` bits from ``bit_offset``), unsigned."""
        name = self.gdb_name(register["canonical"])
        value = gdb.parse_and_eval("$" + name)
        code = value.type.strip_typedefs().code
        size = value.type.sizeof
        if code == gdb.TYPE_CODE_FLT:
            raw = int.from_bytes(struct.pack("<d" if size == 8 else "<f", float(value)), "little")
        elif code in (gdb.TYPE_CODE_INT, gdb.TYPE_CODE_PTR, gdb.TYPE_CODE_ENUM):
            raw = int(value)
        else:
            raise NotEvaluable(
                "unsupported",
                f"register {name} has GDB type {value.type}, not read by this evaluator",
            )
        raw &= (1 << (8 * size)) - 1
        width = register["width_bits"]
        return (raw >> register["bit_offset"]) & ((1 << width) - 1)


# ----------------------------------------------------------------- values


def _fit(raw: int, size: int, signed: bool, is_float: bool, endian: str) -> int | float:
    raw &= (1 << (8 * size)) - 1
    if is_float:
        if size not in (4, 8):
            raise NotEvaluable("unsupported", f"{size}-byte float")
        data = raw.to_bytes(size, "little")
        return float(struct.unpack("<f" if size == 4 else "<d", data)[0])
    if signed and raw >> (8 * size - 1):
        raw -= 1 << (8 * size)
    return raw


def _read_memory(address: int, size: int, endian: str) -> int:
    data = bytes(gdb.selected_inferior().read_memory(address, size))
    return int.from_bytes(data, endian)


def _read_string(address: int) -> str:
    inferior = gdb.selected_inferior()
    out = bytearray()
    while len(out) < STRING_LIMIT:
        chunk = bytes(inferior.read_memory(address + len(out), 1))
        if chunk == b"\0":
            return out.decode("utf-8", "backslashreplace")
        out += chunk
    raise NotEvaluable("unsupported", f"no NUL within {STRING_LIMIT} bytes")


class Evaluator:
    def __init__(self, plan: dict[str, Any], registers: Registers, biases: list[int]) -> None:
        self.plan = plan
        self.registers = registers
        self.biases = biases
        self.endian = plan["endian"]
        self.pointer_mask = (1 << (8 * plan["pointer_size"])) - 1

    def _symbol_address(self, symbol: dict[str, Any], obj: int) -> int:
        """Run-time address of a symbol operand: the file's address plus the load bias.

        A symbol the file does not define (an extern variable a PIE reaches
        through a copy relocation that the note's text never caused) is
        looked up in the process by name, as a tracer attached to the whole
        process would; that fact is reported with the value.
        """
        if symbol["address"] is not None:
            return symbol["address"] + self.biases[obj]
        try:
            value = gdb.parse_and_eval("&'{}'".format(symbol["name"]))
            return (int(value) + symbol["offset"]) & self.pointer_mask
        except gdb.error as exc:
            raise NotEvaluable(
                "unresolved-symbol",
                f"symbol {symbol['name']} is in neither the file's nor the process's symbol "
                "table (an assembler-local label: its address exists only in the assembler's "
                f"output): {exc}",
            ) from None

    def _memory_address(self, loc: dict[str, Any], obj: int) -> tuple[int, bool]:
        address = loc["displacement"]
        if loc["base"] is not None:
            address += self.registers.read(loc["base"])
        if loc["index"] is not None:
            scale, shift = loc["scale"], loc["shift"]
            if shift and scale != 1 << shift:
                raise NotEvaluable("unsupported", f"scale {scale} disagrees with shift {shift}")
            address += self.registers.read(loc["index"]) * scale
        runtime_symbol = False
        symbol = loc["symbol"]
        if symbol is not None:
            relocation = symbol["relocation"]
            static = symbol["address"]
            if static is None:
                if relocation is None:
                    address += self._symbol_address(symbol, obj)
                    runtime_symbol = True
                    return address & self.pointer_mask, runtime_symbol
                raise NotEvaluable(
                    "unresolved-symbol",
                    f"%{relocation}({symbol['name']}) names a symbol that is not in the file's "
                    "symbol table (an assembler-local label)",
                )
            if relocation is None:
                address += static + self.biases[obj]
            elif relocation == "GOTOFF":
                # i386 PIC: BASE holds the GOT's run-time address; sym@GOTOFF is sym - GOT.
                got = self.plan["objects"][obj].get("got")
                if got is None:
                    raise NotEvaluable("unsupported", "no _GLOBAL_OFFSET_TABLE_ for @GOTOFF")
                address += static - got
            elif relocation == "lo12":
                # AArch64: BASE holds the 4 KiB page (adrp); the bias is page aligned.
                address += static & 0xFFF
            elif relocation == "lo":
                # MIPS %lo: a signed 16-bit low part, BASE holds %hi (rounded up).
                low = static & 0xFFFF
                address += low - 0x10000 if low & 0x8000 else low
            else:
                raise NotEvaluable("unsupported", f"relocation operator {relocation}")
        return address & self.pointer_mask, runtime_symbol

    def argument(self, arg: dict[str, Any], obj: int) -> dict[str, Any]:
        loc = arg["location"]
        size, signed, is_float = arg["size"], arg["signed"], arg["is_float"]
        kind = loc["kind"]
        out: dict[str, Any] = {}
        if kind == "constant":
            value = loc["value"]
            if isinstance(value, float):
                if not is_float:
                    raise NotEvaluable("unsupported", "float immediate for an integer argument")
                out["value"] = value
                return out
            out["value"] = _fit(value, size, signed, is_float, self.endian)
        elif kind == "register":
            reg = loc["register"]
            part = self.registers.read(reg)
            if 8 * size > reg["width_bits"]:
                raise NotEvaluable(
                    "register-pair",
                    f"a {size}-byte argument in the {reg['width_bits']}-bit register "
                    f"{reg['name']}: the compiler keeps it in a register pair, and "
                    "sys/sdt.h's operand names only one register of it",
                    named=part,
                    named_bits=reg["width_bits"],
                )
            out["value"] = _fit(part, size, signed, is_float, self.endian)
        elif kind == "memory":
            address, runtime_symbol = self._memory_address(loc, obj)
            out["address"] = address
            if runtime_symbol:
                out["runtime_symbol"] = True
            out["value"] = _fit(
                _read_memory(address, size, self.endian), size, signed, is_float, self.endian
            )
        elif kind == "symbol":
            symbol = loc["symbol"]
            address = self._symbol_address(symbol, obj)
            out["address"] = address
            if symbol["address"] is None:
                out["runtime_symbol"] = True
            out["value"] = _fit(
                _read_memory(address, size, self.endian), size, signed, is_float, self.endian
            )
        else:
            raise NotEvaluable("unparsed", f"unparsed operand: {loc.get('reason')}")
        if arg.get("string") and isinstance(out["value"], int):
            out["string"] = _read_string(out["value"])
        return out

    def site(self, site: dict[str, Any]) -> list[dict[str, Any]]:
        values = []
        for arg in site["args"]:
            try:
                values.append(self.argument(arg, site["object"]))
            except NotEvaluable as exc:
                values.append({"status": exc.status, "reason": exc.reason, **exc.extra})
            except gdb.error as exc:
                values.append({"status": "error", "reason": f"GDB: {exc}"})
        return values


# ---------------------------------------------------------------- control


def _auxv_entry() -> int | None:
    try:
        text = _gdb("info auxv")
    except gdb.error:
        return None
    match = re.search(r"AT_ENTRY\s.*?(0x[0-9a-fA-F]+)\s*$", text, re.M)
    return int(match.group(1), 16) if match else None


def _address_of(name: str) -> int:
    return int(gdb.parse_and_eval(f"&'{name}'")) & _pointer_mask()


def _pc() -> int:
    return int(gdb.parse_and_eval("$pc")) & _pointer_mask()


def _pointer_mask() -> int:
    return (1 << (8 * gdb.lookup_type("void").pointer().sizeof)) - 1


def _alive() -> bool:
    inferior = gdb.selected_inferior()
    return inferior.pid != 0 and bool(inferior.threads())


def _start(plan: dict[str, Any]) -> None:
    for command in (
        "set pagination off",
        "set confirm off",
        "set width 0",
        "set debuginfod enabled off",
        "set auto-load off",
        "set breakpoint pending off",
    ):
        with contextlib.suppress(gdb.error):
            gdb.execute(command)
    if plan["mode"] == "remote":
        deadline = time.monotonic() + plan.get("connect_timeout", 20)
        while True:
            try:
                gdb.execute(f"target remote :{plan['port']}", to_string=True)
                return
            except gdb.error:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
    for name, value in plan.get("env", {}).items():
        gdb.execute(f"set environment {name} {value}")
    gdb.execute("starti", to_string=True)


def _raise_semaphores(plan: dict[str, Any], obj: int, bias: int) -> list[int]:
    raised = []
    for sem in plan["semaphores"]:
        if sem["object"] != obj:
            continue
        address = sem["address"] + bias
        data = (1).to_bytes(sem["size"], plan["endian"])
        gdb.selected_inferior().write_memory(address, data)
        raised.append(address)
    return raised


def run(plan: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {"hits": [], "biases": [], "semaphores": [], "log": []}
    _start(plan)
    registers = Registers()
    result["gdb_arch"] = registers.arch
    objects = plan["objects"]
    biases: list[int | None] = [None] * len(objects)
    entry = _auxv_entry()
    main = objects[0]
    if entry is not None:
        biases[0] = entry - main["entry"]
        result["bias_source"] = "AT_ENTRY"
    else:
        biases[0] = _address_of(main["anchor"]) - main["anchor_address"]
        result["bias_source"] = main["anchor"]

    by_address: dict[int, list[int]] = {}
    breakpoints = []

    def arm(obj: int) -> None:
        bias = biases[obj]
        assert bias is not None
        result["semaphores"] += _raise_semaphores(plan, obj, bias)
        for number, site in enumerate(plan["sites"]):
            if site["object"] != obj:
                continue
            address = site["address"] + bias
            if address not in by_address:
                breakpoints.append(gdb.Breakpoint(f"*{address:#x}", internal=True))
            by_address.setdefault(address, []).append(number)

    arm(0)
    if len(objects) > 1:
        # Shared libraries are mapped by ld.so: run to main, then measure them.
        stop = gdb.Breakpoint(
            "*%#x" % (main["anchor_address"] + biases[0]), internal=True, temporary=True
        )
        gdb.execute("continue", to_string=True)
        del stop
        for obj in range(1, len(objects)):
            biases[obj] = _address_of(objects[obj]["anchor"]) - objects[obj]["anchor_address"]
            arm(obj)
    result["biases"] = biases

    evaluator = Evaluator(plan, registers, [b or 0 for b in biases])
    while len(result["hits"]) < MAX_HITS:
        try:
            gdb.execute("continue", to_string=True)
        except gdb.error as exc:
            result["log"].append(f"continue: {exc}")
            break
        if not _alive():
            break
        pc = _pc()
        sites = by_address.get(pc)
        if sites is None:
            result["log"].append(f"stopped at {pc:#x}, not a probe site")
            break
        for number in sites:
            result["hits"].append({"site": number, "values": evaluator.site(plan["sites"][number])})
    try:
        result["exit_code"] = int(gdb.parse_and_eval("$_exitcode"))
    except (gdb.error, TypeError):
        result["exit_code"] = None
    return result


def main() -> None:
    plan_path = os.environ["USDTSCAN_LIVE_PLAN"]
    with open(plan_path) as handle:
        plan = json.load(handle)
    try:
        result = run(plan)
    except Exception as exc:  # reported to the runner, which fails the test with it
        result = {"fatal": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
    with open(plan["result"], "w") as handle:
        json.dump(result, handle)
    try:
        if _alive():
            gdb.execute("kill", to_string=True)
    except gdb.error:
        pass


main()
