"""usdtscan: inspect USDT static probes (SystemTap SDT notes, DTrace DOF) in ELF and Mach-O files.

``usdtscan.probes(path)`` lists the probe sites of one file;
``usdtscan.scan(path)`` returns the whole :class:`ScannedFile`, including a
partial result when the file is damaged; ``usdtscan.analyze(path)`` adds
what the CLI shows of each site (a :class:`FileReport`: decoded arguments,
consumer verdicts, site check, uprobe event).  docs/api.rst documents every
name in ``__all__``, which is exactly the public API.

The listing's start-up is as light as Python's own, so only what a listing
needs is imported here; every other public name (and every submodule, as
``usdtscan.cpython``) loads on first use.  Names that a submodule also
carries (``scan``) are bound eagerly: importing ``usdtscan.scan`` later would
otherwise replace the function with the module.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING

# The one place the version lives: pyproject.toml reads it from here
# (``[tool.setuptools.dynamic]``), and --version, the JSON and the CHANGELOG test use it.
__version__ = "0.1.0"

from .analysis import (
    ArgumentReport,
    FileReport,
    InstructionCheck,
    ProbeReport,
    SiteReport,
    SliceReport,
    UprobeEvent,
    Verdict,
    analyze,
)
from .args.location import Constant, Location, Memory, Register, Symbol, Unparsed
from .errors import (
    FileAccessError,
    FileChangedError,
    MalformedFileError,
    NotObjectFileError,
    UsdtscanError,
)
from .model import (
    Argument,
    BaseAdjustment,
    DofInfo,
    NoteValues,
    OtherNote,
    Probe,
    ScannedFile,
    Site,
    SiteKind,
    Slice,
    Stability,
    StapsdtInfo,
    group_sites,
)
from .scan import probes, scan

# Public names that load on first use: name -> the module that defines it.
_LAZY: dict[str, str] = {
    "AttachSpec": ".attach",
    "AttachTarget": ".attach",
    "attach_specs": ".attach",
    "CPythonCheck": ".cpython_check",
    "MarkerFile": ".cpython_check",
    "MarkerReport": ".cpython",
    "MarkerSite": ".cpython",
    "check_cpython": ".cpython_check",
    "Change": ".diff",
    "DiffResult": ".diff",
    "diff": ".diff",
    "Finding": ".lint",
    "LintResult": ".lint",
    "lint": ".lint",
    "DeclaredProbe": ".provider",
    "ProviderFileError": ".provider",
    "read_provider_file": ".provider",
    "demangle": ".demangle",
}

if TYPE_CHECKING:
    from .attach import AttachSpec, AttachTarget, attach_specs
    from .cpython import MarkerReport, MarkerSite
    from .cpython_check import CPythonCheck, MarkerFile, check_cpython
    from .demangle import demangle
    from .diff import Change, DiffResult, diff
    from .lint import Finding, LintResult, lint
    from .provider import DeclaredProbe, ProviderFileError, read_provider_file

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
    "demangle",
    "diff",
    "group_sites",
    "lint",
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
        if not name.startswith("_") and name in _submodules():
            return importlib.import_module(f".{name}", __name__)
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
