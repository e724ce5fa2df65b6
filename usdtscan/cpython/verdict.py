"""The verdict on each marker: is it there, should it be, and are its arguments right?

Used by ``check --cpython`` against the catalogue, and by ``check
--require`` for probes of any provider, which have no catalogued signature.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..model import Site
from .catalogue import (
    MARKERS,
    PROVIDER,
    ArgKind,
    ArgSpec,
    MarkerSpec,
    Version,
    catalogue_version,
    caveats,
)


class MarkerState(str, enum.Enum):
    """A marker's state, as the text and JSON of the check spell it."""

    PRESENT = "present"
    MISSING = "missing"
    ABSENT_AS_EXPECTED = "absent-as-expected"
    UNEXPECTED = "present-unexpected"  # the version should not have it: is the version right?
    UNKNOWN = "unknown"  # a python marker the catalogue does not know

    def __str__(self) -> str:
        return self.value


@dataclass(slots=True)
class MarkerSite:
    """One site of a marker, with what is wrong with its arguments (empty: right)."""

    file: str
    site: Site
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(slots=True)
class MarkerReport:
    """The verdict on one marker (or ``--require``\\d probe): its ``state``, its
    sites, and the caveats of this marker on this version."""

    provider: str
    name: str
    state: MarkerState
    expected: bool
    spec: MarkerSpec | None = None
    sites: list[MarkerSite] = field(default_factory=list)
    caveats: list[str] = field(default_factory=list)

    @property
    def probe_id(self) -> str:
        return f"{self.provider}:{self.name}"

    @property
    def problems(self) -> list[str]:
        return [problem for check in self.sites for problem in check.problems]

    @property
    def failed(self) -> bool:
        return self.state == MarkerState.MISSING or bool(self.problems)

    @property
    def semaphores(self) -> list[int]:
        seen: list[int] = []
        for check in self.sites:
            address = check.site.semaphore_address
            if address is not None and address not in seen:
                seen.append(address)
        return seen


def expected_shape(spec: ArgSpec, pointer_size: int) -> tuple[int, bool | None]:
    """(size, signed) the argument must have; signed None means "not checked".

    A pointer's sign is whatever the compiler's type traits say and tells
    nothing, so only its size is checked; an int must be exactly a signed
    4-byte value and a Py_ssize_t a signed pointer-sized one, or a tracer
    reading them by the note would print garbage.
    """
    if spec.kind == ArgKind.INT:
        return 4, True
    if spec.kind == ArgKind.SSIZE:
        return pointer_size, True
    return pointer_size, None


def check_marker_site(spec: MarkerSpec, file: str, site: Site, pointer_size: int) -> MarkerSite:
    """One site's arguments against the marker's signature: count, sizes, signs."""
    check = MarkerSite(file, site)
    if len(site.args) != len(spec.args):
        check.problems.append(
            f"{len(site.args)} arguments, expected {len(spec.args)} "
            f"({', '.join(arg.name for arg in spec.args) or 'none'})"
        )
        return check
    for argument, arg_spec in zip(site.args, spec.args, strict=True):
        size, signed = expected_shape(arg_spec, pointer_size)
        if argument.size is None:
            check.notes.append(f"{arg_spec.name}: no size in the note, not checked")
            continue
        if argument.is_float:
            check.problems.append(f"{arg_spec.name} is a float, expected {arg_spec.c_type}")
            continue
        wrong_size = argument.size != size
        wrong_sign = signed is not None and argument.signed != signed
        if wrong_size or wrong_sign:
            wanted = f"{'-' if signed else ''}{size}@" if signed is not None else f"{size}@"
            check.problems.append(
                f"{arg_spec.name} ({arg_spec.c_type}) is {argument.raw!r}, expected {wanted}"
            )
    return check


def evaluate(
    sites: Sequence[tuple[str, Site]], version: Version, pointer_size: int
) -> list[MarkerReport]:
    """A report for every catalogued marker, then any unknown ``python`` marker found."""
    row = catalogue_version(version)
    by_name: dict[str, list[tuple[str, Site]]] = {}
    for file, site in sites:
        if site.provider == PROVIDER:
            by_name.setdefault(site.name, []).append((file, site))
    reports = []
    for spec in MARKERS:
        found = by_name.pop(spec.name, [])
        expected = spec.expected_in(row)
        if found:
            state = MarkerState.PRESENT if expected else MarkerState.UNEXPECTED
        else:
            state = MarkerState.MISSING if expected else MarkerState.ABSENT_AS_EXPECTED
        report = MarkerReport(PROVIDER, spec.name, state, expected, spec)
        report.sites = [check_marker_site(spec, file, site, pointer_size) for file, site in found]
        report.caveats = caveats(version, spec.name)
        reports.append(report)
    for name, found in by_name.items():
        report = MarkerReport(PROVIDER, name, MarkerState.UNKNOWN, False)
        report.sites = [MarkerSite(file, site) for file, site in found]
        reports.append(report)
    return reports


def require(sites: Sequence[tuple[str, Site]], probe_ids: Sequence[str]) -> list[MarkerReport]:
    """``--require provider:name``: each must have at least one site; no signature known."""
    reports = []
    for probe_id in probe_ids:
        provider, _, name = probe_id.partition(":")
        found = [(f, s) for f, s in sites if s.provider == provider and s.name == name]
        state = MarkerState.PRESENT if found else MarkerState.MISSING
        report = MarkerReport(provider, name, state, True)
        report.sites = [MarkerSite(file, site) for file, site in found]
        reports.append(report)
    return reports
