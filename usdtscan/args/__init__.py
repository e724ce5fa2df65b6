"""Probe argument strings: the tokenizer, and (per architecture) the operand grammars.

``tokenize`` splits a note's argument string; ``decode`` turns the
arguments into locations with the grammar of the file's architecture.
"""

from ..model import SymbolLookup
from .decode import DecodedArgument, Flag, decode, decode_argument, parse_operand
from .location import Constant, Location, Memory, Register, Symbol, Unparsed
from .tokenize import tokenize

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
    "decode",
    "decode_argument",
    "parse_operand",
    "tokenize",
]
