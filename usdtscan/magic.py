"""What kind of object file a file is, from its first bytes alone.

Kept apart from the readers so that a tree walk, and the dispatch in
:mod:`usdtscan.scan`, can tell ELF from Mach-O without importing the
Mach-O and DOF readers for the thousands of files that are neither.
"""

from __future__ import annotations

import struct

ELF_MAGIC = b"\x7fELF"
# ar archives (static libraries), regular and thin.
AR_MAGICS = (b"!<arch>\n", b"!<thin>\n")

MH_MAGIC, MH_CIGAM = 0xFEEDFACE, 0xCEFAEDFE
MH_MAGIC_64, MH_CIGAM_64 = 0xFEEDFACF, 0xCFFAEDFE
FAT_MAGIC, FAT_MAGIC_64 = 0xCAFEBABE, 0xCAFEBABF
THIN_MAGICS = (MH_MAGIC, MH_CIGAM, MH_MAGIC_64, MH_CIGAM_64)
# A fat header's count shares its place with a Java class file's version
# (45 and up); no real fat file has anywhere near this many slices.
MAX_FAT_ARCHS = 30


def is_macho(head: bytes) -> bool:
    """Whether ``head`` (the first 8 bytes) starts a Mach-O or fat file, not a Java class."""
    if len(head) < 8:
        return False
    magic = struct.unpack_from(">I", head)[0]
    if magic in THIN_MAGICS:
        return True
    if magic in (FAT_MAGIC, FAT_MAGIC_64):
        count: int = struct.unpack_from(">I", head, 4)[0]
        return 0 < count <= MAX_FAT_ARCHS
    return False


def is_archive(head: bytes) -> bool:
    """Whether ``head`` starts an ``ar`` archive of objects (a static library),
    regular or thin.  A Debian package is an ``ar`` archive too, whose first
    member is ``debian-binary``: it is a package (usdtscan.packages), not
    this; so give at least 24 bytes to tell them apart."""
    return head[:8] in AR_MAGICS and not head[8:24].startswith(b"debian-binary")
