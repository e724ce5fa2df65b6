"""Text and JSON of ``usdtscan check`` (``--cpython`` and lint), ``check --provider``
and ``diff``.

Formats only: every marker state, finding, verdict and difference comes
built from usdtscan.cpython, usdtscan.lint, usdtscan.provider and
usdtscan.diff.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..exitcodes import EXIT_OK
from .text import hex_or_dash, plural

if TYPE_CHECKING:
    # Each command renders one kind of result: ``usdtscan diff`` loads neither
    # the CPython check nor the lint, so their constants are imported where used.
    from ..cpython import CPythonCheck, Interpreter, MarkerReport, MarkerSite
    from ..diff import Change, DiffResult
    from ..lint import Finding, LintResult

# -- check --cpython ---------------------------------------------------------------


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


def _site_line(check: MarkerSite, show_file: bool) -> str:
    site = check.site
    where = f" in {site.function_name}" if site.function_name else ""
    if show_file:
        where += f" ({os.path.basename(check.file)})"
    verdict = "; ".join(check.problems) if check.problems else "ok"
    if check.notes:
        verdict += " (" + "; ".join(check.notes) + ")"
    arguments = site.args_raw or "(no arguments)"
    return f"      site {hex_or_dash(site.address)}{where}: {arguments}  {verdict}"


def render_cpython_check(result: CPythonCheck) -> str:
    from ..cpython import MarkerState

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
        if report.state == MarkerState.UNEXPECTED:
            lines.append("      present though not expected: is the version right?")
    lines.append("  " + cpython_verdict(result))
    return "\n".join(lines) + "\n"


def _version_text(interpreter: Interpreter | None) -> str:
    if interpreter is None or interpreter.version is None:
        return "this version"
    return f"{interpreter.version[0]}.{interpreter.version[1]}"


def cpython_verdict(result: CPythonCheck) -> str:
    from ..cpython import NO_DTRACE, MarkerState

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
    missing = [r.probe_id for r in failures if r.state == MarkerState.MISSING]
    wrong = [r.probe_id for r in failures if r.state != MarkerState.MISSING]
    parts = []
    if missing:
        parts.append("missing " + ", ".join(missing))
    if wrong:
        parts.append("wrong arguments in " + ", ".join(wrong))
    cause = f" ({NO_DTRACE})" if NO_DTRACE in result.notes else ""
    return "FAIL: " + "; ".join(parts) + cause


def cpython_check_json(results: Sequence[CPythonCheck]) -> dict[str, Any]:
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


# -- check (lint) ------------------------------------------------------------------


def finding_json(finding: Finding) -> dict[str, Any]:
    return {
        "id": finding.id,
        "severity": finding.effective_severity,
        "consumers": list(finding.effective_consumers),
        "consequence": finding.rule.consequence,
        "message": finding.message,
        "probe": finding.probe,
        "address": finding.address,
    }


def lint_json(result: LintResult, status: int) -> dict[str, Any]:
    from ..lint import ERROR, WARNING

    scanned = result.scanned
    counts = Counter(f.effective_severity for f in result.findings)
    return {
        "path": result.path,
        "status": status,
        "error": result.error,
        "machine": None if scanned is None else scanned.machine,
        "bits": None if scanned is None else scanned.bits,
        "probes": result.probe_count,
        "errors": counts[ERROR],
        "warnings": counts[WARNING],
        "ignored": result.ignored,
        "findings": [finding_json(f) for f in result.findings],
        "sites": [
            {
                "probe": site.probe,
                "address": site.address,
                "instruction": site.instruction,
                "nop": site.ok,
                "nop_encoding": site.encoding,
            }
            for site in result.sites
        ],
    }


def _head(result: LintResult) -> str:
    scanned = result.scanned
    if scanned is None:
        return f"{result.path}:"
    arch = ""
    if scanned.machine:
        arch = f" {scanned.machine} ELF{scanned.bits or '?'}" if scanned.format == "elf" else ""
        if scanned.format != "elf":
            arch = f" {scanned.format or '?'}"
    counts = Counter(site.encoding for site in result.sites if site.encoding)
    encodings = ""
    if counts:
        encodings = " (" + ", ".join(f"{n} {name}" for name, n in sorted(counts.items())) + ")"
    probes = plural(result.probe_count, "probe")
    return f"{result.path}:{arch}, {probes}, {plural(len(scanned.sites), 'site')}{encodings}"


def render_lint(result: LintResult, verbose: bool = False) -> list[str]:
    """The lines for one file: findings grouped by ID, the consequence said once per ID."""
    lines = [_head(result)]
    if result.error is not None and result.scanned is None:
        lines.append(f"  cannot check: {result.error}")
        return lines
    if result.error is not None:
        lines.append(f"  trouble: {result.error} (the findings cover what was read)")
    groups: dict[str, list[Finding]] = {}
    for finding in result.findings:
        groups.setdefault(finding.id, []).append(finding)
    for rule_id, findings in groups.items():
        rule = findings[0].rule
        consumers = sorted({c for f in findings for c in f.effective_consumers})
        lines.append(f"  {rule_id}: {rule.consequence} [{', '.join(consumers)}]")
        for finding in findings:
            lines.append(f"    {finding.effective_severity:<7}  {finding.message}")
    if verbose:
        for site in result.sites:
            instruction = site.instruction or "-"
            encoding = f" [{site.encoding}]" if site.encoding else ""
            lines.append(
                f"  site {hex_or_dash(site.address)} {site.probe}: {instruction}{encoding}"
            )
    lines.append("  " + lint_verdict(result))
    return lines


def lint_verdict(result: LintResult) -> str:
    from ..lint import ERROR, WARNING

    counts = Counter(f.effective_severity for f in result.findings)
    ignored = f", {result.ignored} ignored" if result.ignored else ""
    rest = f"{plural(counts[WARNING], 'warning')}, {counts['info']} info{ignored}"
    if counts[ERROR]:
        return f"FAIL: {plural(counts[ERROR], 'error')}, {rest}"
    if result.scanned is not None and not result.scanned.sites:
        return f"OK: no probe sites{ignored}"
    return f"OK: no error ({rest})"


def lint_document(
    files: Sequence[tuple[LintResult, Sequence[MarkerReport], int]], required: bool
) -> dict[str, Any]:
    """The ``check --json`` document of linted files, each with its ``--require``\\d
    markers (when any were required) and its status; the run's status is the worst."""
    status = max(one for _, _, one in files)
    entries = []
    for result, reports, one in files:
        entry = lint_json(result, one)
        if required:
            entry["markers"] = [
                {"probe": r.probe_id, "state": r.state, "ok": not r.failed} for r in reports
            ]
            entry["failed"] = [r.probe_id for r in reports if r.failed]
        entries.append(entry)
    return {"ok": status == EXIT_OK, "status": status, "files": entries}


