"""Mach-O: the real node binaries (thin and wrapped fat), and synthetic files for every branch."""

from __future__ import annotations

import bisect
import hashlib
import json
import os
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

import usdtscan
from usdtscan.cli import main
from usdtscan.errors import MalformedFileError, NotObjectFileError

from .conftest import FIXTURES
from .dofwriter import (
    ARM_CODE,
    CPU_ARM64,
    CPU_I386,
    CPU_X86_64,
    X86_CODE,
    MachFunction,
    Probe,
    Provider,
    arm64_demo_dof,
    make_fat,
    write_dof,
    write_macho,
    x86_demo_dof,
)

MACHO_CACHE = Path(os.environ.get("USDTSCAN_MACHO", Path.home() / ".cache" / "usdtscan-macho"))
EXPECTED = json.loads((FIXTURES / "macho" / "expected.json").read_text())
X86_BINARY, ARM_BINARY = "node-8.3.0-darwin-x64", "node-18.9.0-darwin-arm64"


def real(name: str) -> Path:
    path = MACHO_CACHE / name
    if not path.is_file():
        pytest.skip(f"{name} not fetched (../shared/macho/fetch {MACHO_CACHE})")
    return path


def _site_tuples(sites: list[usdtscan.Site], shift: int = 0) -> list[tuple[object, ...]]:
    return [
        (
            s.provider,
            s.name,
            s.kind,
            s.dof.offset if s.dof else None,
            s.address,
            s.traced_pc,
            None if s.file_offset is None else s.file_offset - shift,
            s.function_name,
        )
        for s in sites
    ]


def _expected_tuples(name: str) -> list[tuple[object, ...]]:
    return [
        (
            s["provider"],
            s["name"],
            s["kind"],
            s["stored"],
            s["address"],
            s["traced_pc"],
            s["file_offset"],
            s["function"],
        )
        for s in EXPECTED[name]["sites"]
    ]


# -- the real binaries ---------------------------------------------------------


@pytest.mark.parametrize("name", [X86_BINARY, ARM_BINARY])
def test_real_node_decodes_completely(name: str) -> None:
    path = real(name)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == EXPECTED[name]["sha256"]
    scanned = usdtscan.scan(path)
    assert scanned.error is None and scanned.warnings == []
    assert scanned.format == "macho" and len(scanned.slices) == 1
    assert len(scanned.probes) == 8
    kinds = [s.kind for s in scanned.sites]
    assert (kinds.count("dof-probe"), kinds.count("dof-is-enabled")) == (8, 6)
    assert _site_tuples(scanned.sites) == _expected_tuples(name)
    assert all(s.dof is not None and s.dof.verified for s in scanned.sites)
    assert all(s.warnings == () for s in scanned.sites)
    assert scanned.slices[0].sites == scanned.sites


