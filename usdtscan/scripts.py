"""Ready-to-run tracing scripts for one binary, generated from its notes and the catalogue.

The CPython instrumentation guide prints its SystemTap and DTrace examples
against a ``process("python")`` that is rarely the right target: an
``--enable-shared`` build needs ``.library("…/libpython3.X.so.1.0")``, and
3.12 to 3.14 have no ``function__entry`` at all.  Generating the scripts
from what this exact file contains makes both mistakes impossible.

Any probe of any provider gets the two forms that need no knowledge of its
meaning: a bpftrace probe printing every argument by its note's size and
sign, and the kernel's ``uprobe_events`` lines.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from .args.analysis import next_pc
from .args.decode import decode_argument
from .args.location import Constant
from .attach import stap_string as _stap_string
from .cpython import MARKERS_BY_NAME, PROVIDER, MarkerSpec, Version
from .errors import UsdtscanError
from .model import Argument, Site, SymbolLookup, group_sites
from .uprobe import (
    UnsupportedFetch,
    event_name,
    fetch_argument,
    fetch_location,
    site_event_name,
)

# SystemTap's own tapset/python.stp defines python.function.entry/.return (over a
# /usr/lib*/libpython*.so* glob that matches nothing on Debian's multiarch layout,
# which makes every use of the name fail); no tapset of SystemTap 4.8 uses cpython.
DEFAULT_TAPSET_ALIAS = "cpython"

KINDS = ("tapset", "stap-calltree", "stap-top", "dtrace-calltree", "bpftrace", "uprobe-events")
CPYTHON_ONLY = ("tapset", "stap-calltree", "stap-top", "dtrace-calltree")


class ScriptUnavailableError(UsdtscanError):
    """The script asked for needs a marker this binary does not have."""


@dataclass(frozen=True, slots=True)
class ScriptTarget:
    """What a script needs to know about the binary it traces.

    ``executable`` is the program a process probe names; ``library`` the
    shared object holding the markers when they are not in the executable
    (a shared CPython build), else None.  ``version`` is None for a file
    that is not CPython: it gets only the generic forms.
    """

    executable: str
    library: str | None
    version: Version | None
    full_version: str | None
    machine: str
    sites: tuple[tuple[str, Site], ...]
    bits: int = 64
    # Each file's symbols, for operands that name one (``g_i32(%rip)``): the
    # uprobe line reads them at ``@+OFFSET``, as --json's does.
    symbols: Mapping[str, SymbolLookup | None] = field(default_factory=dict)

    @property
    def marker_file(self) -> str:
        return self.library or self.executable

    @property
    def process_clause(self) -> str:
        if self.library is None:
            return f"process({_stap_string(self.executable)})"
        return f"process({_stap_string(self.executable)}).library({_stap_string(self.library)})"

    @property
    def description(self) -> str:
        if self.version is None:
            return self.marker_file
        shown = self.full_version or f"{self.version[0]}.{self.version[1]}"
        return f"CPython {shown}, markers in {self.marker_file}"

    def has(self, name: str, provider: str = PROVIDER) -> bool:
        return any(s.provider == provider and s.name == name for _, s in self.sites)


def generate(
    kind: str,
    target: ScriptTarget,
    *,
    start_function: str = "start",
    alias: str = DEFAULT_TAPSET_ALIAS,
) -> str:
    if kind not in KINDS:
        raise ValueError(f"unknown script kind {kind!r}")
    if not target.sites:
        raise ScriptUnavailableError(target.marker_file, _no_probes(kind, target))
    if kind in CPYTHON_ONLY:
        _need_function_markers(kind, target)
    if kind == "tapset":
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", alias):
            raise ValueError(f"not a SystemTap identifier: {alias!r}")
        return _tapset(target, alias)
    if kind == "stap-calltree":
        return _stap_calltree(target)
    if kind == "stap-top":
        return _stap_top(target)
    if kind == "dtrace-calltree":
        return _dtrace_calltree(target, start_function)
    if kind == "bpftrace":
        return _bpftrace(target)
    return _uprobe_events(target)


def _no_probes(kind: str, target: ScriptTarget) -> str:
    """Why there is no script: an empty one would be rejected by the tool anyway."""
    cause = " (built without --with-dtrace?)" if target.version is not None else ""
    return f"no probes here{cause}: a '{kind}' script needs at least one"


def _need_function_markers(kind: str, target: ScriptTarget) -> None:
    if target.version is None:
        raise ScriptUnavailableError(
            target.marker_file,
            f"not recognised as CPython: '{kind}' needs its function markers "
            "(pass --python-version if it is one; bpftrace and uprobe-events work for any file)",
        )
    missing = [n for n in ("function__entry", "function__return") if not target.has(n)]
    if missing:
        shown = f"{target.version[0]}.{target.version[1]}"
        why = (
            "removed in 3.12, restored in 3.15"
            if (3, 12) <= target.version <= (3, 14)
            else "the build lacks them"
        )
        raise ScriptUnavailableError(
            target.marker_file,
            f"CPython {shown} here has no {' or '.join(missing)} marker ({why}); "
            f"'{kind}' cannot be generated",
        )


# -- SystemTap ----------------------------------------------------------------

_FRAME_VARIABLES = """    filename = user_string($arg1);
    funcname = user_string($arg2);
    lineno = $arg3;"""


def _frameptr_line(target: ScriptTarget, marker: str) -> str:
    """The guide's tapset sets ``frameptr = $arg4``, which no CPython marker has ever passed."""
    counts = {len(s.args) for _, s in target.sites if s.provider == PROVIDER and s.name == marker}
    if counts and min(counts) >= 4:
        return "    frameptr = $arg4;"
    return (
        "    /* frameptr: the CPython guide sets it from $arg4, but this marker\n"
        "       passes only filename, funcname and lineno, so there is none. */"
    )


