"""usdtscan: inspect USDT static probes (SystemTap SDT notes, DTrace DOF) in ELF and Mach-O files.

``usdtscan.probes(path)`` lists the probe sites of one file;
``usdtscan.scan(path)`` returns the whole :class:`ScannedFile`, including a
partial result when the file is damaged; ``usdtscan.analyze(path)`` adds
what the CLI shows of each site (a :class:`FileReport`: decoded arguments,
consumer verdicts, site check, uprobe event).  docs/api.rst documents every
name in ``__all__``, which is exactly the public API.

Importing the package costs nothing beyond the interpreter's own start-up:
every public name (and every submodule, as ``usdtscan.cpython``) loads on
first use, so that ``usdtscan check`` does not load the listing, nor
``usdtscan.lint`` the renderers, and no submodule's import runs back into
this file.  A public name that a submodule also carries (``scan``,
``lint``) stays the function: :class:`_Package` drops the module binding
that importing the submodule makes.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING

# The one place the version lives: pyproject.toml reads it from here
# (``[tool.setuptools.dynamic]``), and --version, the JSON and the CHANGELOG test use it.
__version__ = "0.1.0"

# Every public name loads on first use: name -> the module that defines it.
_LAZY: dict[str, str] = {
    **dict.fromkeys(
        (
            "ArgumentReport",
            "FileReport",
            "InstructionCheck",
            "ProbeReport",
            "SiteReport",
            "SliceReport",
            "attach_specs",
        ),
        ".analysis",
    ),
    **dict.fromkeys(
        ("Argument", "BaseAdjustment", "FileFormat", "SiteKind", "UprobeEvent", "Verdict"),
        ".basetypes",
    ),
    **dict.fromkeys(
        ("Constant", "Location", "Memory", "Register", "Symbol", "Unparsed"), ".args.location"
    ),
    **dict.fromkeys(
        (
            "FileAccessError",
            "FileChangedError",
            "MalformedFileError",
            "NotObjectFileError",
            "UsdtscanError",
        ),
        ".errors",
    ),
    **dict.fromkeys(
        (
            "DofInfo",
            "NoteValues",
            "OtherNote",
            "Probe",
            "ScannedFile",
            "Site",
            "Slice",
            "Stability",
            "StapsdtInfo",
            "group_sites",
        ),
        ".model",
    ),
    **dict.fromkeys(("analyze", "probes", "scan"), ".scan"),
    **dict.fromkeys(("AttachSpec", "AttachTarget"), ".attach"),
    **dict.fromkeys(
        ("CPythonCheck", "MarkerFile", "check_cpython", "check_cpython_each"), ".cpython.check"
    ),
    **dict.fromkeys(("MarkerReport", "MarkerSite"), ".cpython.verdict"),
    **dict.fromkeys(("Change", "DiffResult", "diff"), ".diff"),
    **dict.fromkeys(("Finding", "LintResult", "lint", "lint_each"), ".lint"),
    **dict.fromkeys(("DeclaredProbe", "ProviderFileError", "read_provider_file"), ".provider"),
    "demangle": ".demangle",
}

if TYPE_CHECKING:
    from .analysis import (
        ArgumentReport,
        FileReport,
        InstructionCheck,
        ProbeReport,
        SiteReport,
        SliceReport,
        attach_specs,
    )
    from .args.location import Constant, Location, Memory, Register, Symbol, Unparsed
    from .attach import AttachSpec, AttachTarget
    from .basetypes import Argument, BaseAdjustment, FileFormat, SiteKind, UprobeEvent, Verdict
    from .cpython.check import CPythonCheck, MarkerFile, check_cpython, check_cpython_each
    from .cpython.verdict import MarkerReport, MarkerSite
    from .demangle import demangle
    from .diff import Change, DiffResult, diff
    from .errors import (
        FileAccessError,
        FileChangedError,
        MalformedFileError,
        NotObjectFileError,
        UsdtscanError,
    )
    from .lint import Finding, LintResult, lint, lint_each
    from .model import (
        DofInfo,
        NoteValues,
        OtherNote,
        Probe,
        ScannedFile,
        Site,
        Slice,
        Stability,
        StapsdtInfo,
        group_sites,
    )
    from .provider import DeclaredProbe, ProviderFileError, read_provider_file
    from .scan import analyze, probes, scan

__all__ = [
    "Argument",
    "ArgumentReport",
    "AttachSpec",
    "AttachTarget",
    "BaseAdjustment",
    "CPythonCheck",
    "Change",
    "Constant",
    "DeclaredProbe",
    "DiffResult",
    "DofInfo",
    "FileAccessError",
    "FileChangedError",
    "FileFormat",
    "FileReport",
    "Finding",
    "InstructionCheck",
    "LintResult",
    "Location",
    "MalformedFileError",
    "MarkerFile",
    "MarkerReport",
    "MarkerSite",
    "Memory",
    "NotObjectFileError",
    "NoteValues",
    "OtherNote",
    "Probe",
    "ProbeReport",
    "ProviderFileError",
    "Register",
    "ScannedFile",
    "Site",
    "SiteKind",
    "SiteReport",
    "Slice",
    "SliceReport",
    "Stability",
    "StapsdtInfo",
    "Symbol",
    "Unparsed",
    "UprobeEvent",
    "UsdtscanError",
    "Verdict",
    "__version__",
    "analyze",
    "attach_specs",
    "check_cpython",
    "check_cpython_each",
    "demangle",
    "diff",
    "group_sites",
    "lint",
    "lint_each",
    "probes",
    "read_provider_file",
    "scan",
]


def _submodules() -> list[str]:
    import pkgutil

    return [info.name for info in pkgutil.iter_modules(__path__) if not info.name.startswith("_")]


def __dir__() -> list[str]:
    """The public API and the submodules: not ``annotations``, ``importlib`` or helpers."""
    return sorted({*__all__, *_submodules()})


if not TYPE_CHECKING:
    # Hidden from type checkers: a module-level __getattr__ would make them
    # accept any attribute (``usdtscan.typo``) as Any.

    def __getattr__(name: str) -> object:
        home = _LAZY.get(name)
        if home is not None:
            value = getattr(importlib.import_module(home, __name__), name)
            globals()[name] = value
            return value
        if not name.startswith("_"):
            try:
                return importlib.import_module(f".{name}", __name__)
            except ModuleNotFoundError as exc:
                if exc.name != f"{__name__}.{name}":
                    raise  # a submodule that is there but fails to import
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class _Package(types.ModuleType):
    """The package module, keeping its public names when a submodule has the same one.

    Importing ``usdtscan.lint`` binds the module as the package's ``lint``
    attribute; a public function of that name must stay what
    ``usdtscan.lint`` means, so such a binding is dropped (the module is
    still in ``sys.modules`` and ``import usdtscan.lint`` still works).
    """

    def __setattr__(self, name: str, value: object) -> None:
        if name in __all__ and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
