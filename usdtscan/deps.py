"""The libraries an executable loads, found as glibc's ld.so finds them.

Probes often live in a library, not in the program that users name: an
``--enable-shared`` CPython keeps its markers in libpython, ruby in
libruby, a JVM launcher in libjvm.  Listing ``./python`` and seeing no
probes makes users conclude the markers are gone, so the listing follows
DT_NEEDED: this module computes the dependency closure (breadth first, in
load order, each library once, with DT_RPATH inherited along the chain as
glibc does it) and scans the libraries; :mod:`usdtscan.listing` decides what to
show.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

from . import ldso
from .dynamic import DynamicInfo, dynamic_info
from .elf import ElfFile
from .errors import UsdtscanError
from .fileio import opened
from .model import LoadedAs, ScannedFile
from .scan import scan_or_error


@dataclass(slots=True)
class Dependency:
    """One DT_NEEDED entry of the closure: who needs it and where it resolved."""

    name: str
    needed_by: str
    resolution: ldso.Resolution
    scanned: ScannedFile | None = None

    @property
    def path(self) -> str | None:
        return self.resolution.path

    @property
    def how(self) -> str | None:
        return self.resolution.how

    @property
    def direct(self) -> bool:
        """Needed by the executable itself (not through another library)."""
        return self.needed_by == ""


@dataclass(slots=True)
class Closure:
    """Every library an object loads; ``unresolved`` are those ld.so would not find."""

    path: str
    libraries: list[Dependency] = field(default_factory=list)
    unresolved: list[Dependency] = field(default_factory=list)


def _read_dynamic(path: str) -> tuple[ldso.Target, DynamicInfo | None] | None:
    try:
        with opened(path) as data:
            elf = ElfFile(path, data)
            return ldso.target_of(elf), dynamic_info(elf)
    except UsdtscanError:
        return None


def needs_libraries(path: str) -> bool:
    """Whether ``path`` is an ELF file with at least one DT_NEEDED entry."""
    found = _read_dynamic(path)
    return found is not None and found[1] is not None and bool(found[1].needed)


@dataclass(slots=True)
class Memo:
    """What a listing of many files would otherwise redo for each: the loader
    (its parsed ld.so.cache), each library's dynamic section and its scan."""

    loaders: dict[ldso.Target, ldso.Loader] = field(default_factory=dict)
    dynamics: dict[str, tuple[ldso.Target, DynamicInfo | None] | None] = field(default_factory=dict)
    scans: dict[str, ScannedFile] = field(default_factory=dict)

    def dynamic(self, path: str) -> tuple[ldso.Target, DynamicInfo | None] | None:
        real = os.path.realpath(path)
        if real not in self.dynamics:
            self.dynamics[real] = _read_dynamic(path)
        return self.dynamics[real]


def closure(
    path: str,
    *,
    environ: Mapping[str, str] | None = None,
    sysroot: str = "/",
    scan: bool = True,
    memo: Memo | None = None,
) -> Closure:
    """The dependency closure of ``path``, breadth first as ld.so loads it.

    A library is loaded once: a DT_NEEDED name already loaded (by name or
    SONAME, or the same file by another name) is not loaded again.  The
    vDSO and the dynamic loader itself need no file lookup, but
    ``ld-linux*.so`` is resolved like any other name (it is a DT_NEEDED of
    libc), as ``ldd`` shows it.  ``memo`` keeps what can be reused across
    calls with the same environment, for a listing of many files.
    """
    memo = Memo() if memo is None else memo
    result = Closure(path)
    found = _read_dynamic(path)
    if found is None:
        return result
    target, dynamic = found
    if dynamic is None:
        return result
    loader = memo.loaders.get(target)
    if loader is None:
        loader = memo.loaders[target] = ldso.Loader(target, environ=environ, sysroot=sysroot)
    loading = _Loading(result, loader, memo, scan, {os.path.realpath(path)})
    if dynamic.soname:
        loading.names.add(dynamic.soname)
    queue = deque([_Needing(ldso.Ancestor(path, dynamic.rpath, dynamic.runpath), dynamic, (), "")])
    while queue:
        needing = queue.popleft()
        for name in needing.info.needed:
            child = loading.load(name, needing)
            if child is not None:
                queue.append(child)
    return result


@dataclass(frozen=True, slots=True)
class _Needing:
    """An object whose DT_NEEDED entries are still to load: its dynamic info,
    the chain of objects that loaded it (nearest first), the name it was loaded by."""

    owner: ldso.Ancestor
    info: DynamicInfo
    chain: tuple[ldso.Ancestor, ...]
    owner_name: str


