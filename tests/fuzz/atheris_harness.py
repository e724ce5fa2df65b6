#!/usr/bin/env python3
"""Coverage-guided fuzzing of every reader with atheris (libFuzzer), for long runs.

Not collected by pytest (no ``test_`` prefix).  From the repository root::

    pip install atheris
    python tests/fuzz/atheris_harness.py --write-seeds /tmp/usdtscan-seeds
    python tests/fuzz/atheris_harness.py /tmp/usdtscan-corpus /tmp/usdtscan-seeds \\
        -max_total_time=1800 -rss_limit_mb=1024 -timeout=2 \\
        -artifact_prefix=/tmp/usdtscan-crash-

The first directory collects the inputs libFuzzer finds interesting, the
second holds the seeds: the ELF fixtures, the DOF blobs of the real node
binaries, Mach-O files (thin and fat) and an ELF with ``.SUNW_dof``.  Each
input is scanned as :func:`usdtscan.scan` would and rendered as JSON, text
and readelf output.  A :class:`UsdtscanError` is the expected answer to
damage; any other exception, a hang (``-timeout``) or a large allocation
(``-rss_limit_mb``) is a finding: libFuzzer writes the input to
``<artifact_prefix>crash-<sha1>``.  Copy it to ``tests/fuzz/regressions/``
(``tests/test_hostile.py`` replays every file there) and fix the reader.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import atheris  # noqa: E402

with atheris.instrument_imports(include=["usdtscan"]):
    import usdtscan.args.analysis
    import usdtscan.dof
    import usdtscan.elf
    import usdtscan.macho
    import usdtscan.magic
    import usdtscan.reloc
    import usdtscan.scan
    import usdtscan.stapsdt
    import usdtscan.sunw_dof  # noqa: F401
    from tests.fuzz.seeds import all_seeds, scan_bytes
    from usdtscan.errors import UsdtscanError
    from usdtscan.render import json as json_render
    from usdtscan.render import readelf, text

# Mach-O goes through macholib, which reads the file by name: inputs are
# written to memory-backed scratch space.
SCRATCH = Path(os.environ.get("USDTSCAN_FUZZ_SCRATCH", "/dev/shm")) / f"usdtscan-fuzz-{os.getpid()}"


def test_one_input(data: bytes) -> None:
    SCRATCH.write_bytes(data)
    try:
        scanned = scan_bytes(data, str(SCRATCH))
    except UsdtscanError:
        return
    finally:
        SCRATCH.unlink()  # libFuzzer ends the process with exit(): no cleanup after Fuzz()
    json_render.render([scanned.analyze()])
    text.render([scanned.analyze()], verbose=True)
    readelf.render([scanned])


def write_seeds(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, data in all_seeds().items():
        (directory / name).write_bytes(data)
    print(f"{len(all_seeds())} seeds in {directory}")


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--write-seeds":
        write_seeds(Path(sys.argv[2]))
        return
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