def render_lint_files(
    files: Sequence[tuple[LintResult, Sequence[MarkerReport]]], verbose: bool
) -> str:
    """The ``check`` text of linted files, each followed by its ``--require``\\d markers."""
    lines: list[str] = []
    for result, reports in files:
        lines += render_lint(result, verbose=verbose)
        for report in reports:
            lines.append(f"  {report.state:<18}  {report.probe_id}")
        if reports:
            missing = [r.probe_id for r in reports if r.failed]
            lines.append(
                "  FAIL: missing " + ", ".join(missing)
                if missing
                else f"  OK: {len(reports)} required probes present"
            )
    return "\n".join(lines) + "\n"


# -- diff --------------------------------------------------------------------------------


def diff_json(result: DiffResult, status: int) -> dict[str, Any]:
    return {
        "old": result.old,
        "new": result.new,
        "status": status,
        "ok": status == EXIT_OK,
        "error": result.error,
        "old_probes": result.old_probes,
        "new_probes": result.new_probes,
        "summary": dict(Counter(change.kind for change in result.changes)),
        "changes": [
            {
                "kind": change.kind,
                "probe": change.probe,
                "old": change.old,
                "new": change.new,
                "old_demangled": change.old_demangled,
                "new_demangled": change.new_demangled,
                "breaking": change.breaking,
                "allowed": change.allowed,
            }
            for change in result.changes
        ],
        "failed": sorted({change.probe for change in result.failures}),
    }


def _change_line(change: Change) -> str:
    mark = " (allowed)" if change.allowed else ""
    old = change.old_demangled or change.old
    new = change.new_demangled or change.new
    if old is None:
        detail = new or ""
    elif new is None:
        detail = old
    else:
        detail = f"{old} -> {new}"
    return f"  {change.kind:<9}  {change.probe}: {detail}{mark}"


def render_diff(result: DiffResult) -> str:
    counts = Counter(change.kind for change in result.changes)
    summary = ", ".join(f"{n} {kind}" for kind, n in counts.items()) or "no change"
    lines = [
        f"{result.old} ({plural(result.old_probes, 'probe')}) -> "
        f"{result.new} ({plural(result.new_probes, 'probe')}): {summary}"
    ]
    lines += [_change_line(change) for change in result.changes]
    failures = result.failures
    if failures:
        removed = [c.probe for c in failures if c.kind == "removed"]
        changed = [c.probe for c in failures if c.kind != "removed"]
        parts = []
        if removed:
            parts.append("removed " + ", ".join(removed))
        if changed:
            parts.append("arguments changed in " + ", ".join(changed))
        lines.append("  FAIL: " + "; ".join(parts))
    else:
        allowed = sum(1 for c in result.changes if c.allowed)
        lines.append(
            "  OK: no probe removed, no argument changed"
            + (f" ({allowed} allowed)" if allowed else "")
        )
    return "\n".join(lines) + "\n"
