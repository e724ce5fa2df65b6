"""``usdtscan check`` without ``--cpython``: the lint of any binary, for CI.

The plumbing between the parsed options, usdtscan.lint and the renderer;
the exit status is the worst of the files: 0 no error finding, 1 an error
finding (or a ``--require``\\d probe missing), 2 a file could not be read.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from . import cpython
from .errors import UsdtscanError
from .exitcodes import EXIT_FAILED, EXIT_OK, EXIT_TROUBLE
from .lint import RULES, LintResult, lint
from .output import write_stdout


def ignored_ids(values: Sequence[str]) -> list[str]:
    return [item.strip() for value in values for item in value.split(",") if item.strip()]


def lint_status(result: LintResult, reports: Sequence[cpython.MarkerReport] = ()) -> int:
    if result.status == EXIT_OK and any(report.failed for report in reports):
        return EXIT_FAILED
    return result.status


def run_lint_check(
    parser: argparse.ArgumentParser, options: argparse.Namespace, required: Sequence[str]
) -> int:
    from .render.checks import lint_json, render_lint

    ignore = ignored_ids(options.ignore)
    unknown = [i for i in ignore if i not in RULES]
    if unknown:
        parser.print_usage(sys.stderr)
        known = ", ".join(RULES)
        print(
            f"usdtscan check: unknown finding ID {', '.join(unknown)} (known: {known})",
            file=sys.stderr,
        )
        return EXIT_TROUBLE
    if not options.paths:
        parser.print_usage(sys.stderr)
        print("usdtscan check: give a PATH to lint (or --cpython)", file=sys.stderr)
        return EXIT_TROUBLE
    declared = None
    if options.provider is not None:
        from .provider import read_provider_file

        try:
            declared = read_provider_file(options.provider)
        except UsdtscanError as exc:
            print(f"usdtscan: {exc}", file=sys.stderr)
            return EXIT_TROUBLE
    outputs: list[tuple[LintResult, list[cpython.MarkerReport], int]] = []
    for path in options.paths:
        result = lint(path, ignore, declared)
        reports: list[cpython.MarkerReport] = []
        if required and result.scanned is not None:
            reports = cpython.require([(path, s) for s in result.scanned.sites], required)
        if result.error is not None:
            print(f"usdtscan: {path}: {result.error}", file=sys.stderr)
        outputs.append((result, reports, lint_status(result, reports)))
    status = max(out[2] for out in outputs)
    if options.json:
        files = []
        for result, reports, one in outputs:
            entry = lint_json(result, one)
            if required:
                entry["markers"] = [
                    {"probe": r.probe_id, "state": r.state, "ok": not r.failed} for r in reports
                ]
                entry["failed"] = [r.probe_id for r in reports if r.failed]
            files.append(entry)
        document = {"ok": status == EXIT_OK, "status": status, "files": files}
        write_stdout(json.dumps(document, indent=2) + "\n")
        return status
    lines: list[str] = []
    for result, reports, _one in outputs:
        lines += render_lint(result, verbose=options.verbose)
        for report in reports:
            lines.append(f"  {report.state:<18}  {report.probe_id}")
        if reports:
            missing = [r.probe_id for r in reports if r.failed]
            lines.append(
                "  FAIL: missing " + ", ".join(missing)
                if missing
                else f"  OK: {len(reports)} required probes present"
            )
    write_stdout("\n".join(lines) + "\n")
    return status


# -- diff ---------------------------------------------------------------------------------


def build_diff_parser() -> argparse.ArgumentParser:
    from .diff import KINDS

    parser = argparse.ArgumentParser(
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
    return parser


def run_diff(argv: Sequence[str]) -> int:
    from .diff import Allowance, diff, parse_allowance
    from .render.checks import diff_json, render_diff

    parser = build_diff_parser()
    try:
        options = parser.parse_intermixed_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    allow: list[Allowance] = []
    for text in options.allow:
        try:
            allow.append(parse_allowance(text))
        except ValueError as exc:
            parser.print_usage(sys.stderr)
            print(f"usdtscan diff: --allow: {exc}", file=sys.stderr)
            return EXIT_TROUBLE
    result = diff(options.old, options.new, allow)
    if result.error is not None:
        print(f"usdtscan: {result.error}", file=sys.stderr)
    status = result.status
    if options.json:
        write_stdout(json.dumps(diff_json(result, status), indent=2) + "\n")
    elif result.error is None:
        write_stdout(render_diff(result))
    return status
