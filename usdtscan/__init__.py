"""usdtscan: inspect USDT static probes (SystemTap SDT notes) in ELF binaries.

``usdtscan.probes(path)`` lists the probe sites of one file;
``usdtscan.scan(path)`` returns the whole :class:`ScannedFile`, including a
partial result when the file is damaged.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .errors import FileAccessError, MalformedFileError, NotObjectFileError, UsdtscanError
from .model import (
    Argument,
    DofInfo,
    NoteValues,
    OtherNote,
    Probe,
    ScannedFile,
    Site,
    Slice,
    Stability,
    group_sites,
)
from .scan import probes, scan

__all__ = [
    "Argument",
    "DofInfo",
    "FileAccessError",
    "MalformedFileError",
    "NotObjectFileError",
    "NoteValues",
    "OtherNote",
    "Probe",
    "ScannedFile",
    "Site",
    "Slice",
    "Stability",
    "UsdtscanError",
    "__version__",
    "group_sites",
    "probes",
    "scan",
]
