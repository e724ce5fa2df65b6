"""The value types that every layer names: the model's kinds, a note's argument, and
the two results that the argument grammars and the uprobe builder hand to the analysis.

They import nothing of usdtscan, so that a reader, the argument grammars, the
analysis and the renderers can all name them without importing one another:
the flow stays one way (docs/architecture.rst).  :mod:`usdtscan.model` and
:mod:`usdtscan.analysis` re-export them under the names the API documents.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from enum import Enum

if sys.version_info >= (3, 11):
    from enum import StrEnum as StrEnum  # re-exported: the kinds of args/ use it too
else:

    class StrEnum(str, Enum):
        """Python 3.11's ``enum.StrEnum`` for 3.10: a member is its value in ``str()``,
        f-strings and JSON, so the kinds and states below print as the plain
        strings they replaced."""

        def __str__(self) -> str:
            return str.__str__(self)


class FileFormat(StrEnum):
    """The container format of a scanned file (``ScannedFile.format``)."""

    ELF = "elf"
    MACHO = "macho"


class SiteKind(StrEnum):
    """Which record describes a site: a stapsdt note, or a DOF probe or is-enabled offset."""

    STAPSDT = "stapsdt"
    DOF_PROBE = "dof-probe"
    DOF_IS_ENABLED = "dof-is-enabled"


class BaseAdjustment(StrEnum):
    """Why a stapsdt site's address is, or is not, the note's pc moved by ``.stapsdt.base``."""

    APPLIED = "applied"
    NOTE_BASE_ZERO = "note-base-zero"
    NO_BASE_SECTION = "no-stapsdt-base-section"
    UNRELOCATED = "unrelocated-object"


@dataclass(frozen=True, slots=True)
class Argument:
    """One probe argument as the note spells it: ``[-]SIZE[f]@OPERAND`` or a bare operand.

    ``size`` and ``signed`` are ``None`` for a sizeless (old-style) argument,
    whose width the consumer must assume.
    """

    raw: str
    size: int | None
    signed: bool | None
    is_float: bool
    operand: str


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether one consumer (libbpf, bcc, gdb) can read an argument; ``why`` says why
    not, or, with ``ok`` true, is a caveat."""

    ok: bool
    why: str | None = None


@dataclass(frozen=True, slots=True)
class UprobeEvent:
    """The ``uprobe_events`` line of a site, and the arguments the kernel cannot express.

    ``line`` is None when the site cannot be traced this way (``reason`` says why).
    """

    line: str | None
    unsupported: tuple[str, ...] = ()
    reason: str | None = None