def _aliases(target: ScriptTarget, prefix: str) -> str:
    parts = []
    for alias, marker in (
        (f"{prefix}.function.entry", "function__entry"),
        (f"{prefix}.function.return", "function__return"),
    ):
        parts.append(
            f'probe {alias} = {target.process_clause}.mark("{marker}")\n'
            f"{{\n{_FRAME_VARIABLES}\n{_frameptr_line(target, marker)}\n}}"
        )
    return "\n\n".join(parts) + "\n"


def _header(comment: str, kind: str, target: ScriptTarget, usage: str) -> str:
    lines = [f"generated by usdtscan script {kind} for {target.description}", *usage.splitlines()]
    if comment == "/*":
        # A path or glob holding "*/" would end the comment early.
        lines = [line.replace("*/", "* /") for line in lines]
        return "/*\n" + "\n".join(f" * {line}".rstrip() for line in lines) + "\n */\n"
    return "\n".join(f"{comment} {line}".rstrip() for line in lines) + "\n"


def _tapset(target: ScriptTarget, prefix: str) -> str:
    usage = (
        f"Wraps function__entry and function__return as {prefix}.function.entry/.return,\n"
        "with filename, funcname and lineno (and frameptr where the marker passes\n"
        "a frame).  Use it with stap -I DIR.  Not named python.*: SystemTap ships\n"
        "tapset/python.stp with python.function.entry over a glob of libpython files\n"
        "in /usr/lib*, and stap expands every alias of a name, so where that glob\n"
        "matches nothing (Debian's multiarch paths) any use of python.* fails."
    )
    return _header("/*", "tapset", target, usage) + "\n" + _aliases(target, prefix)


def _stap_calltree(target: ScriptTarget) -> str:
    usage = (
        "Prints the call hierarchy of Python functions.\nRun: stap calltree.stp -c 'PROGRAM ARGS'"
    )
    body = f"""
probe {target.process_clause}.mark("function__entry")
{{
{_FRAME_VARIABLES}

    printf("%s => %s in %s:%d\\n", thread_indent(1), funcname, filename, lineno);
}}

probe {target.process_clause}.mark("function__return")
{{
{_FRAME_VARIABLES}

    printf("%s <= %s in %s:%d\\n", thread_indent(-1), funcname, filename, lineno);
}}
"""
    return _header("/*", "stap-calltree", target, usage) + body


def _stap_top(target: ScriptTarget) -> str:
    usage = "Shows the 20 most called Python functions, refreshed every second.\nRun: stap top.stp"
    body = f"""
global fn_calls;

probe {target.process_clause}.mark("function__entry")
{{
{_FRAME_VARIABLES}

    fn_calls[pid(), filename, funcname, lineno] += 1;
}}

probe timer.ms(1000) {{
    printf("\\033[2J\\033[1;1H") /* clear screen */
    printf("%6s %80s %6s %30s %6s\\n",
           "PID", "FILENAME", "LINE", "FUNCTION", "CALLS")
    foreach ([pid, filename, funcname, lineno] in fn_calls- limit 20) {{
        printf("%6d %80s %6d %30s %6d\\n",
            pid, filename, lineno, funcname,
            fn_calls[pid, filename, funcname, lineno]);
    }}
    delete fn_calls;
}}
"""
    return _header("/*", "stap-top", target, usage) + body


