"""The ``usdtscan check`` and ``usdtscan script`` sub-commands.

``check`` is meant for CI: its exit status is the verdict.

* 0 -- every expected marker (and every ``--require``\\d probe) is present
  with the right arguments;
* 1 -- at least one is missing or has the wrong arguments; each is named;
* 2 -- an input could not be read, is not CPython (for ``--cpython``,
  unless ``--python-version`` says it is), or needs a libpython that the
  loader would not find; also usage errors.

``script`` prints a tracing script for one binary; it exits 1 when the
binary lacks the markers the script needs, 2 when it cannot be read.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from . import cpython, cpython_check
from .cpython import Interpreter, MarkerReport
from .cpython_check import NO_DTRACE, CPythonCheck
from .exitcodes import EXIT_FAILED, EXIT_OK, EXIT_TROUBLE
from .model import Site
from .output import write_stdout
from .render.text import hex_or_dash, plural
from .scan import scan_each_or_error


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


def _common(parser: argparse.ArgumentParser) -> None:
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
    _common(parser)
    return parser


def build_script_parser() -> argparse.ArgumentParser:
    from .scripts import DEFAULT_TAPSET_ALIAS, KINDS

    parser = argparse.ArgumentParser(
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
    _common(parser)
    return parser


# -- check ------------------------------------------------------------------------


def check_path(
    path: str,
    *,
    check_cpython: bool,
    required: Sequence[str],
    python_version: cpython.Version | None,
    sysroot: str,
) -> CPythonCheck:
    result = CPythonCheck(path)
    if not check_cpython:
        sites: list[tuple[str, Site]] = []
        for scanned in scan_each_or_error(path):  # each member of an archive
            if scanned.error is not None and not scanned.sites:
                result.error = scanned.error
                return result
            sites += [(scanned.path, s) for s in scanned.sites]
        result.reports = cpython.require(sites, required)
        return result
    return cpython_check.check_cpython(path, python_version, require=required, sysroot=sysroot)


def check_archive(path: str, check: Callable[[str], CPythonCheck]) -> list[CPythonCheck]:
    """``check`` on each CPython executable or libpython in the package or
    image at ``path`` (named ``ARCHIVE!member``); empty when ``path`` is not one."""
    from .errors import UsdtscanError
    from .packages import is_oci_layout, looks_like_archive, members_in_memory

    if not (is_oci_layout(path) or (_not_an_object(path) and looks_like_archive(path))):
        return []

    def interesting(member: str) -> bool:
        name = os.path.basename(member)
        return name.startswith(("python", "libpython"))

    try:
        with members_in_memory(path, interesting) as members:
            checked = [check(member) for member in members]
    except UsdtscanError as exc:
        return [CPythonCheck(path, error=exc.reason)]
    # A member named python* that is not CPython (a python3-config script is
    # not an object file at all) is not worth a line of its own.
    results = [r for r in checked if r.error is None or "not a CPython" not in r.error]
    if not results:
        return [CPythonCheck(path, error="no CPython executable or libpython in this archive")]
    return results


def _not_an_object(path: str) -> bool:
    from .walk import has_object_magic

    return os.path.isfile(path) and not has_object_magic(path)


def run_check(argv: Sequence[str]) -> int:
    parser = build_check_parser()
    try:
        options = parser.parse_intermixed_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    required = [probe for group in options.require for probe in group]
    if not options.cpython:
        from .checkrun import run_lint_check

        return run_lint_check(parser, options, required)
    paths = list(options.paths)
    if not paths:
        if not options.cpython:
            print("usdtscan check: --require needs a PATH", file=sys.stderr)
            return EXIT_TROUBLE
        paths = cpython.running_interpreter_files()[:1]
    results: list[CPythonCheck] = []
    for path in paths:
        check = functools.partial(
            check_path,
            check_cpython=options.cpython,
            required=required,
            python_version=options.python_version,
            sysroot=options.sysroot,
        )
        results.extend(check_archive(path, check) or [check(path)])
    for result in results:
        if result.error is not None:
            print(f"usdtscan: {result.path}: {result.error}", file=sys.stderr)
    if options.json:
        text = json.dumps(check_json(results), indent=2) + "\n"
    else:
        text = "\n".join(filter(None, (render_check(result) for result in results)))
    write_stdout(text)
    return max(result.status for result in results)


def describe_interpreter(interpreter: Interpreter) -> list[str]:
    detection = interpreter.detection
    version = interpreter.version
    shown = "?" if version is None else f"{version[0]}.{version[1]}"
    if detection.full_version and interpreter.version_source != "--python-version":
        shown = detection.full_version
    if detection.free_threaded:
        shown += " free-threaded (the t ABI of --disable-gil)"
    kind = "debug build" if detection.debug_build else "build"
    where = {
        "static": f"static {kind}: markers in the executable",
        "library": f"libpython{' (debug build)' if detection.debug_build else ''}: "
        "markers in this library",
        "shared": f"shared {kind}: markers in {interpreter.marker_file}",
        "archive": f"static library (ar archive{', debug build' if detection.debug_build else ''})"
        f": markers in {plural(len(interpreter.parts), 'member')}",
    }[interpreter.build]
    part = interpreter.parts[0].scanned
    arch = f"{part.machine} ELF{part.bits} {part.endian}-endian"
    lines = [f"{interpreter.path}: CPython {shown}, {where}"]
    lines.append(f"  version from: {interpreter.version_source}; {arch}")
    if interpreter.library is not None and interpreter.library.path is not None:
        lines.append(f"  {interpreter.library.name} found by {interpreter.library.how}")
    lines += [f"  warning: {warning}" for warning in detection.warnings]
    return lines


def _site_line(check: cpython.MarkerSite, show_file: bool) -> str:
    site = check.site
    where = f" in {site.function_name}" if site.function_name else ""
    if show_file:
        where += f" ({os.path.basename(check.file)})"
    verdict = "; ".join(check.problems) if check.problems else "ok"
    if check.notes:
        verdict += " (" + "; ".join(check.notes) + ")"
    arguments = site.args_raw or "(no arguments)"
    return f"      site {hex_or_dash(site.address)}{where}: {arguments}  {verdict}"


def render_check(result: CPythonCheck) -> str:
    lines: list[str] = []
    interpreter = result.interpreter
    if interpreter is not None and result.error is None:
        lines += describe_interpreter(interpreter)
    elif result.error is not None:
        return ""  # said once, on stderr, by the caller
    else:
        lines.append(f"{result.path}:")
    lines += [f"  note: {note}" for note in result.notes]
    show_file = interpreter is not None and len(interpreter.parts) > 1
    width = max((len(r.probe_id) for r in result.reports), default=0)
    for report in result.reports:
        head = f"  {report.state:<18}  {report.probe_id:<{width}}"
        if report.sites:
            semaphores = ", ".join(hex_or_dash(s) for s in report.semaphores) or "none"
            head += f"  {plural(len(report.sites), 'site')}, semaphore {semaphores}"
        elif report.spec is not None and not report.expected:
            why = report.caveats[0] if report.caveats else ""
            head += f"  not in {_version_text(interpreter)}" + (f": {why}" if why else "")
        lines.append(head.rstrip())
        lines += [_site_line(check, show_file) for check in report.sites]
        if report.sites:  # a missing marker's caveats would only distract from its absence
            lines += [f"      caveat: {caveat}" for caveat in report.caveats]
        if report.state == cpython.UNEXPECTED:
            lines.append("      present though not expected: is the version right?")
    lines.append("  " + verdict(result))
    return "\n".join(lines) + "\n"


def _version_text(interpreter: Interpreter | None) -> str:
    if interpreter is None or interpreter.version is None:
        return "this version"
    return f"{interpreter.version[0]}.{interpreter.version[1]}"


def verdict(result: CPythonCheck) -> str:
    failures = result.failures
    if not failures:
        expected = [r for r in result.reports if r.expected]
        if result.interpreter is None:
            return f"OK: {plural(len(expected), 'required probe')} present"
        version = _version_text(result.interpreter)
        return (
            f"OK: all {len(expected)} markers expected in {version} are present "
            "with the right arguments"
        )
    missing = [r.probe_id for r in failures if r.state == cpython.MISSING]
    wrong = [r.probe_id for r in failures if r.state != cpython.MISSING]
    parts = []
    if missing:
        parts.append("missing " + ", ".join(missing))
    if wrong:
        parts.append("wrong arguments in " + ", ".join(wrong))
    cause = f" ({NO_DTRACE})" if NO_DTRACE in result.notes else ""
    return "FAIL: " + "; ".join(parts) + cause


def check_json(results: Sequence[CPythonCheck]) -> dict[str, Any]:
    return {
        "ok": all(result.status == EXIT_OK for result in results),
        "status": max((result.status for result in results), default=EXIT_OK),
        "files": [_result_json(result) for result in results],
    }


def _result_json(result: CPythonCheck) -> dict[str, Any]:
    out: dict[str, Any] = {"path": result.path, "status": result.status, "error": result.error}
    interpreter = result.interpreter
    if interpreter is not None:
        detection = interpreter.detection
        version = interpreter.version
        out["cpython"] = {
            "version": None if version is None else f"{version[0]}.{version[1]}",
            "full_version": detection.full_version,
            "version_source": interpreter.version_source,
            "build": interpreter.build,
            "debug_build": detection.debug_build,
            "free_threaded": detection.free_threaded,
            "marker_file": interpreter.marker_file,
            "files": [{"path": part.path, "role": part.role} for part in interpreter.parts],
            "library": None
            if interpreter.library is None
            else {
                "name": interpreter.library.name,
                "path": interpreter.library.path,
                "found_by": interpreter.library.how,
                "tried": interpreter.library.tried,
            },
            "evidence": detection.evidence,
            "warnings": detection.warnings,
        }
    out["notes"] = result.notes
    out["markers"] = [_report_json(report) for report in result.reports]
    out["failed"] = [report.probe_id for report in result.failures]
    out["missing"] = result.missing
    where = result.where
    out["where"] = (
        None
        if where is None
        else {
            "kind": where.kind,
            "path": where.path,
            "found_by": where.found_by,
            "tried": list(where.tried),
        }
    )
    return out


def _report_json(report: MarkerReport) -> dict[str, Any]:
    return {
        "provider": report.provider,
        "name": report.name,
        "state": report.state,
        "expected": report.expected,
        "ok": not report.failed,
        "signature": None
        if report.spec is None
        else [{"name": a.name, "type": a.c_type} for a in report.spec.args],
        "semaphores": report.semaphores,
        "sites": [
            {
                "file": check.file,
                "address": check.site.address,
                "file_offset": check.site.file_offset,
                "function": check.site.function,
                "semaphore": check.site.semaphore_address,
                "semaphore_file_offset": check.site.semaphore_file_offset,
                "args": check.site.args_raw,
                "problems": check.problems,
                "notes": check.notes,
            }
            for check in report.sites
        ],
        "problems": report.problems,
        "caveats": report.caveats,
    }


# -- script -------------------------------------------------------------------------


def run_script(argv: Sequence[str]) -> int:
    from .errors import UsdtscanError
    from .scripts import ScriptTarget, ScriptUnavailableError, generate

    parser = build_script_parser()
    try:
        options = parser.parse_intermixed_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
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


def run_diff(argv: Sequence[str]) -> int:
    from .checkrun import run_diff as run

    return run(argv)


SUBCOMMANDS = {"check": run_check, "script": run_script, "diff": run_diff}
