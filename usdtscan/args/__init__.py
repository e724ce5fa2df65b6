"""Probe argument strings: the tokenizer, and (per architecture) the operand grammars.

``tokenize`` splits a note's argument string; :func:`usdtscan.args.decode.decode`
turns the arguments into locations with the grammar of the file's architecture.

Only the tokenizer is imported with the package: listing probes needs
nothing else, and importing every grammar would cost the listing a third
of its start-up.  The other names here load on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .tokenize import tokenize

if TYPE_CHECKING:
    from ..model import SymbolLookup
    from .decode import DecodedArgument, Flag, decode_argument, parse_operand
    from .location import Constant, Location, Memory, Register, Symbol, Unparsed

__all__ = [
    "Constant",
    "DecodedArgument",
    "Flag",
    "Location",
    "Memory",
    "Register",
    "Symbol",
    "SymbolLookup",
    "Unparsed",
    "decode_argument",
    "parse_operand",
    "tokenize",
]

_HOMES = {
    "SymbolLookup": "..model",
    "DecodedArgument": ".decode",
    "Flag": ".decode",
    "decode_argument": ".decode",
    "parse_operand": ".decode",
    "Constant": ".location",
    "Location": ".location",
    "Memory": ".location",
    "Register": ".location",
    "Symbol": ".location",
    "Unparsed": ".location",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(home, __name__), name)
