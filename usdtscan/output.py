"""Writing to stdout, once for every command: text or a stream of pieces.

``usdtscan ... | head`` closing the pipe early is not an error of ours: the
rest of the output goes to /dev/null and the exit status is the scan's.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable


def write_stdout(text: str) -> None:
    """Write the output and flush it."""
    write_stream((text,))


def write_stream(pieces: Iterable[str]) -> None:
    """Write pieces as they are produced (the stream's buffer batches them), then flush."""
    out = sys.stdout
    try:
        for piece in pieces:
            out.write(piece)
        out.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, out.fileno())
