"""The exceptions usdtscan raises.

Every failure that a caller can act on is a :class:`UsdtscanError`, so a
script can catch one type and print ``str(exc)``: the message already names
the file and what is wrong with it, in the ``PATH: reason`` form that the CLI
prints after ``usdtscan:``.  Nothing else escapes the public API; a
``struct.error`` or ``IndexError`` from a corrupt file is a bug.
"""

from __future__ import annotations


class UsdtscanError(Exception):
    """Base class: ``path`` is the input, ``reason`` says what is wrong with it."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class FileAccessError(UsdtscanError):
    """The file could not be opened or is not a regular file.

    Missing files, permission denied, directories without ``-r``, FIFOs and
    devices all land here: they say nothing about the file's contents.
    """


class NotObjectFileError(UsdtscanError):
    """The file is readable but is not an ELF (or other supported) object."""


class MalformedFileError(UsdtscanError):
    """The file claims to be an object file but its structures are broken.

    ``offset`` is the file offset of the structure that could not be read,
    when one is known, so that a bug report can point at the bytes.
    """

    def __init__(self, path: str, reason: str, offset: int | None = None) -> None:
        if offset is not None:
            reason = f"{reason} (at file offset {offset:#x})"
        super().__init__(path, reason)
        self.offset = offset


class FileChangedError(MalformedFileError):
    """The file shrank or changed while it was read (a build or an upgrade under us).

    Raised where a read comes back short; readers that skip unreadable
    optional bytes (a site's code window) let this one through.
    """
