"""Split a stapsdt argument string into one :class:`Argument` per argument.

``sys/sdt.h`` joins the arguments with single spaces, and each is
``[-]SIZE[f]@OPERAND`` where the operand is whatever the compiler printed for
an ``"nor"`` asm constraint.  Operands may themselves hold spaces
(AArch64 ``[sp, 36]``, ARM ``[r0, r4, lsl #2]``) and further ``@`` signs
(i386 ``g@GOTOFF(%ebx)``), so the split is on spaces outside brackets and
parentheses, and only the first ``N@`` is a size prefix.  Old notes (and
hand-written assembler) may omit the prefix: ``%eax 4(%rsi)``.
"""

from __future__ import annotations

import re

from ..basetypes import Argument

_SIZE_PREFIX = re.compile(r"(-?)(\d+)(f?)@(.*)", re.DOTALL)
_OPEN = {"[": "]", "(": ")"}
_SPACE_INSIDE_BRACKETS = re.compile(r"[\[(][^\])]*\s")
_CLOSE = {"]", ")"}


def split_arguments(text: str) -> list[str]:
    """The argument tokens of ``text``; empty for "no arguments" (empty or ``:``-led)."""
    text = text.strip()
    if not text or text.startswith(":"):
        return []
    if _SPACE_INSIDE_BRACKETS.search(text) is None:
        return text.split()  # the common case, and ten times faster than the walk below
    tokens: list[str] = []
    depth = 0
    start = 0
    for i, char in enumerate(text):
        if char in _OPEN:
            depth += 1
        elif char in _CLOSE and depth:
            depth -= 1
        elif char.isspace() and depth == 0:
            if i > start:
                tokens.append(text[start:i])
            start = i + 1
    if depth:
        # An unclosed bracket would swallow the rest; junk is split plainly instead.
        return text.split()
    if start < len(text):
        tokens.append(text[start:])
    return tokens


def parse_argument(token: str) -> Argument:
    """Read the size, sign and float prefix of one token."""
    match = _SIZE_PREFIX.fullmatch(token)
    if match is None:
        return Argument(raw=token, size=None, signed=None, is_float=False, operand=token)
    minus, digits, float_flag, operand = match.groups()
    return Argument(
        raw=token,
        size=int(digits),
        signed=bool(minus),
        is_float=bool(float_flag),
        operand=operand,
    )


def tokenize(text: str) -> tuple[Argument, ...]:
    return tuple(parse_argument(token) for token in split_arguments(text))
