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
