"""The exit statuses of usdtscan's commands (docs/cli.rst), and of the checks' results.

A check's ``status`` is the exit status ``usdtscan check`` gives for it, so
a Python caller and the CLI agree on what passed.
"""

from __future__ import annotations

EXIT_OK = 0
# check: a marker missing or with the wrong arguments; script: the markers it needs are absent.
EXIT_FAILED = 1
# A usage error, or an input that could not be read (or checked) at all.
EXIT_TROUBLE = 2
# Ctrl-C: 128 + SIGINT, as a shell reports a process that SIGINT ended.
EXIT_INTERRUPTED = 130


def check_status(error: str | None, failed: bool) -> int:
    """The exit status of one check result (CPython markers, lint, diff): trouble when
    the input could not be read, else failed or ok; one rule so that the three agree."""
    if error is not None:
        return EXIT_TROUBLE
    return EXIT_FAILED if failed else EXIT_OK
