"""Seed inputs and an in-memory scan shared by the hypothesis tests and the atheris harness.

Seeds are real files where the repository has them (the ELF fixtures, the
DOF blobs cut from the real node binaries) and files written by
tests/dofwriter.py for what it has not (ELF with ``.SUNW_dof``, thin and fat
Mach-O), so every reader is reached from a valid start.
"""

from __future__ import annotations

from pathlib import Path

from usdtscan.dof import decode, is_dof
from usdtscan.errors import UsdtscanError
from usdtscan.model import ScannedFile
from usdtscan.render import json as json_render
from usdtscan.render import readelf as readelf_render
from usdtscan.render import text as text_render
from usdtscan.scan import scan, scan_data

from ..dofwriter import (
    ARM_CODE,
    CPU_ARM64,
    X86_CODE,
    ElfFunction,
    MachFunction,
    Probe,
    Provider,
    arm64_demo_dof,
    make_fat,
    write_dof,
    write_elf,
    write_macho,
    x86_demo_dof,
)

REPO = Path(__file__).resolve().parents[2]
FIXTURE_BIN = REPO / "fixtures" / "bin"
ELF_SEEDS = [
    FIXTURE_BIN / target / name
    for target, name in [
        ("x86_64", "probes-O2"),
        ("x86_64", "probes-O0.o"),
        ("x86_64", "wait"),
        ("x86_64-so", "libprobes-O2.so"),
        ("i386", "probes-O2"),
        ("aarch64", "probes-O2"),
        ("ppc64", "probes-O2"),
        ("mips", "probes-O0"),
        ("s390x", "probes-O2"),
    ]
]
DOF_SEEDS = sorted((REPO / "fixtures" / "macho").glob("*.dof"))


def _x86_dof(text: int, dof_address: int) -> bytes:
    return x86_demo_dof(text, dof_address)


def _arm_dof(text: int, dof_address: int) -> bytes:
    return arm64_demo_dof(text, dof_address, nargs=3)


def macho_seeds() -> list[bytes]:
    """A thin x86_64 and a thin arm64 Mach-O with DOF, and both in a fat file."""
    x86, _, _ = write_macho(X86_CODE, [MachFunction("_myfunc", 0)], _x86_dof)
    arm, _, _ = write_macho(ARM_CODE, [MachFunction("_myfunc", 0)], _arm_dof, cputype=CPU_ARM64)
    return [x86, arm, make_fat([x86, arm], "32", align=12)]


def sunw_dof_seed() -> bytes:
    """An ELF executable carrying a DOF blob as ``.SUNW_dof`` (FreeBSD, illumos)."""
    probe = Probe("f", "p", ["int", "char *"], offsets=[4], enabled=[9])
    image, _ = write_elf(write_dof([Provider("demo", [probe])]), [ElfFunction("f", 0x401000, 16)])
    return image


def all_seeds() -> dict[str, bytes]:
    seeds = {f"elf-{p.parent.name}-{p.name}": p.read_bytes() for p in ELF_SEEDS}
    seeds.update({f"dof-{p.stem}": p.read_bytes() for p in DOF_SEEDS})
    for i, image in enumerate(macho_seeds()):
        seeds[f"macho-{i}"] = image
    seeds["elf-sunw-dof"] = sunw_dof_seed()
    return seeds


def scan_bytes(data: bytes, path: str = "fuzz") -> ScannedFile:
    """What :func:`usdtscan.scan` does with a file's bytes, without the file
    (no debug-file lookup).  A raw DOF blob goes to the DOF decoder directly."""
    if is_dof(data):
        decode(data, path)
        return ScannedFile(path)
    return scan_data(path, data, debug_dirs=None)


def scan_written(directory: Path, data: bytes) -> None:
    """Write ``data`` to a file, scan it: either a clean UsdtscanError naming
    the file, or a result that renders in every output format."""
    path = directory / "f"
    path.write_bytes(data)
    try:
        scanned = scan(path, debug_dirs=None)
    except UsdtscanError as exc:
        assert str(exc).startswith(f"{path}: ")
        return
    json_render.render([scanned.analyze()])
    text_render.render([scanned.analyze()], verbose=True)
    readelf_render.render([scanned])
