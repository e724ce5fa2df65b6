"""``usdtscan check``: the CI gate, its exit status the verdict.

With ``--cpython``, the markers that CPython's version should have
(usdtscan.cpython); without it, the lint of any binary
(usdtscan.lint).  This module is the plumbing between the parsed options,
those and the renderer (usdtscan.render.checks).

* 0 -- every expected marker (and every ``--require``\\d probe) is present
  with the right arguments; lint: no error finding;
* 1 -- at least one is missing or has the wrong arguments; each is named;
  lint: an error finding;
* 2 -- an input could not be read, is not CPython (for ``--cpython``,
  unless ``--python-version`` says it is), or needs a libpython that the
  loader would not find; also usage errors.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from . import cpython
from .exitcodes import EXIT_FAILED, EXIT_OK, EXIT_TROUBLE
from .output import HelpFormatter, usage_error, write_stdout

if TYPE_CHECKING:
    from .cpython import CPythonCheck
    from .lint import LintResult
    from .provider import DeclaredProbe


def _version_argument(text: str) -> cpython.Version:
    try:
        return cpython.parse_version(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _require_argument(text: str) -> list[str]:
    probes = [item.strip() for item in text.split(",") if item.strip()]
    for probe in probes:
        provider, colon, name = probe.partition(":")
        if not colon or not provider or not name:
            raise argparse.ArgumentTypeError(f"{probe!r} is not provider:name")
    return probes


def add_cpython_options(parser: argparse.ArgumentParser) -> None:
    """What ``check`` and ``script`` both need to know of a CPython build."""
    parser.add_argument(
        "--python-version",
        type=_version_argument,
        metavar="X.Y",
        help="the CPython version, overriding what the file says",
    )
    parser.add_argument(
        "--sysroot",
        default="/",
        metavar="DIR",
        help="resolve libpython inside DIR, as on the system whose root DIR is",
    )


def build_check_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        formatter_class=HelpFormatter,
        prog="usdtscan check",
        description="Check that binaries carry the static markers they should (for CI). "
        "Without --cpython, lint every probe site (docs/checks.rst).",
        epilog="Exit status: 0 all present and right (lint: no error finding), 1 missing or "
        "wrong (named; lint: an error finding), 2 unreadable input. With --cpython and no "
        "PATH, checks the running interpreter.",
    )
    parser.add_argument("paths", nargs="*", metavar="PATH")
    parser.add_argument(
        "--cpython",
        action="store_true",
        help="check the CPython markers that PATH's version should have, and their arguments",
    )
    parser.add_argument(
        "--require",
        action="append",
        type=_require_argument,
        default=[],
        metavar="PROVIDER:NAME[,...]",
        help="require these probes (any provider); repeatable",
    )
    parser.add_argument("--json", action="store_true", help="JSON output")
    parser.add_argument(
        "--ignore",
        action="append",
        default=[],
        metavar="ID[,...]",
        help="lint: drop findings with these IDs (docs/checks.rst); repeatable",
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="lint: list every site and its instruction"
    )
    parser.add_argument(
        "--provider",
        metavar="FILE.d",
        help="lint: also compare with this DTrace provider file (run through cpp)",
    )
    add_cpython_options(parser)
    return parser


def run_check(argv: Sequence[str]) -> int:
    parser = build_check_parser()
    options = parser.parse_intermixed_args(argv)
    required = [probe for group in options.require for probe in group]
    if options.cpython:
        return _run_cpython_check(options, required)
    return _run_lint_check(parser, options, required)


# -- check --cpython ----------------------------------------------------------------


def _run_cpython_check(options: argparse.Namespace, required: Sequence[str]) -> int:
    """Each PATH (the running interpreter by default), or each CPython in a package."""
    from .cpython import check_cpython_each
    from .render.checks import cpython_check_json, render_cpython_check

    paths = list(options.paths) or cpython.running_interpreter_files()[:1]
    check = functools.partial(
        check_cpython_each,
        version=options.python_version,
        require=required,
        sysroot=options.sysroot,
    )
    results: list[CPythonCheck] = [result for path in paths for result in check(path)]
    for result in results:
        if result.error is not None:
            print(f"usdtscan: {result.path}: {result.error}", file=sys.stderr)
    if options.json:
        text = json.dumps(cpython_check_json(results), indent=2) + "\n"
    else:
        text = "\n".join(filter(None, (render_cpython_check(result) for result in results)))
    write_stdout(text)
    return max(result.status for result in results)


# -- check (lint) -------------------------------------------------------------------


def ignored_ids(values: Sequence[str]) -> list[str]:
    return [item.strip() for value in values for item in value.split(",") if item.strip()]


def lint_status(result: LintResult, reports: Sequence[cpython.MarkerReport] = ()) -> int:
    if result.status == EXIT_OK and any(report.failed for report in reports):
        return EXIT_FAILED
    return result.status


def _run_lint_check(
    parser: argparse.ArgumentParser, options: argparse.Namespace, required: Sequence[str]
) -> int:
    """Lint each PATH (and check its ``--require``\\d probes); the status is the worst file's."""
    from .lint import RULES, lint_each
    from .render.checks import lint_document, render_lint_files

    ignore = ignored_ids(options.ignore)
    unknown = [i for i in ignore if i not in RULES]
    if unknown:
        known = ", ".join(RULES)
        return usage_error(parser, f"unknown finding ID {', '.join(unknown)} (known: {known})")
    if not options.paths:
        return usage_error(parser, "give a PATH to lint (or --cpython)")
    declared: list[DeclaredProbe] | None = None
    if options.provider is not None:
        declared = _declared_probes(options.provider)
        if declared is None:
            return EXIT_TROUBLE
    files: list[tuple[LintResult, list[cpython.MarkerReport], int]] = []
    # A static library is linted member by member (lib.a(m.o)), a package or an
    # image member by member too (ARCHIVE!member).
    for result in (one for named in options.paths for one in lint_each(named, ignore, declared)):
        path = result.path
        reports: list[cpython.MarkerReport] = []
        if required and result.scanned is not None:
            reports = cpython.require([(path, s) for s in result.scanned.sites], required)
        if result.error is not None:
            print(f"usdtscan: {path}: {result.error}", file=sys.stderr)
        files.append((result, reports, lint_status(result, reports)))
    if options.json:
        document = lint_document(files, required=bool(required))
        write_stdout(json.dumps(document, indent=2) + "\n")
    else:
        write_stdout(render_lint_files([(r, m) for r, m, _ in files], options.verbose))
    return max(one for _, _, one in files)


def _declared_probes(path: str) -> list[DeclaredProbe] | None:
    """``--provider``: the probes the file declares, or None (said on stderr) when it
    cannot be read or preprocessed."""
    from .errors import UsdtscanError
    from .provider import read_provider_file

    try:
        return read_provider_file(path)
    except UsdtscanError as exc:
        print(f"usdtscan: {exc}", file=sys.stderr)
        return None
