#!/usr/bin/env python3
"""Show that a change leaves usdtscan's output alone (JSON and text), or list what it changes.

    scripts/output-compare.py dump OUT.json [--tree DIR]
    scripts/output-compare.py compare BEFORE.json AFTER.json
    scripts/output-compare.py REV          # dump REV (git archive) and the work tree, compare

``dump`` runs ``python -m usdtscan --json`` and plain ``python -m usdtscan``
(the table) of the source tree ``DIR`` (default: this checkout) on every
fixture binary with a readelf oracle, every corpus binary
(``$USDTSCAN_CORPUS``) and every Mach-O download (``$USDTSCAN_MACHO``), one
file per process so that a crash names its file, and writes
``{path: {"json": file entry, "text": stdout, "stderr": ..., "status": N}}``.
``compare`` prints each differing JSON key, with list indices folded to
``[]`` so that one intended change reads as one line with its count, and the
files whose text, stderr or exit status differ at all (byte for byte), and
exits 1 when anything differs.  Nothing here is timed; it is the rewrite's
proof, run by hand (docs/benchmarks.rst).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
HOME = Path.home()
CORPUS = Path(os.environ.get("USDTSCAN_CORPUS", HOME / ".cache" / "usdtscan-corpus"))
MACHO = Path(os.environ.get("USDTSCAN_MACHO", HOME / ".cache" / "usdtscan-macho"))
ORACLE = ".readelf-n.txt"


def inputs() -> list[Path]:
    """Fixture and corpus binaries with a readelf oracle (those the tests know), Mach-O files."""
    found: list[Path] = []
    for root in (REPO / "fixtures" / "bin", CORPUS):
        if root.is_dir():
            found += [
                p.with_name(p.name[: -len(ORACLE)])
                for p in root.rglob("*" + ORACLE)
                if ".fetch" not in p.parts
            ]
    if MACHO.is_dir():
        found += [p for p in MACHO.iterdir() if p.is_file() and p.name != "SHA256SUMS"]
    return sorted(p for p in found if p.is_file())


# The package of ``tree``, not the one an editable install's finder would pick.
_RUN = """
import runpy, sys
sys.meta_path[:] = [f for f in sys.meta_path if "Editable" not in getattr(f, "__name__", "")]
sys.path.insert(0, sys.argv.pop(1))
sys.argv[0] = "usdtscan"
runpy.run_module("usdtscan", run_name="__main__")
"""


def _run(tree: Path, *argv: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-c", _RUN, str(tree), *argv], capture_output=True, check=False
    )


def run_one(tree: Path, path: Path) -> tuple[str, Any]:
    done = _run(tree, "--json", str(path))
    try:
        document = json.loads(done.stdout)
        (entry,) = document["files"]
    except ValueError:
        entry = {"crash": done.returncode, "stderr": done.stderr.decode()[-400:]}
    text = _run(tree, str(path))
    return str(path), {
        "json": entry,
        "text": text.stdout.decode("utf-8", "backslashreplace"),
        "stderr": text.stderr.decode("utf-8", "backslashreplace"),
        "status": text.returncode,
    }


def dump(tree: Path, out: Path) -> None:
    files = inputs()
    with ThreadPoolExecutor(max_workers=2) as pool:
        entries = dict(pool.map(lambda p: run_one(tree, p), files))
    out.write_text(json.dumps(entries, sort_keys=True))
    print(f"{out}: {len(entries)} files from {tree}", file=sys.stderr)


def differences(before: Any, after: Any, where: str = "") -> list[str]:
    """Paths (``probes[].uprobe``) where the two documents differ."""
    if isinstance(before, dict) and isinstance(after, dict):
        out: list[str] = []
        for key in sorted(set(before) | set(after)):
            if key not in after:
                out.append(f"{where}.{key} removed")
            elif key not in before:
                out.append(f"{where}.{key} added")
            else:
                out += differences(before[key], after[key], f"{where}.{key}")
        return out
    if isinstance(before, list) and isinstance(after, list):
        if len(before) != len(after):
            return [f"{where} length {len(before)} -> {len(after)}"]
        out = []
        for old, new in zip(before, after, strict=True):
            out += differences(old, new, f"{where}[]")
        return out
    if before != after or type(before) is not type(after):
        return [f"{where} changed"]
    return []


def compare(before_path: Path, after_path: Path) -> int:
    before = json.loads(before_path.read_text())
    after = json.loads(after_path.read_text())
    counts: Counter[str] = Counter()
    files_changed: Counter[str] = Counter()
    example: dict[str, str] = {}
    for path in sorted(set(before) | set(after)):
        if path not in before or path not in after:
            counts["file only on one side"] += 1
            example.setdefault("file only on one side", path)
            continue
        old, new = before[path], after[path]
        seen = set(differences(old.get("json"), new.get("json"), "json"))
        for key in ("text", "stderr", "status"):
            if old.get(key) != new.get(key):
                seen.add(f"{key} differs")
        for item in seen:
            counts[item] += 1
            example.setdefault(item, path)
        for item in seen:
            files_changed[item] += 1
    total = len(set(before) & set(after))
    if not counts:
        print(f"identical: {total} files")
        return 0
    print(f"{total} files compared; differences (count of files, first file):")
    for item, _ in sorted(counts.items()):
        print(f"  {item}: {files_changed[item] or counts[item]} files, e.g. {example[item]}")
    return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command")
    one = sub.add_parser("dump")
    one.add_argument("out", type=Path)
    one.add_argument("--tree", type=Path, default=REPO)
    two = sub.add_parser("compare")
    two.add_argument("before", type=Path)
    two.add_argument("after", type=Path)
    args_list = sys.argv[1:] if argv is None else argv
    if args_list and args_list[0] not in ("dump", "compare", "-h", "--help"):
        return against_revision(args_list[0])
    options = parser.parse_args(args_list)
    if options.command == "dump":
        dump(options.tree, options.out)
        return 0
    if options.command == "compare":
        return compare(options.before, options.after)
    parser.print_usage()
    return 2


def against_revision(revision: str) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "tree"
        tree.mkdir()
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", revision, "usdtscan"],
            capture_output=True,
            check=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
        dump(tree, Path(tmp) / "before.json")
        dump(REPO, Path(tmp) / "after.json")
        return compare(Path(tmp) / "before.json", Path(tmp) / "after.json")


if __name__ == "__main__":
    sys.exit(main())
