"""The CPython marker check as a function: :func:`check_cpython`.

``usdtscan check --cpython`` is a thin layer over it: the CLI renders the
:class:`CPythonCheck` this returns, as text or JSON, and exits with its
``status``.  So a CI script in Python gets every verdict the command prints,
as typed objects, without parsing our output.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ..exitcodes import EXIT_OK, check_status
from . import verdict
from .catalogue import NEWEST_KNOWN, OLDEST_WITH_MARKERS, Version, parse_version
from .interpreter import BuildKind, Interpreter, open_interpreter
from .verdict import MarkerReport, MarkerState

__all__ = ["NO_DTRACE", "CPythonCheck", "MarkerFile", "check_cpython", "check_cpython_each"]

# The note for a file without any stapsdt note: the likely cause, not only
# the list of missing markers.
NO_DTRACE = "no .note.stapsdt notes at all: built without --with-dtrace?"


@dataclass(frozen=True, slots=True)
class MarkerFile:
    """Where a build keeps its markers, and how usdtscan found that file.

    ``kind`` is ``executable`` (a static build: the markers are in the
    interpreter itself) or ``libpython`` (a shared build's library, or a
    libpython checked directly).  ``path`` is the file a tracer attaches to;
    for a libpython that the loader would not find it is the DT_NEEDED name.
    ``found_by`` says how: ``the checked file`` or, for a shared build,
    ``DT_NEEDED libpython3.13.so.1.0, by RUNPATH`` (the search step of ld.so
    that found it), or ``not found`` with every place tried in ``tried``.
    """

    kind: str
    path: str
    found_by: str
    tried: tuple[str, ...] = ()


@dataclass(slots=True)
class CPythonCheck:
    """The check of one file: a report per marker, or the error that prevented it.

    ``reports`` has one :class:`MarkerReport` per marker of the catalogue
    (then any ``python`` marker the catalogue does not know, then each
    ``require``\\d probe): its ``state`` (``present``, ``missing``,
    ``absent-as-expected``, ``present-unexpected``, ``unknown``), its
    ``sites`` with the problems of their arguments, and its caveats.
    ``error`` is set when the file could not be checked at all (unreadable,
    not CPython, a libpython the loader would not find, an unknown
    version); ``status`` is then 2.  ``interpreter`` is what was found of the
    build, even then.
    """

    path: str
    interpreter: Interpreter | None = None
    reports: list[MarkerReport] = field(default_factory=list)
    error: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def failures(self) -> list[MarkerReport]:
        """The reports that fail the check: missing, or with wrong arguments."""
        return [report for report in self.reports if report.failed]

    @property
    def status(self) -> int:
        """The exit status of ``usdtscan check`` for this file: 0 ok, 1 failed, 2 trouble."""
        return check_status(self.error, bool(self.failures))

    @property
    def ok(self) -> bool:
        """Every expected marker is present with the right arguments."""
        return self.status == EXIT_OK

    @property
    def version(self) -> Version | None:
        """(major, minor) that the check used: from the file, or as given."""
        return None if self.interpreter is None else self.interpreter.version

    @property
    def full_version(self) -> str | None:
        """The build's PY_VERSION (``3.11.2``) when the file holds it."""
        return None if self.interpreter is None else self.interpreter.detection.full_version

    @property
    def missing(self) -> list[str]:
        """``provider:name`` of every expected marker (or required probe) with no site."""
        return [r.probe_id for r in self.reports if r.state == MarkerState.MISSING]

    @property
    def where(self) -> MarkerFile | None:
        """The file holding the markers; None when nothing of the file could be read."""
        interpreter = self.interpreter
        if interpreter is None or not interpreter.parts:
            return None
        library = interpreter.library
        if library is not None:
            how = f"by {library.how}" if library.path is not None else "not found"
            return MarkerFile(
                "libpython",
                library.path or library.name,
                f"DT_NEEDED {library.name}, {how}",
                tuple(library.tried),
            )
        kind = "executable" if interpreter.build == BuildKind.STATIC else "libpython"
        return MarkerFile(kind, interpreter.marker_file, "the checked file")


def _version(version: str | Version | None) -> Version | None:
    if version is None or isinstance(version, tuple):
        return version
    return parse_version(version)


