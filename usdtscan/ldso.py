"""Find a shared library the way the GNU dynamic loader would.

An ``--enable-shared`` CPython keeps its probes in libpython, so checking
the executable means checking the library *that executable would load*,
not whichever libpython happens to be first on some path.  glibc's order
(``elf/dl-load.c``) is:

1. a name with a slash is used as it is;
2. only when the object has no DT_RUNPATH: its DT_RPATH, then the
   DT_RPATH of the object that loaded it, and so on up to the executable
   (an object with a DT_RUNPATH has its DT_RPATH ignored, so it adds
   nothing to the chain); ``$ORIGIN`` in an inherited entry is the
   directory of the object that carries it;
3. ``LD_LIBRARY_PATH``;
4. DT_RUNPATH;
5. ``/etc/ld.so.cache``;
6. the default directories.

``$ORIGIN``, ``$LIB`` and ``$PLATFORM`` are expanded in the path lists.  A
candidate of the wrong ELF class or machine is skipped, as ld.so skips it,
which is what makes a multiarch or cross-architecture tree resolve right.
``sysroot`` re-roots every absolute directory, for inspecting another
system's tree (a cross-architecture corpus, a container image).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from .elf import ElfFile, Machine
from .errors import UsdtscanError
from .fileio import opened

CACHE_FILE = "/etc/ld.so.cache"
_NEW_MAGIC = b"glibc-ld.so.cache1.1"
_OLD_MAGIC = b"ld.so-1.7.0"
_NEW_HEADER = 48  # magic+version (20), nlibs, len_strings, flags, pad, extension, unused[3]
_NEW_ENTRY = 24  # flags, key, value, osversion, hwcap (8)
_OLD_ENTRY = 12  # flags, key, value

# Debian's multiarch directories, by (e_machine, ELF class, byte order).
_MULTIARCH: dict[tuple[int, int, str], str] = {
    (Machine.X86_64, 64, "little"): "x86_64-linux-gnu",
    (Machine.I386, 32, "little"): "i386-linux-gnu",
    (Machine.AARCH64, 64, "little"): "aarch64-linux-gnu",
    (Machine.S390, 64, "big"): "s390x-linux-gnu",
    (Machine.PPC64, 64, "little"): "powerpc64le-linux-gnu",
    (Machine.PPC64, 64, "big"): "powerpc64-linux-gnu",
    (Machine.RISCV, 64, "little"): "riscv64-linux-gnu",
    (Machine.LOONGARCH, 64, "little"): "loongarch64-linux-gnu",
    (Machine.MIPS, 64, "little"): "mips64el-linux-gnuabi64",
    (Machine.MIPS, 32, "little"): "mipsel-linux-gnu",
    (Machine.MIPS, 32, "big"): "mips-linux-gnu",
}
# $PLATFORM, as ld.so expands it (AT_PLATFORM); empty for the others.
_PLATFORMS: dict[int, str] = {
    Machine.X86_64: "x86_64",
    Machine.I386: "i686",
    Machine.AARCH64: "aarch64",
}
EF_ARM_ABI_FLOAT_HARD = 0x400


@dataclass(frozen=True, slots=True)
class Target:
    """The ELF identity a library must have to be loadable by the object that needs it."""

    machine: int
    bits: int
    endian: str
    float_abi: str | None = None  # "hard"/"soft" for 32-bit ARM, where the directory differs


@dataclass(frozen=True, slots=True)
class Ancestor:
    """An object up the loading chain whose DT_RPATH a library inherits."""

    path: str
    rpath: str | None
    runpath: str | None

    @property
    def origin(self) -> str:
        return os.path.dirname(os.path.realpath(self.path))


@dataclass(slots=True)
class Resolution:
    """Where a DT_NEEDED name resolved, and every place that was tried, for the report."""

    name: str
    path: str | None = None
    how: str | None = None
    tried: list[str] = field(default_factory=list)


def read_target(path: str) -> Target | None:
    """Class, byte order and machine from the ELF header; None for a non-ELF or short file.

    ld.so skips a candidate it cannot map for any reason, so every failure
    to read one (missing, unreadable, not ELF, cut short) is "not loadable".
    """
    try:
        with opened(path) as reader:
            elf = ElfFile(path, reader)
    except UsdtscanError:
        return None
    return target_of(elf)


def target_of(elf: ElfFile) -> Target:
    """What a library must be to be loaded by ``elf``, or what ``elf`` is as a
    candidate: the one place that reads the ARM float ABI, since ld.so keeps
    hard- and soft-float libraries apart (in different directories, too)."""
    float_abi = None
    if elf.e_machine == Machine.ARM:
        float_abi = "hard" if elf.e_flags & EF_ARM_ABI_FLOAT_HARD else "soft"
    return Target(elf.e_machine, elf.bits, elf.endian, float_abi)


def accepts(wanted: Target, found: Target) -> bool:
    """Whether a candidate of target ``found`` loads where ``wanted`` is needed
    (a wanted target without a float ABI takes either)."""
    if found == wanted:
        return True
    return wanted.float_abi is None and _same_abi(found, wanted)


def multiarch_dir(target: Target) -> str | None:
    if target.machine == Machine.ARM and target.bits == 32:
        return "arm-linux-gnueabihf" if target.float_abi == "hard" else "arm-linux-gnueabi"
    return _MULTIARCH.get((target.machine, target.bits, target.endian))


def default_dirs(target: Target) -> list[str]:
    """glibc's built-in search list as Debian configures it, multiarch first."""
    dirs = []
    triplet = multiarch_dir(target)
    if triplet:
        dirs += [f"/lib/{triplet}", f"/usr/lib/{triplet}"]
    if target.bits == 64:
        dirs += ["/lib64", "/usr/lib64"]
    return [*dirs, "/lib", "/usr/lib"]


