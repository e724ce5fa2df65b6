"""Function names as people read them: Itanium C++ and Rust symbols, demangled.

Two libraries do the work, each imported only when a name of its scheme
first appears, so that listing a C program never pays for them:

* C++ (``_Z...``): ``cxxfilt``, a ctypes call of the C++ runtime's own
  ``abi::__cxa_demangle`` (libstdc++: the libiberty demangler that binutils'
  ``c++filt`` and GDB use).  Measured against ``c++filt`` on the corpus (the
  comparison is in docs/cli.rst), it agrees on every probe's function; the
  pure-Python and LLVM-based alternatives do not.
* Rust (legacy ``_ZN...17h<hash>E`` and v0 ``_R...``): ``pyderust``, bindings
  of ``rustc-demangle``, the Rust project's own demangler (rustc, std
  backtraces and ``rustfilt`` use it).  Names are shown as ``rustfilt``,
  ``nm -C`` and perf show them: no ``::h<hash>``, no ``[crate hash]``.

``__cxa_demangle`` abbreviates ``std::basic_string<char, ...>`` and the three
``char`` streams to ``std::string``, ``std::istream``, ``std::ostream`` and
``std::iostream``; ``c++filt`` and GDB print them in full (libiberty's
``DMGL_VERBOSE``), and so do we (:func:`_expand_std_abbreviations`).

A name that is not mangled, that fails to demangle, or whose library is
missing gives ``None``: the caller shows the symbol as it is.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Sequence

#: Legacy Rust symbols are Itanium-shaped, told apart by the hash path segment
#: (``17h`` + 16 hex digits) just before the final ``E``, perhaps followed by
#: a ``.llvm.NNN`` or similar suffix.
_RUST_LEGACY = re.compile(r"_ZN.*17h[0-9a-f]{16}E(?:\.|$)")

#: What ``__cxa_demangle`` abbreviates and ``c++filt`` spells out.
_STD_ABBREVIATIONS = {
    "std::string": "std::basic_string<char, std::char_traits<char>, std::allocator<char> >",
    "std::istream": "std::basic_istream<char, std::char_traits<char> >",
    "std::ostream": "std::basic_ostream<char, std::char_traits<char> >",
    "std::iostream": "std::basic_iostream<char, std::char_traits<char> >",
}
# Whole names only: not std::string_view, not a::std::string.
_STD_ABBREVIATION = re.compile(
    r"(?<![\w:])(?:" + "|".join(re.escape(k) for k in _STD_ABBREVIATIONS) + r")(?![\w])"
)

_cache: dict[str, str | None] = {}
_cxx: Callable[[str], str | None] | None = None
_rust: Callable[[str], str | None] | None = None


#: v0: ``_R``, an optional encoding version, then a path (crate root, impl,
#: trait impl, nested, generic args or backref): C names such as CPython's
#: ``_RAISE_SYNTAX_ERROR`` do not match.
_RUST_V0 = re.compile(r"_R[0-9]*[CMXYNIB]")


def is_mangled(symbol: str) -> bool:
    """Whether ``symbol`` looks like an Itanium C++ or Rust name (cheap: no import)."""
    return symbol.startswith("_Z") or _RUST_V0.match(symbol) is not None


def demangle(symbol: str) -> str | None:
    """The readable form of one bare C++ or Rust symbol (no ``+0x..``): as
    ``c++filt`` prints C++ and ``rustfilt`` prints Rust; ``None`` when the
    symbol is not mangled, does not demangle, or no demangler is installed."""
    if not is_mangled(symbol):
        return None
    try:
        return _cache[symbol]
    except KeyError:
        pass
    name, at, version = symbol.partition("@")
    if at:
        # A versioned name of a .symtab (libstdc++'s ``_ZNKSs4sizeEv@@GLIBCXX_3.4``):
        # the demanglers refuse the '@'; c++filt demangles the name, keeps the version.
        readable = demangle(name)
        result = None if readable is None else f"{readable}@{version}"
    elif symbol.startswith("_R") or _RUST_LEGACY.match(symbol) is not None:
        result = _rust_demangler()(symbol)
        if result is None and symbol.startswith("_Z"):
            result = _cxx_demangler()(symbol)
    else:
        result = _cxx_demangler()(symbol)
    if result == symbol:
        result = None
    _cache[symbol] = result
    return result


def demangle_function(function: str | None) -> str | None:
    """A site's function (``symbol`` or ``symbol+0xOFF``) with the symbol demangled,
    the offset kept; ``None`` when there is nothing to demangle."""
    if function is None:
        return None
    symbol, plus, offset = function.rpartition("+")
    if not plus or not offset.startswith("0x"):
        symbol, plus, offset = function, "", ""
    readable = demangle(symbol)
    if readable is None:
        return None
    return f"{readable}{plus}{offset}"


def without_parameters(name: str) -> str:
    """A demangled C++ name without its parameter list and what follows it
    (``const``, ``[clone .part.0]``), for matching ``Class::method`` globs:
    ``A::f(int) const`` gives ``A::f``; names without one are returned as they are."""
    end = len(name)
    while True:
        stripped = name[:end].rstrip()
        for suffix in (" const", " volatile", " &&", " &", "&&", "&"):
            if stripped.endswith(suffix):
                stripped = stripped[: -len(suffix)]
                break
        else:
            if stripped.endswith("]") and " [clone " in stripped:
                stripped = stripped[: stripped.rindex(" [clone ")]
            else:
                break
        end = len(stripped)
    stripped = name[:end].rstrip()
    if not stripped.endswith(")"):
        return name
    depth = 0
    for index in range(len(stripped) - 1, -1, -1):
        char = stripped[index]
        if char == ")":
            depth += 1
        elif char == "(":
            depth -= 1
            if depth == 0:
                head = stripped[:index]
                # "operator()" keeps its own parentheses.
                return head if head and not head.endswith("operator") else stripped
    return name


def function_matches(symbol: str | None, patterns: Sequence[str]) -> bool:
    """Whether a site's function (``symbol``, without offset) matches one of the
    ``--function`` globs, read as the symbol, as demangled, or as demangled
    without its parameter list (so ``A::f`` selects ``A::f(int)``)."""
    if symbol is None:
        return False
    subjects = [symbol]
    readable = demangle(symbol)
    if readable is not None:
        subjects += [readable, without_parameters(readable)]
    return any(fnmatch.fnmatchcase(s, p) for p in patterns for s in subjects)


def _expand_std_abbreviations(text: str) -> str:
    if "std::" not in text:
        return text

    def expand(match: re.Match[str]) -> str:
        full = _STD_ABBREVIATIONS[match.group(0)]
        # libiberty never prints ">>": a closing bracket after one gets a space.
        return full + " " if text.startswith(">", match.end()) else full

    return _STD_ABBREVIATION.sub(expand, text)


def _cxx_demangler() -> Callable[[str], str | None]:
    global _cxx
    if _cxx is None:
        _cxx = _load_cxx()
    return _cxx


def _rust_demangler() -> Callable[[str], str | None]:
    global _rust
    if _rust is None:
        _rust = _load_rust()
    return _rust


def _unavailable(symbol: str) -> None:
    return None


def _load_cxx() -> Callable[[str], str | None]:
    try:
        import cxxfilt
    except ImportError:
        return _unavailable
    # Errors of cxxfilt: InvalidName for a bad name, LibraryNotFound (raised on
    # use) where no C++ runtime is installed, InternalError otherwise.
    errors = (cxxfilt.Error, UnicodeError, ValueError)

    def cxx(symbol: str) -> str | None:
        try:
            text: str = cxxfilt.demangle(symbol)
        except errors:
            return None
        return _expand_std_abbreviations(text)

    return cxx


def _load_rust() -> Callable[[str], str | None]:
    try:
        import pyderust
    except ImportError:
        return _unavailable
    error = pyderust.DemangleError

    def rust(symbol: str) -> str | None:
        try:
            return pyderust.demangle(symbol)
        except (error, ValueError):
            return None

    return rust