def check_cpython(
    path: str | os.PathLike[str],
    version: str | Version | None = None,
    *,
    require: Sequence[str] = (),
    sysroot: str = "/",
    environ: Mapping[str, str] | None = None,
) -> CPythonCheck:
    """Check that a ``--with-dtrace`` CPython build carries the markers its version should.

    ``path`` is an interpreter executable or a libpython; a shared build's
    libpython is found as ld.so would find it (``environ`` stands for the
    process environment, for ``LD_LIBRARY_PATH``; ``sysroot`` resolves
    inside another system's root).  ``version`` (``"3.13"`` or ``(3, 13)``)
    overrides the version the file says; ``require`` adds ``provider:name``
    probes that must have a site.

    Never raises for a bad input: the result's ``error`` says why the file
    could not be checked (``status`` 2), as ``usdtscan check`` prints it.
    A malformed ``version`` string raises ValueError.
    """
    path = os.fspath(path)
    python_version = _version(version)
    result = CPythonCheck(path)
    interpreter = open_interpreter(
        path,
        python_version=python_version,
        sysroot=sysroot,
        environ=None if environ is None else dict(environ),
    )
    result.interpreter = interpreter
    result.error = _why_unchecked(interpreter, python_version)
    if result.error is not None:
        return result
    _judge(result, interpreter, require)
    return result


def check_cpython_each(
    path: str | os.PathLike[str],
    version: str | Version | None = None,
    *,
    require: Sequence[str] = (),
    sysroot: str = "/",
) -> list[CPythonCheck]:
    """:func:`check_cpython` on each CPython in ``path``: the file itself, or each
    CPython executable and libpython of a package or image (a ``.deb``, an
    ``.rpm``, a tarball, an OCI layout...: :doc:`remote`), each named
    ``ARCHIVE!member`` and read where it lies, as ``check --cpython`` does.

    A package member whose name starts with ``python`` but is not CPython (a
    ``python3-config`` script) gets no result; a package without any CPython
    gives one result whose ``error`` says so.  Never raises for a bad input.
    """
    path = os.fspath(path)
    checked = _check_members(path, version, require, sysroot)
    if checked is None:
        return [check_cpython(path, version, require=require, sysroot=sysroot)]
    results = [r for r in checked if r.error is None or "not a CPython" not in r.error]
    if not results:
        return [CPythonCheck(path, error="no CPython executable or libpython in this archive")]
    return results


def _check_members(
    path: str, version: str | Version | None, require: Sequence[str], sysroot: str
) -> list[CPythonCheck] | None:
    """The checks of the CPython members of the package or image at ``path``
    (one result for a broken archive); None when ``path`` is not one."""
    from ..errors import UsdtscanError
    from ..packages import is_package, members_in_memory

    if not is_package(path):
        return None

    def interesting(member: str) -> bool:
        return os.path.basename(member).startswith(("python", "libpython"))

    try:
        with members_in_memory(path, interesting) as members:
            return [
                check_cpython(member, version, require=require, sysroot=sysroot)
                for member in members
            ]
    except UsdtscanError as exc:
        return [CPythonCheck(path, error=exc.reason)]


def _why_unchecked(interpreter: Interpreter, python_version: Version | None) -> str | None:
    if interpreter.error is not None:
        return interpreter.error
    if not interpreter.detection.is_cpython and python_version is None:
        return (
            "not a CPython executable or library (no Py_Initialize, no libpython "
            "needed); pass --python-version X.Y to check it anyway"
        )
    if interpreter.version is None:
        return "cannot tell the CPython version; pass --python-version X.Y"
    return None


def _judge(result: CPythonCheck, interpreter: Interpreter, required: Sequence[str]) -> None:
    """The reports of a build known to be CPython of a known version."""
    version = interpreter.version
    assert version is not None  # said by _why_unchecked
    if version < OLDEST_WITH_MARKERS:
        result.notes.append("CPython gained --with-dtrace in 3.6: no marker is expected")
    if version > NEWEST_KNOWN:
        result.notes.append(
            f"newer than the catalogue ({NEWEST_KNOWN[0]}.{NEWEST_KNOWN[1]}): "
            "checked against its last row"
        )
    pointer_size = (interpreter.parts[0].scanned.bits or 64) // 8
    sites = interpreter.sites()
    if not sites and not any(part.scanned.other_notes for part in interpreter.parts):
        result.notes.append(NO_DTRACE)
    result.reports = verdict.evaluate(sites, version, pointer_size)
    result.reports += verdict.require(sites, required)
