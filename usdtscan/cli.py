"""The ``usdtscan`` command: which command runs, and how every command ends.

Each command lives in a module of its own, named in :data:`COMMANDS` and
imported only when it runs, so ``usdtscan FILE`` loads nothing of ``check``
and ``usdtscan diff`` nothing of the listing.  What every command shares is
here once: argparse's exits (a usage error is status 2, ``--help`` 0), a
stdout closed early (``usdtscan ... | head``) and Ctrl-C (one line, status
130, never a traceback).  The statuses themselves are in
:mod:`usdtscan.exitcodes`.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence

from .exitcodes import EXIT_INTERRUPTED, EXIT_OK
from .output import discard_stdout

# The command name -> "module:function" of its run(argv) -> exit status.
COMMANDS: dict[str, str] = {
    "check": "usdtscan.checkrun:run_check",
    "diff": "usdtscan.diffrun:run_diff",
    "script": "usdtscan.scriptrun:run_script",
}
# What runs when the first argument names no command: the listing of PATHs.
DEFAULT_COMMAND = "usdtscan.listing:run_listing"


def load_command(name: str | None) -> Callable[[Sequence[str]], int]:
    """The run function of the command ``name`` (None: the listing), its module imported now."""
    module_name, _, function = COMMANDS.get(name or "", DEFAULT_COMMAND).partition(":")
    run: Callable[[Sequence[str]], int] = getattr(importlib.import_module(module_name), function)
    return run


def main(argv: Sequence[str] | None = None) -> int:
    """The command line: the command named by the first argument, else the listing."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    named = arguments[0] if arguments and arguments[0] in COMMANDS else None
    try:
        return load_command(named)(arguments[1:] if named else arguments)
    except SystemExit as exc:  # argparse: 2 after a usage error, 0 after --help or --version
        return int(exc.code or 0)
    except BrokenPipeError:  # the reader left while argparse wrote --help or usage
        discard_stdout()
        return EXIT_OK
    except KeyboardInterrupt:
        print("usdtscan: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
