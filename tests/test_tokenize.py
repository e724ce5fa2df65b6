"""Argument-string tokenization: boundaries and the size/sign/float prefix."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from usdtscan import Argument, scan
from usdtscan.args.tokenize import split_arguments, tokenize

from .conftest import corpus_binaries, fixture_binaries


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # AArch64 memory operands hold a space inside brackets (python3.11 arm64 gc__start).
        ("-4@[sp, 36]", [Argument("-4@[sp, 36]", 4, True, False, "[sp, 36]")]),
        # i386 PIC globals carry a second '@'.
        ("-4@g@GOTOFF(%ebx)", [Argument("-4@g@GOTOFF(%ebx)", 4, True, False, "g@GOTOFF(%ebx)")]),
        (
            "8f@%xmm0 -8f@8(%rsp)",
            [
                Argument("8f@%xmm0", 8, False, True, "%xmm0"),
                Argument("-8f@8(%rsp)", 8, True, True, "8(%rsp)"),
            ],
        ),
        # Sizeless (hand-written or pre-v3 notes).
        (
            "%eax 4(%rsi)",
            [
                Argument("%eax", None, None, False, "%eax"),
                Argument("4(%rsi)", None, None, False, "4(%rsi)"),
            ],
        ),
        (
            "-4@[r0, r4, lsl #2] 4@#42",
            [
                Argument("-4@[r0, r4, lsl #2]", 4, True, False, "[r0, r4, lsl #2]"),
                Argument("4@#42", 4, False, False, "#42"),
            ],
        ),
        (
            "8@$r23,-80 -4@$r4",
            [
                Argument("8@$r23,-80", 8, False, False, "$r23,-80"),
                Argument("-4@$r4", 4, True, False, "$r4"),
            ],
        ),
        (
            "8@9,8 -4@i42",
            [
                Argument("8@9,8", 8, False, False, "9,8"),
                Argument("-4@i42", 4, True, False, "i42"),
            ],
        ),
        ("16@%xmm1", [Argument("16@%xmm1", 16, False, False, "%xmm1")]),
    ],
)
def test_tokenize(text: str, expected: list[Argument]) -> None:
    assert list(tokenize(text)) == expected


@pytest.mark.parametrize("text", ["", "   ", ":", ":4@%eax"])
def test_no_arguments(text: str) -> None:
    assert tokenize(text) == ()


def test_unclosed_bracket_is_split_plainly() -> None:
    assert split_arguments("-4@[sp, 36 8@%rax") == ["-4@[sp,", "36", "8@%rax"]


def test_spaces_between_arguments_may_repeat() -> None:
    assert split_arguments("  8@%rdi   8@%rsi ") == ["8@%rdi", "8@%rsi"]


# sys/sdt.h writes every argument as "[-]N[f]@" after a space: an independent count.
_PREFIX = re.compile(r"(?:^| )-?\d+f?@")


def _notes(paths: list[Path]) -> list[str]:
    return [site.args_raw for path in paths for site in scan(path).sites]


def test_every_real_argument_string_splits_at_prefixes() -> None:
    strings = _notes(fixture_binaries()) + _notes(corpus_binaries()[:80])
    if not strings:
        pytest.skip("neither fixtures nor corpus present")
    for text in strings:
        tokens = split_arguments(text)
        assert len(tokens) == len(_PREFIX.findall(text)), text
        assert " ".join(tokens) == text.strip(), text
        for argument in tokenize(text):
            assert argument.size in (1, 2, 4, 8), text
