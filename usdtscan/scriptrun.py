"""``usdtscan script KIND [PATH]``: a tracing script for the probes of one binary.

It exits 1 when the binary lacks the markers the script needs (CPython's
function markers, for the call-tree scripts), 2 when it cannot be read.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from . import cpython
from .checkrun import add_cpython_options
from .exitcodes import EXIT_FAILED, EXIT_OK, EXIT_TROUBLE
from .output import HelpFormatter, write_stdout


def build_script_parser() -> argparse.ArgumentParser:
    from .scripts import DEFAULT_TAPSET_ALIAS, KINDS

    parser = argparse.ArgumentParser(
        formatter_class=HelpFormatter,
        prog="usdtscan script",
        description="Print a tracing script for the probes of one binary.",
        epilog="With no PATH, for the running interpreter. tapset, stap-*, dtrace-calltree "
        "need CPython's function markers; bpftrace and uprobe-events work for any probe.",
    )
    parser.add_argument("kind", choices=KINDS, metavar="KIND", help=", ".join(KINDS))
    parser.add_argument("path", nargs="?", metavar="PATH")
    parser.add_argument(
        "--start",
        default="start",
        metavar="FUNCTION",
        help="dtrace-calltree: trace below this Python function (default: start)",
    )
    parser.add_argument(
        "--alias",
        default=DEFAULT_TAPSET_ALIAS,
        metavar="NAME",
        help="tapset: name the aliases NAME.function.entry/.return (default: "
        f"{DEFAULT_TAPSET_ALIAS}, which SystemTap's own tapsets do not use)",
    )
    add_cpython_options(parser)
    return parser


def run_script(argv: Sequence[str]) -> int:
    from .errors import UsdtscanError
    from .scripts import ScriptTarget, ScriptUnavailableError, generate

    options = build_script_parser().parse_intermixed_args(argv)
    path = options.path or cpython.running_interpreter_files()[0]
    interpreter = cpython.open_interpreter(
        path, python_version=options.python_version, sysroot=options.sysroot
    )
    if interpreter.error is not None:
        print(f"usdtscan: {path}: {interpreter.error}", file=sys.stderr)
        return EXIT_TROUBLE
    is_cpython = interpreter.detection.is_cpython or options.python_version is not None
    library = None
    if interpreter.library is not None and interpreter.library.path is not None:
        library = os.path.realpath(interpreter.library.path)
    target = ScriptTarget(
        executable=os.path.realpath(path),
        library=library,
        version=interpreter.version if is_cpython else None,
        full_version=interpreter.detection.full_version if options.python_version is None else None,
        machine=interpreter.parts[0].scanned.machine or "?",
        bits=interpreter.parts[0].scanned.bits or 64,
        sites=tuple((os.path.realpath(file), site) for file, site in interpreter.sites()),
        symbols={os.path.realpath(part.path): part.scanned.symbols for part in interpreter.parts},
    )
    try:
        text = generate(options.kind, target, start_function=options.start, alias=options.alias)
    except ScriptUnavailableError as exc:
        print(f"usdtscan: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except (ValueError, UsdtscanError) as exc:
        print(f"usdtscan: {exc}", file=sys.stderr)
        return EXIT_TROUBLE
    write_stdout(text)
    return EXIT_OK