def expand_tokens(directory: str, origin: str, target: Target) -> str:
    """``$ORIGIN``/``${ORIGIN}``, ``$LIB`` and ``$PLATFORM`` as ld.so expands them."""
    lib = "lib64" if target.bits == 64 else "lib"
    platform = _PLATFORMS.get(target.machine, "")
    for token, value in (("ORIGIN", origin), ("LIB", lib), ("PLATFORM", platform)):
        directory = directory.replace("${" + token + "}", value).replace("$" + token, value)
    return directory


def split_path_list(value: str | None) -> list[str]:
    """A colon (or semicolon) separated list; an empty entry means the current directory."""
    if value is None:
        return []
    return [entry or "." for entry in value.replace(";", ":").split(":")]


def parse_cache(data: bytes) -> list[tuple[str, str]]:
    """The (soname, path) pairs of an ``ld.so.cache``, in the cache's order.

    Both layouts are read: the current one (``glibc-ld.so.cache1.1``) and the
    old one, which older glibc wrote with the new one appended after it.
    Every count and string offset is checked against the data, so a damaged
    cache yields fewer entries, never an exception or a huge allocation.
    """
    if data.startswith(_NEW_MAGIC):
        return _parse_new(data, 0)
    if data.startswith(_OLD_MAGIC):
        if len(data) < 16:
            return []
        (count,) = struct.unpack_from("<I", data, 12)
        if 16 + count * _OLD_ENTRY > len(data):
            return []
        new_start = 16 + count * _OLD_ENTRY
        new_start = (new_start + 7) & ~7
        if data.startswith(_NEW_MAGIC, new_start):
            return _parse_new(data, new_start)
        strings = 16 + count * _OLD_ENTRY
        entries = []
        for i in range(count):
            _flags, key, value = struct.unpack_from("<iII", data, 16 + i * _OLD_ENTRY)
            entries.append((_string(data, strings + key), _string(data, strings + value)))
        return [(k, v) for k, v in entries if k and v]
    return []


def _parse_new(data: bytes, start: int) -> list[tuple[str, str]]:
    if start + _NEW_HEADER > len(data):
        return []
    order = "<"
    (count,) = struct.unpack_from(order + "I", data, start + 20)
    if start + _NEW_HEADER + count * _NEW_ENTRY > len(data):
        # The cache is written in the host's byte order; try the other one once.
        order = ">"
        (count,) = struct.unpack_from(order + "I", data, start + 20)
        if start + _NEW_HEADER + count * _NEW_ENTRY > len(data):
            return []
    entries = []
    for i in range(count):
        _flags, key, value = struct.unpack_from(
            order + "iII", data, start + _NEW_HEADER + i * _NEW_ENTRY
        )
        soname, path = _string(data, start + key), _string(data, start + value)
        if soname and path:
            entries.append((soname, path))
    return entries


def _string(data: bytes, offset: int) -> str:
    if not 0 <= offset < len(data):
        return ""
    end = data.find(b"\0", offset)
    return data[offset : end if end >= 0 else len(data)].decode("utf-8", "replace")


def cache_entries(sysroot: str = "/") -> list[tuple[str, str]]:
    """The loader cache of ``sysroot``, parsed; ``ldconfig -p`` when it cannot be parsed."""
    path = os.path.join(sysroot, CACHE_FILE.lstrip("/"))
    try:
        with open(path, "rb") as file:
            data = file.read(64 << 20)
    except OSError:
        data = b""
    entries = parse_cache(data)
    if entries or sysroot != "/":
        return entries
    return _ldconfig_p()


