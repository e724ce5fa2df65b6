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
