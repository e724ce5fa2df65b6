"""Probe argument strings: the tokenizer, and (per architecture) the operand grammars."""

from .tokenize import tokenize

__all__ = ["tokenize"]
