"""Text and JSON of ``usdtscan check`` (lint mode), ``check --provider`` and ``diff``.

Formats only: every finding, verdict and difference comes built from
usdtscan.lint, usdtscan.provider and usdtscan.diff.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from ..diff import Change, DiffResult
from ..lint import ERROR, WARNING, Finding, LintResult
from .text import hex_or_dash, plural


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
    counts = Counter(f.effective_severity for f in result.findings)
    ignored = f", {result.ignored} ignored" if result.ignored else ""
    rest = f"{plural(counts[WARNING], 'warning')}, {counts['info']} info{ignored}"
    if counts[ERROR]:
        return f"FAIL: {plural(counts[ERROR], 'error')}, {rest}"
    if result.scanned is not None and not result.scanned.sites:
        return f"OK: no probe sites{ignored}"
    return f"OK: no error ({rest})"


# -- diff --------------------------------------------------------------------------------


def diff_json(result: DiffResult, status: int) -> dict[str, Any]:
    return {
        "old": result.old,
        "new": result.new,
        "status": status,
        "ok": status == 0,
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
                "breaking": change.breaking,
                "allowed": change.allowed,
            }
            for change in result.changes
        ],
        "failed": sorted({change.probe for change in result.failures}),
    }


def _change_line(change: Change) -> str:
    mark = " (allowed)" if change.allowed else ""
    if change.old is None:
        detail = change.new or ""
    elif change.new is None:
        detail = change.old
    else:
        detail = f"{change.old} -> {change.new}"
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
