"""``usdtscan diff OLD NEW``: what a release did to its probes.

A tracing script names a probe and reads its arguments by number, size and
sign; those are what a release must not break.  So a probe that disappears,
or whose argument count, sizes or signedness change, is a breaking change;
a probe added, moved to another function, guarded by a semaphore it did not
have, or whose arguments now live elsewhere (a register instead of the
stack) is reported but breaks no script.  Location kinds are compared by
kind, not by register, so two architectures of one package compare equal.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from .errors import UsdtscanError
from .exitcodes import EXIT_OK, check_status
from .model import Probe, ScannedFile, Site, SiteKind, group_sites
from .scan import scan

ADDED, REMOVED, MOVED, ARGUMENTS, LOCATIONS, SEMAPHORE = (
    "added",
    "removed",
    "moved",
    "arguments",
    "locations",
    "semaphore",
)
KINDS = (REMOVED, ARGUMENTS, ADDED, MOVED, LOCATIONS, SEMAPHORE)
BREAKING = frozenset({REMOVED, ARGUMENTS})


@dataclass(frozen=True, slots=True)
class Change:
    """One difference of one probe; ``old``/``new`` say it in the form the text shows."""

    kind: str
    probe: str
    old: str | None
    new: str | None
    allowed: bool = False
    # ``moved``: the functions with C++ and Rust names demangled, as the listing
    # shows them; None when no name there is mangled (or with demangle=False).
    old_demangled: str | None = None
    new_demangled: str | None = None

    @property
    def breaking(self) -> bool:
        return self.kind in BREAKING

    @property
    def fails(self) -> bool:
        return self.breaking and not self.allowed


@dataclass(slots=True)
class DiffResult:
    old: str
    new: str
    changes: list[Change] = field(default_factory=list)
    old_probes: int = 0
    new_probes: int = 0
    error: str | None = None

    @property
    def failures(self) -> list[Change]:
        return [change for change in self.changes if change.fails]

    @property
    def status(self) -> int:
        """The exit status of ``usdtscan diff``: 0 no breaking change (or all allowed),
        1 a probe removed or its arguments changed, 2 a file could not be read."""
        return check_status(self.error, bool(self.failures))

    @property
    def ok(self) -> bool:
        return self.status == EXIT_OK


# -- what is compared ------------------------------------------------------------------


def _argument_text(site: Site) -> str:
    """``-4 8 8f``: what a script sees of the arguments (size, sign, float)."""
    parts = []
    for argument in site.args:
        if argument.size is None:
            parts.append("?")
        else:
            sign = "-" if argument.signed else ""
            parts.append(f"{sign}{argument.size}{'f' if argument.is_float else ''}")
    return " ".join(parts) if parts else "(none)"


def _location_kind(site: Site, index: int, scanned: ScannedFile) -> str:
    from .args.decode import decode_argument
    from .args.location import Constant, Memory, Register, Symbol

    if site.kind != SiteKind.STAPSDT or scanned.machine is None or scanned.bits is None:
        return "dof"
    decoded = decode_argument(site.args[index], scanned.machine, scanned.bits)
    location = decoded.location
    if isinstance(location, Constant):
        return "constant"
    if isinstance(location, Register):
        return "register"
    if isinstance(location, Symbol):
        return "symbol"
    if isinstance(location, Memory):
        return "symbol" if location.symbol else "memory"
    return "unparsed"


def _locations_text(site: Site, scanned: ScannedFile) -> str:
    kinds = [_location_kind(site, i, scanned) for i in range(len(site.args))]
    return " ".join(kinds) if kinds else "(none)"


def _variants(texts: Iterable[str]) -> str:
    return " | ".join(sorted(set(texts)))


def _functions(probe: Probe) -> set[str]:
    return {s.function_name for s in probe.sites if s.function_name}


def _demangled(functions: Iterable[str]) -> str | None:
    """The functions as the listing shows them, or None when none is mangled."""
    from .demangle import demangle, is_mangled

    names = sorted(functions)
    if not any(is_mangled(name) for name in names):
        return None
    return ", ".join(demangle(name) or name for name in names)


def _moved(probe_id: str, old: set[str], new: set[str], readable: bool) -> Change:
    change = Change(MOVED, probe_id, ", ".join(sorted(old)), ", ".join(sorted(new)))
    if not readable:
        return change
    old_shown, new_shown = _demangled(old), _demangled(new)
    if old_shown is None and new_shown is None:
        return change
    return replace(
        change, old_demangled=old_shown or change.old, new_demangled=new_shown or change.new
    )


def _compare(
    old: Probe, new: Probe, old_file: ScannedFile, new_file: ScannedFile, readable: bool = True
) -> list[Change]:
    probe_id = old.probe_id
    changes = []
    old_args = _variants(_argument_text(s) for s in old.sites)
    new_args = _variants(_argument_text(s) for s in new.sites)
    if old_args != new_args:
        changes.append(Change(ARGUMENTS, probe_id, old_args, new_args))
    else:
        old_kinds = _variants(_locations_text(s, old_file) for s in old.sites)
        new_kinds = _variants(_locations_text(s, new_file) for s in new.sites)
        if old_kinds != new_kinds:
            changes.append(Change(LOCATIONS, probe_id, old_kinds, new_kinds))
    old_functions, new_functions = _functions(old), _functions(new)
    if old_functions and new_functions and old_functions != new_functions:
        changes.append(_moved(probe_id, old_functions, new_functions, readable))
    old_semaphore = old.semaphore_address is not None
    new_semaphore = new.semaphore_address is not None
    if old_semaphore != new_semaphore:
        shown = {True: "semaphore", False: "no semaphore"}
        changes.append(Change(SEMAPHORE, probe_id, shown[old_semaphore], shown[new_semaphore]))
    return changes


def _signature(probe: Probe) -> str:
    count = len(probe.sites)
    arguments = _variants(map(_argument_text, probe.sites))
    return f"{count} site{'s' if count != 1 else ''}, args {arguments}"


def diff_scanned(old: ScannedFile, new: ScannedFile, demangle: bool = True) -> list[Change]:
    """The changes from ``old`` to ``new``; ``demangle=False`` leaves ``moved``
    functions as stored only (no ``*_demangled``)."""
    old_probes = {p.probe_id: p for p in group_sites(old.sites)}
    new_probes = {p.probe_id: p for p in group_sites(new.sites)}
    changes: list[Change] = []
    for probe_id, probe in old_probes.items():
        if probe_id not in new_probes:
            changes.append(Change(REMOVED, probe_id, _signature(probe), None))
        else:
            changes += _compare(probe, new_probes[probe_id], old, new, demangle)
    for probe_id, probe in new_probes.items():
        if probe_id not in old_probes:
            changes.append(Change(ADDED, probe_id, None, _signature(probe)))
    order = {kind: n for n, kind in enumerate(KINDS)}
    return sorted(changes, key=lambda c: (order[c.kind], c.probe))


# -- --allow ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Allowance:
    """``[KIND:]PROVIDER:NAME`` (globs): a change the release means to make."""

    kind: str | None
    pattern: str

    def __call__(self, change: Change) -> bool:
        if self.kind is not None and self.kind != change.kind:
            return False
        return fnmatch.fnmatchcase(change.probe, self.pattern)


def parse_allowance(text: str) -> Allowance:
    """Raises ValueError for text that is not ``[KIND:]PROVIDER:NAME``."""
    kind, colon, rest = text.partition(":")
    if colon and kind in KINDS:
        text = rest
        chosen: str | None = kind
    else:
        chosen = None
    provider, colon, name = text.partition(":")
    if not colon or not provider or not name:
        raise ValueError(f"{text!r} is not [KIND:]PROVIDER:NAME (KIND: {', '.join(KINDS)})")
    return Allowance(chosen, text)


def diff(
    old: str | os.PathLike[str],
    new: str | os.PathLike[str],
    allow: Sequence[Allowance | str] = (),
    demangle: bool = True,
) -> DiffResult:
    """Compare the probes of two files; never raises for bad input (``error`` says it).

    ``allow`` names the changes the release means to make, as ``--allow``
    spells them (``[KIND:]PROVIDER:NAME`` globs); a malformed one raises ValueError.
    ``demangle=False`` keeps C++ and Rust function names of ``moved`` as stored.
    """
    rules = [parse_allowance(a) if isinstance(a, str) else a for a in allow]
    result = DiffResult(os.fspath(old), os.fspath(new))
    scanned = []
    for path in (result.old, result.new):
        try:
            one = scan(path)
        except UsdtscanError as exc:
            result.error = f"{path}: {exc.reason}"
            return result
        if one.error is not None:
            result.error = f"{path}: {one.error}"
            return result
        scanned.append(one)
    result.old_probes = len(group_sites(scanned[0].sites))
    result.new_probes = len(group_sites(scanned[1].sites))
    changes = diff_scanned(scanned[0], scanned[1], demangle)
    result.changes = [replace(c, allowed=any(rule(c) for rule in rules)) for c in changes]
    return result