# -- DTrace -------------------------------------------------------------------


def _dtrace_calltree(target: ScriptTarget, start_function: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", start_function):
        raise ValueError(f"not a Python function name: {start_function!r}")
    usage = (
        f"The call hierarchy below the Python function {start_function}(), with timestamps.\n"
        f"Run: dtrace -q -s call_stack.d -c '{target.executable} SCRIPT.py'"
    )
    body = f"""
self int indent;

python$target:::function-entry
/copyinstr(arg1) == "{start_function}"/
{{
        self->trace = 1;
}}

python$target:::function-entry
/self->trace/
{{
        printf("%d\\t%*s:", timestamp, 15, probename);
        printf("%*s", self->indent, "");
        printf("%s:%s:%d\\n", basename(copyinstr(arg0)), copyinstr(arg1), arg2);
        self->indent++;
}}

python$target:::function-return
/self->trace/
{{
        self->indent--;
        printf("%d\\t%*s:", timestamp, 15, probename);
        printf("%*s", self->indent, "");
        printf("%s:%s:%d\\n", basename(copyinstr(arg0)), copyinstr(arg1), arg2);
}}

python$target:::function-return
/copyinstr(arg1) == "{start_function}"/
{{
        self->trace = 0;
}}
"""
    return _header("/*", "dtrace-calltree", target, usage) + body


# -- bpftrace -----------------------------------------------------------------


def _disabled_reason(target: ScriptTarget, provider: str, name: str) -> str | None:
    """Markers that must not be enabled on this version, though present."""
    if provider == PROVIDER and name == "line" and target.version == (3, 11):
        return "enabling line crashes CPython 3.11 (CPython issue 98894)"
    return None


def _catalogued(target: ScriptTarget, provider: str, name: str) -> MarkerSpec | None:
    if target.version is None or provider != PROVIDER:
        return None
    return MARKERS_BY_NAME.get(name)


def _bpftrace_body(spec: MarkerSpec | None, sites: Sequence[Site]) -> str:
    if spec is not None and spec.args and all(len(s.args) == len(spec.args) for s in sites):
        formats, values = [], []
        for number, arg in enumerate(spec.args):
            if arg.kind == "string":
                formats.append(f"{arg.name}=%s")
                values.append(f"str(arg{number})")
            elif arg.kind == "object":
                formats.append(f"{arg.name}=0x%lx")
                values.append(f"arg{number}")
            elif arg.kind == "ssize":
                formats.append(f"{arg.name}=%ld")
                values.append(f"arg{number}")
            else:
                formats.append(f"{arg.name}=%d")
                values.append(f"arg{number}")
    else:
        formats, values = [], []
        for number, argument in enumerate(sites[0].args):
            formats.append(f"arg{number}={_bpftrace_format(argument)}")
            values.append(f"arg{number}")
    text = " ".join(["%s", *formats])
    return f'    printf("{text}\\n", {", ".join(["probe", *values])});'


def _bpftrace_format(argument: Argument) -> str:
    if argument.is_float or argument.size is None:
        return "0x%lx"
    if argument.signed:
        return "%ld" if argument.size == 8 else "%d"
    return "%lu" if argument.size == 8 else "%u"


def _bpftrace(target: ScriptTarget) -> str:
    probes = _probes_by_file(target)
    out = [_header("//", "bpftrace", target, _bpftrace_usage(target))]
    for file, provider, name, sites in probes:
        spec = _catalogued(target, provider, name)
        header = f"usdt:{file}:{provider}:{name}"
        body = _bpftrace_body(spec, sites)
        block = f"{header}\n{{\n{body}\n}}"
        reason = _disabled_reason(target, provider, name)
        if reason is not None:
            block = f"// disabled: {reason}\n" + "\n".join(
                f"// {line}" for line in block.split("\n")
            )
        out.append("\n" + block + "\n")
    return "".join(out)


def _bpftrace_usage(target: ScriptTarget) -> str:
    """How to run it, as measured with bpftrace 0.17 on Linux 6.x (tests/test_cpython_build.py).

    bpftrace attaches a USDT probe through a uprobe with the semaphore as
    its reference counter (Linux 4.20+), so the kernel sets the semaphore in
    every process that maps the file: no flag is needed for probes with
    semaphores.  ``-c CMD`` resolves the probes in the new process right
    after exec, when only the executable is mapped: fine for markers in the
    executable, "Error finding location for probe" for markers in a library.
    """
    semaphores = any(s.semaphore_address is not None for _, s in target.sites)
    lines = [f"Run: bpftrace THIS.bt   (every process that maps {target.marker_file})"]
    if target.library is None:
        lines.append(f"  or: bpftrace THIS.bt -c '{target.executable} ARGS'   or: -p PID")
    else:
        lines += [
            "  or: bpftrace THIS.bt -p PID   (a running process that has loaded it)",
            f"Not -c CMD: the markers are in {target.library}, which is not mapped yet",
            "when bpftrace resolves them right after exec ('Error finding location for probe').",
        ]
    if semaphores:
        lines.append(
            "The probes have semaphores: the kernel sets them while bpftrace is attached\n"
            "(uprobe reference counters, Linux 4.20+); no flag is needed."
        )
    return "\n".join(lines)


def _probes_by_file(target: ScriptTarget) -> list[tuple[str, str, str, list[Site]]]:
    files: dict[str, list[Site]] = {}
    for file, site in target.sites:
        files.setdefault(file, []).append(site)
    result = []
    for file, sites in files.items():
        for probe in group_sites(sites):
            result.append((file, probe.provider, probe.name, list(probe.sites)))
    return result


# -- uprobe_events ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FetchArg:
    """A kernel fetch-arg for one probe argument, or the reason there is none."""

    text: str | None
    reason: str | None = None


def kernel_fetcharg(
    machine: str,
    bits: int,
    argument: Argument,
    kind: str | None,
    site: Site,
    symbols: SymbolLookup | None = None,
) -> FetchArg:
    """How ``uprobe_events`` reads this argument; ``kind`` is the catalogue's, if known.

    The location comes from the general decoder (:mod:`usdtscan.uprobe`);
    the catalogue only changes the type: a C string is dereferenced as
    ``:string``, a ``PyObject *`` is shown in hex.
    """
    rip = "rip" in argument.operand
    decoded = decode_argument(
        argument, machine, bits, symbols=symbols, next_pc=next_pc(site, machine) if rip else None
    )
    try:
        if kind == "string":
            if isinstance(decoded.location, Constant):
                return FetchArg(None, "a constant string address cannot be fetched")
            return FetchArg(f"+0({fetch_location(decoded, machine, site)}):string")
        text = fetch_argument(decoded, machine, site, bits)
    except UnsupportedFetch as exc:
        return FetchArg(None, str(exc))
    if kind == "object":
        text = f"{text.rsplit(':', 1)[0]}:x{decoded.size * 8}"
    return FetchArg(text)


def uprobe_lines(target: ScriptTarget) -> list[str]:
    """One ``p:GROUP/EVENT PATH:0xOFFSET(0xSEMAPHORE) ARGS`` line per site, perf's naming."""
    lines: list[str] = []
    for file, provider, name, sites in _probes_by_file(target):
        spec = _catalogued(target, provider, name)
        disabled = _disabled_reason(target, provider, name)
        for number, site in enumerate(sites):
            head = f"p:{event_name(provider)}/{site_event_name(name, number)}"
            if site.file_offset is None:
                lines.append(f"# {head}: no file offset for this site (a separate debug file?)")
                continue
            where = f"{file}:{site.file_offset:#x}"
            if site.semaphore_file_offset is not None:
                where += f"({site.semaphore_file_offset:#x})"
            fetchargs, notes = [], []
            names_ok = spec is not None and len(spec.args) == len(site.args)
            for index, argument in enumerate(site.args):
                arg_name = spec.args[index].name if spec and names_ok else f"arg{index + 1}"
                kind = spec.args[index].kind if spec and names_ok else None
                symbols = target.symbols.get(file)
                fetch = kernel_fetcharg(target.machine, target.bits, argument, kind, site, symbols)
                if fetch.text is None:
                    notes.append(f"{arg_name} ({argument.raw}): {fetch.reason}")
                else:
                    fetchargs.append(f"{event_name(arg_name)}={fetch.text}")
            for note in notes:
                lines.append(f"# {head}: cannot express {note}")
            line = " ".join([head, where, *fetchargs])
            if disabled is not None:
                lines.append(f"# disabled: {disabled}")
                line = "# " + line
            lines.append(line)
    return lines


def _uprobe_events(target: ScriptTarget) -> str:
    usage = (
        "Append to the kernel's uprobe_events and enable:\n"
        "  grep -v '^#' THIS >> /sys/kernel/tracing/uprobe_events\n"
        "  echo 1 > /sys/kernel/tracing/events/GROUP/enable\n"
        "(OFFSET) after the address is the semaphore's file offset (kernel 4.20+)."
    )
    body = uprobe_lines(target)
    return _header("#", "uprobe-events", target, usage) + "\n".join(body) + "\n"
