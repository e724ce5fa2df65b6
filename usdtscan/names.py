"""Provider and probe names as perf and bpftrace read them: the one place that
knows which names each accepts, asked by the attach specs and by ``check``'s
``name-rejected`` finding alike, so that the two never disagree.

Measured with the real tools (tests/test_attach.py, tests/test_lint.py):

* perf probe names the event ``sdt_PROVIDER:NAME`` and requires both halves
  to be C identifiers.  perf 6.1 reads every note of the file when it adds
  any one ``sdt_`` event, so one such name makes it fail on every probe of
  the file ("NAME is bad for event name").  A provider may start with a
  digit: ``sdt_9x`` is still an identifier.
* bpftrace's lexer takes a field of letters, digits and ``_./+-`` as it is,
  needs anything else double-quoted, and splits on ``:`` even inside quotes.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

_C_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_BPFTRACE_PLAIN = re.compile(r"[A-Za-z0-9_./+-]+\Z")
# Not even a quoted field of an attach point can hold these.
_BPFTRACE_NEVER = ':"\\\n'


def perf_accepts(text: str, group: bool) -> bool:
    """Whether perf probe takes ``text`` as the provider (``group``: it becomes
    ``sdt_PROVIDER``) or as the name of an ``sdt_`` event."""
    return _C_IDENTIFIER.match(f"sdt_{text}" if group else text) is not None


def perf_file_refusal(probes: Iterable[tuple[str, str]]) -> str | None:
    """Why perf probe can add no ``sdt_`` event of a file whose probes are the
    ``(provider, name)`` pairs of ``probes``, or None."""
    for provider, name in probes:
        if not (perf_accepts(provider, True) and perf_accepts(name, False)):
            return (
                f"{provider}:{name} is not a C identifier; perf probe reads every note of "
                "the file and fails on it, so it adds no sdt_ event of this file "
                "(the site's uprobe_events line works)"
            )
    return None


@functools.lru_cache(maxsize=256)
def bpftrace_field(text: str) -> str | None:
    """One field of a bpftrace attach point as it must be written: as it is,
    double-quoted, or None when bpftrace cannot name it at all."""
    if _BPFTRACE_PLAIN.match(text):
        return text
    if any(c in text for c in _BPFTRACE_NEVER):
        return None
    return f'"{text}"'
