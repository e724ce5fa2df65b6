"""What every command writes: its output to stdout, its usage errors to stderr.

``usdtscan ... | head`` closing the pipe early is not an error of ours: the
rest of the output goes to /dev/null and the exit status is the scan's.
:func:`write_stream` is how every command writes its output, so this is
decided here once (and :func:`usdtscan.cli.main` applies the same rule to
argparse's own ``--help``).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable

from .exitcodes import EXIT_TROUBLE


class HelpFormatter(argparse.HelpFormatter):
    """argparse's help formatter, sized as argparse sizes it but without its
    ``import shutil``: argparse makes a formatter for every ``add_argument``,
    and shutil imports bz2 and lzma, about 3 ms of every command's start-up."""

    def __init__(
        self,
        prog: str,
        indent_increment: int = 2,
        max_help_position: int = 24,
        width: int | None = None,
    ) -> None:
        if width is None:
            width = terminal_columns() - 2  # as argparse does
        super().__init__(prog, indent_increment, max_help_position, width)


def terminal_columns() -> int:
    """``shutil.get_terminal_size().columns``: ``$COLUMNS``, else the terminal's, else 80."""
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns <= 0:
        stream = sys.__stdout__
        try:
            columns = 0 if stream is None else os.get_terminal_size(stream.fileno()).columns
        except (ValueError, OSError):
            columns = 0
    return columns or 80


def write_stdout(text: str) -> None:
    """Write the output and flush it."""
    write_stream((text,))


def write_stream(pieces: Iterable[str]) -> None:
    """Write pieces as they are produced (the stream's buffer batches them), then flush.
    When the reader has gone, the rest is still produced (a streamed listing scans
    its later files as it goes: their errors and the exit status must not be lost)."""
    out = sys.stdout
    remaining = iter(pieces)
    try:
        for piece in remaining:
            out.write(piece)
        out.flush()
    except BrokenPipeError:
        discard_stdout()
        for _piece in remaining:
            pass


def discard_stdout() -> None:
    """Send what is left of stdout (and its flush at exit) to /dev/null: nobody reads it."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def usage_error(parser: argparse.ArgumentParser, message: str) -> int:
    """A mistake in the arguments that argparse cannot see (an unknown finding ID):
    the usage and ``PROG: message`` on stderr, and the usage-error status."""
    parser.print_usage(sys.stderr)
    print(f"{parser.prog}: {message}", file=sys.stderr)
    return EXIT_TROUBLE