@dataclass(slots=True)
class _Loading:
    """One closure being computed: what is loaded so far, by name and by file."""

    result: Closure
    loader: ldso.Loader
    memo: Memo
    scan: bool
    files: set[str]
    names: set[str] = field(default_factory=set)

    def load(self, name: str, needing: _Needing) -> _Needing | None:
        """Load one DT_NEEDED name of ``needing``; what the new library needs in turn."""
        if name in self.names:
            return None
        self.names.add(name)
        info = needing.info
        resolution = self.loader.resolve(
            name, needing.owner.origin, info.rpath, info.runpath, inherited=needing.chain
        )
        dependency = Dependency(name, needing.owner_name, resolution)
        if resolution.path is None:
            self.result.unresolved.append(dependency)
            return None
        real = os.path.realpath(resolution.path)
        if real in self.files:
            return None
        self.files.add(real)
        self.result.libraries.append(dependency)
        if self.scan:
            if real not in self.memo.scans:
                self.memo.scans[real] = scan_or_error(resolution.path)
            dependency.scanned = self.memo.scans[real]
        child = self.memo.dynamic(resolution.path)
        if child is None or child[1] is None:
            return None
        if child[1].soname:
            self.names.add(child[1].soname)
        ancestor = ldso.Ancestor(resolution.path, child[1].rpath, child[1].runpath)
        return _Needing(ancestor, child[1], (needing.owner, *needing.chain), name)


def probe_count(scanned: ScannedFile) -> int:
    return len({(site.provider, site.name) for site in scanned.sites})


def origin_text(dependency: Dependency, top: str) -> str:
    """``DT_NEEDED, found by DT_RUNPATH`` or ``DT_NEEDED of libfoo.so.1, found by ...``."""
    whose = "DT_NEEDED" if dependency.direct else f"DT_NEEDED of {dependency.needed_by}"
    if dependency.how is None:
        return f"{whose}, not found"
    return f"{whose}, found by {dependency.how}"


def unresolved_text(dependency: Dependency) -> str:
    """One line: the library, how many places were tried, and how to fix it."""
    needer = "" if dependency.direct else f" (needed by {dependency.needed_by})"
    return (
        f"needs {dependency.name}{needer}, which the loader would not find "
        f"(tried {len(dependency.resolution.tried)} places); "
        "set LD_LIBRARY_PATH to its directory, or --sysroot DIR for another system's tree"
    )


def hint(scanned: ScannedFile, found: Closure) -> str | None:
    """The one line for an executable without probes: where its libraries' probes are."""
    with_probes = [d for d in found.libraries if d.scanned is not None and d.scanned.sites]
    if with_probes:
        parts = [
            f"{probe_count(d.scanned)} in {d.name} ({origin_text(d, scanned.path)})"
            for d in with_probes
            if d.scanned is not None
        ]
        return "no probes here; " + "; ".join(parts)
    if found.unresolved:
        names = ", ".join(d.name for d in found.unresolved)
        which = "its" if len(found.unresolved) == 1 else "their"
        return (
            f"no probes here, and the loader would not find {names} (DT_NEEDED), so "
            f"{which} probes cannot be listed: set LD_LIBRARY_PATH to {which} directory, "
            "or use --sysroot DIR"
        )
    return None


def _is_libpython(name: str) -> bool:
    return os.path.basename(name).startswith("libpython")


def _as_listed(dependency: Dependency, top: str) -> ScannedFile:
    assert dependency.scanned is not None and dependency.path is not None
    listed = dependency.scanned
    listed.loaded_as = LoadedAs(dependency.name, dependency.needed_by or top, dependency.how or "")
    return listed


def follow(
    files: list[ScannedFile],
    *,
    all_dependencies: bool,
    environ: Mapping[str, str] | None = None,
    sysroot: str = "/",
) -> tuple[list[ScannedFile], list[str]]:
    """The listing with libraries added: every one with ``all_dependencies``
    (``--deps``), else the libpython of a CPython executable without probes.

    Returns the files to show, in order (each library once, after the
    first file that needs it), and one ``PATH: reason`` line per library
    that would not be found with ``--deps`` (the caller's exit status 2).
    An executable without probes gets a note saying where its libraries'
    probes are, or which library could not be found and how to fix that.
    """
    shown: list[ScannedFile] = []
    errors: list[str] = []
    listed = {os.path.realpath(f.path) for f in files if f.format is not None}
    memo = Memo()
    for scanned in files:
        shown.append(scanned)
        if scanned.format != "elf" or scanned.error is not None or scanned.member_of:
            continue  # a member of an archive or a package is not loaded from where it is
        if not all_dependencies and scanned.sites:
            continue
        found = closure(scanned.path, environ=environ, sysroot=sysroot, memo=memo)
        if not scanned.sites:
            line = hint(scanned, found)
            if line is not None:
                python = [d for d in found.libraries if _is_libpython(d.name)]
                if python and not all_dependencies:
                    line += ", listed below"
                scanned.notes.append(line)
        for dependency in found.libraries:
            real = os.path.realpath(dependency.path or "")
            if real in listed:
                continue
            if all_dependencies or (
                _is_libpython(dependency.name)
                and dependency.scanned is not None
                and dependency.scanned.sites
            ):
                listed.add(real)
                shown.append(_as_listed(dependency, scanned.path))
        if all_dependencies:
            errors += [f"{scanned.path}: {unresolved_text(d)}" for d in found.unresolved]
    return shown, errors