@pytest.mark.parametrize("name", [X86_BINARY, ARM_BINARY])
def test_real_sites_checked_independently(name: str) -> None:
    """capstone on the bytes and llvm-nm's symbols, not usdtscan's readers."""
    capstone = pytest.importorskip("capstone")
    path = real(name)
    data = path.read_bytes()
    x86 = EXPECTED[name]["cputype"] == CPU_X86_64
    engine = (
        capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
        if x86
        else capstone.Cs(capstone.CS_ARCH_ARM64, capstone.CS_MODE_ARM)
    )
    want = {
        (True, "dof-probe"): ["nop", "nop dword ptr [rax]"],
        (True, "dof-is-enabled"): ["xor eax, eax", "nop", "nop", "nop"],
        (False, "dof-probe"): ["nop"],
        (False, "dof-is-enabled"): ["mov x0, #0"],
    }
    nm = None
    if shutil.which("llvm-nm"):
        out = subprocess.run(
            ["llvm-nm", "--defined-only", "--numeric-sort", str(path)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        nm = [
            (int(p[0], 16), p[2])
            for p in (line.split(maxsplit=2) for line in out.splitlines())
            if len(p) == 3 and p[1] in "tT"
        ]
    for site in usdtscan.scan(path).sites:
        assert site.file_offset is not None and site.address is not None
        code = data[site.file_offset : site.file_offset + (5 if x86 else 4)]
        got = [f"{i.mnemonic} {i.op_str}".strip() for i in engine.disasm(code, site.address)]
        assert got == want[(x86, site.kind)]
        if x86 and site.kind == "dof-is-enabled":
            assert site.traced_pc == site.address + 3  # the stored offset + 2
        else:
            assert site.traced_pc == site.address
        if nm is not None:
            start, symbol = nm[bisect.bisect_right([a for a, _ in nm], site.address) - 1]
            assert site.function == f"{symbol[1:]}+{site.address - start:#x}"


@pytest.mark.parametrize("kind", ["32", "64"])
def test_fat_wrapper_of_the_real_binaries(tmp_path: Path, kind: str) -> None:
    thin = [real(X86_BINARY).read_bytes(), real(ARM_BINARY).read_bytes()]
    fat = tmp_path / f"node-fat{kind}"
    fat.write_bytes(make_fat(thin, kind))
    scanned = usdtscan.scan(fat)
    assert scanned.error is None and scanned.format == "macho"
    assert [s.arch for s in scanned.slices] == ["x86_64", "arm64"]
    for piece, name in zip(scanned.slices, [X86_BINARY, ARM_BINARY], strict=True):
        assert _site_tuples(piece.sites, piece.offset) == _expected_tuples(name)
        assert all(s.dof is not None and s.dof.verified for s in piece.sites)
    assert len(scanned.sites) == 28
    arm_only = usdtscan.scan(fat, arch="arm64")
    assert [s.arch for s in arm_only.slices] == ["arm64"]
    assert _site_tuples(arm_only.sites, arm_only.slices[0].offset) == _expected_tuples(ARM_BINARY)


def test_real_universal2_without_dof() -> None:
    scanned = usdtscan.scan(real("markupsafe-2.1.5-universal2-_speedups.so"))
    assert scanned.error is None and scanned.sites == [] and scanned.warnings == []
    assert [(s.arch, s.bits) for s in scanned.slices] == [("x86_64", 64), ("arm64", 64)]


# -- synthetic files -----------------------------------------------------------


def _x86_dof(text: int, dof_address: int) -> bytes:
    return x86_demo_dof(text, dof_address)


def _arm_dof(text: int, dof_address: int) -> bytes:
    return arm64_demo_dof(text, dof_address)


def _write(tmp_path: Path, name: str, image: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(image)
    return path


def test_synthetic_x86_64(tmp_path: Path) -> None:
    image, text, _ = write_macho(X86_CODE, [MachFunction("_myfunc", 0)], _x86_dof)
    scanned = usdtscan.scan(_write(tmp_path, "x86", image))
    assert scanned.error is None and scanned.machine == "x86_64"
    got = [(s.kind, s.address, s.traced_pc, s.file_offset, s.function) for s in scanned.sites]
    assert got == [
        ("dof-probe", text + 4, text + 4, 0x1004, "myfunc+0x4"),
        ("dof-is-enabled", text + 9, text + 12, 0x1009, "myfunc+0x9"),
    ]
    probe = scanned.sites[0]
    assert probe.dof is not None and probe.dof.verified
    assert probe.section == "__TEXT,__dof_test"
    assert [a.operand for a in probe.args] == ["%rdi", "%rsi"]
    assert probe.args_raw == "int, char *"


def test_synthetic_arm64_odd_section_address(tmp_path: Path) -> None:
    image, text, dof_address = write_macho(
        ARM_CODE, [MachFunction("_myfunc", 0)], _arm_dof, cputype=CPU_ARM64, dof_misalign=6
    )
    assert dof_address % 8 == 6
    scanned = usdtscan.scan(_write(tmp_path, "arm", image))
    got = [(s.kind, s.address, s.traced_pc, s.function) for s in scanned.sites]
    assert got == [
        ("dof-probe", text + 4, text + 4, "myfunc+0x4"),
        ("dof-is-enabled", text + 8, text + 8, "myfunc+0x8"),
    ]
    assert [a.operand for a in scanned.sites[0].args][7:] == ["x7", "[sp, 0]"]
    assert all(s.dof is not None and s.dof.verified for s in scanned.sites)


def test_site_with_wrong_bytes_is_flagged(tmp_path: Path) -> None:
    code = bytes.fromhex("55 4889e5 e800000000 33c0909090 5dc3") + b"\x90" * 16
    image, _, _ = write_macho(code, [MachFunction("_myfunc", 0)], _x86_dof)
    site = usdtscan.scan(_write(tmp_path, "bad", image)).sites[0]
    assert site.dof is not None and site.dof.verified is False
    assert site.warnings == (
        "bytes at the site are e8 00 00 00 00, not the patched 90 0f 1f 40 00",
    )


def test_function_mismatch_is_a_warning(tmp_path: Path) -> None:
    image, _, _ = write_macho(X86_CODE, [MachFunction("_other", 0)], _x86_dof)
    site = usdtscan.scan(_write(tmp_path, "x", image)).sites[0]
    assert site.function == "other+0x4"
    assert site.warnings == ("DOF names function myfunc, the symbol table other",)


def test_i386_thin_32_bit(tmp_path: Path) -> None:
    def dof_for(text: int, dof_address: int) -> bytes:
        probe = Probe("f", "p", ["int"], offsets=[(text + 5 - dof_address) & 0xFFFFFFFF])
        return write_dof([Provider("demo", [probe])], model=1)

    image, text, _ = write_macho(
        X86_CODE, [MachFunction("_f", 0)], dof_for, cputype=CPU_I386, bits=32
    )
    scanned = usdtscan.scan(_write(tmp_path, "i386", image))
    assert (scanned.machine, scanned.bits) == ("i386", 32)
    (site,) = scanned.sites
    assert (site.address, site.function, site.args[0].operand) == (text + 4, "f+0x4", "0(%esp)")
    assert site.dof is not None and site.dof.verified


def test_lld_patched_sites_without_dof(tmp_path: Path) -> None:
    image, _, _ = write_macho(X86_CODE, [MachFunction("_myfunc", 0)], None)
    scanned = usdtscan.scan(_write(tmp_path, "lld", image))
    assert scanned.sites == []
    assert scanned.warnings == [
        "2 call sites are patched like DTrace probes but there is no DOF (linked by lld?): "
        "their probes cannot be listed"
    ]


def test_synthetic_fat_and_arch_selection(tmp_path: Path) -> None:
    x86, _, _ = write_macho(X86_CODE, [MachFunction("_myfunc", 0)], _x86_dof)
    arm, _, _ = write_macho(ARM_CODE, [MachFunction("_myfunc", 0)], _arm_dof, cputype=CPU_ARM64)
    for kind in ("32", "64"):
        path = _write(tmp_path, f"fat{kind}", make_fat([x86, arm], kind, align=12))
        scanned = usdtscan.scan(path)
        assert [(s.arch, len(s.sites), s.offset) for s in scanned.slices] == [
            ("x86_64", 2, 0x1000),
            ("arm64", 2, 0x1000 + len(x86) + (-len(x86)) % 0x1000),
        ]
        assert scanned.sites[0].file_offset == 0x1000 + 0x1004
        assert scanned.machine == "fat:x86_64,arm64"
        assert usdtscan.scan(path, arch="x86_64").machine == "x86_64"
        with pytest.raises(NotObjectFileError, match=r"no ppc slice \(has x86_64, arm64\)"):
            usdtscan.scan(path, arch="ppc")


def test_cli_json_and_arch(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    x86, _, _ = write_macho(X86_CODE, [MachFunction("_myfunc", 0)], _x86_dof)
    arm, _, _ = write_macho(ARM_CODE, [MachFunction("_myfunc", 0)], _arm_dof, cputype=CPU_ARM64)
    path = _write(tmp_path, "fat", make_fat([x86, arm]))
    assert main(["--json", str(path)]) == 0
    document = json.loads(capsys.readouterr().out)
    (entry,) = document["files"]
    assert entry["format"] == "macho"
    assert [(s["arch"], len(s["probes"])) for s in entry["slices"]] == [("x86_64", 2), ("arm64", 2)]
    site = entry["slices"][0]["probes"][1]
    assert site["kind"] == "dof-is-enabled"
    assert site["traced_pc"] == site["address"] + 3
    assert set(site["dof"]) >= {
        "offset",
        "section",
        "native_types",
        "translated_types",
        "argmap",
        "stability",
    }
    assert site["dof"]["stability"]["provider"] == {
        "name": "Evolving",
        "data": "Evolving",
        "class": "ISA",
    }
    assert main(["--arch", "arm64", "-p", "demo:fire", str(path)]) == 0
    text = capsys.readouterr().out
    assert "arm64, Mach-O 64-bit little-endian, 1 probe, 2 sites" in text
    assert "fire (is-enabled)" in text
    assert main(["--arch", "ppc", str(path)]) == 2
    assert "no ppc slice" in capsys.readouterr().err


def test_unknown_load_command_is_tolerated(tmp_path: Path) -> None:
    image, _, _ = write_macho(
        X86_CODE, [MachFunction("_myfunc", 0)], _x86_dof, unknown_command=True
    )
    assert len(usdtscan.scan(_write(tmp_path, "u", image)).sites) == 2


def test_java_class_file_is_not_fat(tmp_path: Path) -> None:
    path = _write(tmp_path, "A.class", struct.pack(">IHH", 0xCAFEBABE, 0, 52) + bytes(64))
    with pytest.raises(NotObjectFileError):
        usdtscan.scan(path)


def test_fat_slice_outside_the_file(tmp_path: Path) -> None:
    data = struct.pack(">II", 0xCAFEBABE, 1) + struct.pack(
        ">iiIII", CPU_X86_64, 3, 4096, 1 << 20, 12
    )
    with pytest.raises(MalformedFileError, match="fat slice 0 lies outside the file"):
        usdtscan.scan(_write(tmp_path, "f", data + bytes(64)))


def test_damaged_load_commands(tmp_path: Path) -> None:
    image = bytearray(write_macho(X86_CODE, [MachFunction("_myfunc", 0)], _x86_dof)[0])
    image[20:24] = struct.pack("<I", 0xFFFF)  # sizeofcmds
    image[16:20] = struct.pack("<I", 0xFFFF)  # ncmds
    with pytest.raises(MalformedFileError, match="Mach-O load commands unreadable"):
        usdtscan.scan(_write(tmp_path, "d", bytes(image)))


def test_damaged_dof_keeps_the_slice(tmp_path: Path) -> None:
    def broken(text: int, dof_address: int) -> bytes:
        blob = bytearray(_x86_dof(text, dof_address))
        blob[6] = 8
        return bytes(blob)

    image, _, _ = write_macho(X86_CODE, [MachFunction("_myfunc", 0)], broken)
    scanned = usdtscan.scan(_write(tmp_path, "b", image))
    assert scanned.error is not None and "unknown version 8" in scanned.error
    assert [s.arch for s in scanned.slices] == ["x86_64"]
