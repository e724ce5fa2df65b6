"""``usdtscan diff OLD NEW``: the release gate, between the parsed options,
usdtscan.diff and the renderer (usdtscan.render.checks).

Exit status: 0 no breaking change, 1 a probe removed or its arguments
changed and not ``--allow``\\ed, 2 a file could not be read (or a usage error).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from .diff import KINDS, Allowance, diff, parse_allowance
from .output import HelpFormatter, usage_error, write_stdout
from .render.checks import diff_json, render_diff


def build_diff_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        formatter_class=HelpFormatter,
        prog="usdtscan diff",
        description="Compare the probes of two builds: the release gate (docs/checks.rst).",
        epilog="Exit status: 0 no breaking change, 1 a probe removed or its arguments "
        "(count, size, sign) changed and not --allow'ed, 2 a file could not be read.",
    )
    parser.add_argument("old", metavar="OLD")
    parser.add_argument("new", metavar="NEW")
    parser.add_argument(
        "--allow",
        action="append",
        default=[],
        metavar="[KIND:]PROVIDER:NAME",
        help=f"accept this change (globs; KIND one of {', '.join(KINDS)}); repeatable",
    )
    parser.add_argument("--json", action="store_true", help="JSON output")
    parser.add_argument(
        "--no-demangle",
        action="store_true",
        help="show C++ and Rust function symbols of moved probes as they are stored",
    )
    return parser


def run_diff(argv: Sequence[str]) -> int:
    parser = build_diff_parser()
    options = parser.parse_intermixed_args(argv)
    allow: list[Allowance] = []
    for text in options.allow:
        try:
            allow.append(parse_allowance(text))
        except ValueError as exc:
            return usage_error(parser, f"--allow: {exc}")
    result = diff(options.old, options.new, allow, demangle=not options.no_demangle)
    if result.error is not None:
        print(f"usdtscan: {result.error}", file=sys.stderr)
    status = result.status
    if options.json:
        write_stdout(json.dumps(diff_json(result, status), indent=2) + "\n")
    elif result.error is None:
        write_stdout(render_diff(result))
    return status