def _ldconfig_p() -> list[tuple[str, str]]:
    """``ldconfig -p``'s listing: ``\\tNAME (FLAGS) => PATH``.  Needed only when
    the cache file cannot be read, so ``subprocess`` is imported only here."""
    import subprocess

    for program in ("ldconfig", "/sbin/ldconfig", "/usr/sbin/ldconfig"):
        try:
            result = subprocess.run(
                [program, "-p"], capture_output=True, text=True, timeout=10, check=False
            )
        except (OSError, subprocess.SubprocessError):
            continue
        entries = []
        for line in result.stdout.splitlines():
            name, arrow, path = line.strip().partition(" => ")
            if arrow:
                entries.append((name.split(" (", 1)[0], path.strip()))
        return entries
    return []


class Loader:
    """Resolves DT_NEEDED names for objects of one target, with one environment."""

    def __init__(
        self,
        target: Target,
        *,
        environ: Mapping[str, str] | None = None,
        sysroot: str = "/",
        cache: list[tuple[str, str]] | None = None,
        inspect: Callable[[str], Target | None] = read_target,
    ) -> None:
        """``inspect`` reads a candidate's target (None: not loadable); a caller that
        will read the library it accepts anyway passes its own, to open it once."""
        self.target = target
        self.inspect = inspect
        self.environ = os.environ if environ is None else environ
        self.sysroot = sysroot
        self._cache = cache

    def _rooted(self, path: str) -> str:
        if self.sysroot == "/" or not os.path.isabs(path):
            return path
        return os.path.join(self.sysroot, path.lstrip("/"))

    @property
    def cache(self) -> list[tuple[str, str]]:
        if self._cache is None:
            self._cache = cache_entries(self.sysroot)
        return self._cache

    def resolve(
        self,
        name: str,
        origin: str,
        rpath: str | None = None,
        runpath: str | None = None,
        inherited: Sequence[Ancestor] = (),
    ) -> Resolution:
        """Where ``name``, needed by an object in directory ``origin``, would be loaded from.

        ``inherited`` is the chain of objects that loaded the needing one,
        nearest first, ending with the executable: their DT_RPATHs are
        searched after the object's own, as glibc does.
        """
        result = Resolution(name)
        for how, candidate in self._candidates(name, origin, rpath, runpath, inherited):
            result.tried.append(candidate)
            if self._loadable(candidate):
                result.path, result.how = os.path.normpath(candidate), how
                return result
        return result

    def _candidates(
        self,
        name: str,
        origin: str,
        rpath: str | None,
        runpath: str | None,
        inherited: Sequence[Ancestor],
    ) -> Iterator[tuple[str, str]]:
        if "/" in name:
            yield "path", self._rooted(expand_tokens(name, origin, self.target))
            return
        if runpath is None:
            for directory in split_path_list(rpath):
                yield "DT_RPATH", self._in(directory, name, origin)
            for ancestor in inherited:
                if ancestor.runpath is not None:
                    continue  # glibc drops the DT_RPATH of an object with a DT_RUNPATH
                how = f"DT_RPATH of {os.path.basename(ancestor.path)} (inherited)"
                for directory in split_path_list(ancestor.rpath):
                    yield how, self._in(directory, name, ancestor.origin)
        for directory in split_path_list(self.environ.get("LD_LIBRARY_PATH")):
            yield "LD_LIBRARY_PATH", self._in(directory, name, origin)
        for directory in split_path_list(runpath):
            yield "DT_RUNPATH", self._in(directory, name, origin)
        for soname, path in self.cache:
            if soname == name:
                yield "ld.so.cache", self._rooted(path)
        for directory in default_dirs(self.target):
            yield "default path", self._rooted(os.path.join(directory, name))

    def _in(self, directory: str, name: str, origin: str) -> str:
        # $ORIGIN is already a real path of the inspected tree: never re-root it.
        expanded = expand_tokens(directory, origin, self.target)
        if "ORIGIN" in directory:
            return os.path.join(expanded, name)
        return self._rooted(os.path.join(expanded, name))

    def _loadable(self, path: str) -> bool:
        if not os.path.isfile(path):
            return False
        found = self.inspect(path)
        return found is not None and accepts(self.target, found)


def _same_abi(a: Target, b: Target) -> bool:
    return (a.machine, a.bits, a.endian) == (b.machine, b.bits, b.endian)
