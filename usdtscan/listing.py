"""``usdtscan [PATH ...]``: the listing, the command that runs when no other is named.

Exit status (documented in docs/cli.rst):

* 0 -- every file was read (having no probes is not an error);
* 2 -- a usage error, or at least one file could not be read completely.
  The other files are still scanned and reported, and each failure is one
  line ``usdtscan: PATH: reason`` on stderr.
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from . import __version__
from .debuginfo import DEFAULT_DEBUG_DIRS
from .exitcodes import EXIT_OK, EXIT_TROUBLE
from .model import ScannedFile, Site
from .output import HelpFormatter, write_stdout, write_stream

if TYPE_CHECKING:
    from .analysis import FileReport, StreamedReport
    from .process import MappedFile
    from .walk import Target, WalkStats


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        formatter_class=HelpFormatter,
        prog="usdtscan",
        description="List the USDT probes (SystemTap SDT notes) of ELF files.",
        epilog="With no PATH, inspects the Python interpreter running usdtscan "
        "(its executable and the libpython it has loaded).",
    )
    parser.add_argument("paths", nargs="*", metavar="PATH", help="files to inspect")
    _add_walk_options(parser)
    _add_selection_options(parser)
    _add_output_options(parser)
    _add_source_options(parser)
    parser.add_argument("--version", action="version", version=f"usdtscan {__version__}")
    return parser


def _add_walk_options(parser: argparse.ArgumentParser) -> None:
    """Which files: directories, archives, devices, workers."""
    parser.add_argument(
        "-r", "--recursive", action="store_true", help="walk directories for ELF files"
    )
    parser.add_argument(
        "--archives",
        action="store_true",
        help="with -r, also read the packages, archives and images met (.deb, .rpm, .whl, "
        ".zip, .tar*, OCI layouts); given as PATH they are always read (docs/remote.rst)",
    )
    parser.add_argument(
        "-x",
        "--one-file-system",
        action="store_true",
        help="with -r, stay on the file system of each PATH (as find -xdev, du -x)",
    )
    parser.add_argument(
        "-j",
        "--jobs",
        type=int,
        metavar="N",
        help="scan N files at once (default: the number of cores)",
    )


def _add_selection_options(parser: argparse.ArgumentParser) -> None:
    """Which probes and sites, and how their functions are named."""
    parser.add_argument(
        "-p",
        "--probe",
        action="append",
        metavar="GLOB",
        help="only probes matching GLOB: 'provider:name' globs (python:gc*), or a name "
        "glob alone (gc*) matching any provider; repeatable",
    )
    parser.add_argument(
        "--function",
        action="append",
        metavar="GLOB",
        help="only sites in functions matching GLOB, demangled or as the symbol: "
        "'CompileBroker::*', 'jni_*', '_ZN13CompileBroker*'; repeatable",
    )
    parser.add_argument(
        "--no-demangle",
        action="store_true",
        help="show C++ and Rust function symbols as they are stored, not demangled",
    )


def _add_output_options(parser: argparse.ArgumentParser) -> None:
    """How much detail, in which format."""
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="per-probe and per-site detail"
    )
    parser.add_argument(
        "-d",
        "--disassemble",
        action="store_true",
        help="with the per-site detail, disassemble a few instructions around each site",
    )
    output = parser.add_mutually_exclusive_group()
    output.add_argument(
        "--json", action="store_const", const="json", dest="format", help="JSON (docs/json.rst)"
    )
    output.add_argument(
        "--format",
        choices=("text", "json", "readelf"),
        help="output format; 'readelf' prints the stapsdt notes as 'readelf -n' does",
    )


def _add_source_options(parser: argparse.ArgumentParser) -> None:
    """Where files and their debug information come from: debug directories,
    debuginfod, Mach-O slices, running processes, needed libraries."""
    parser.add_argument(
        "--debug-dir",
        action="append",
        metavar="DIR",
        help="where separate debug files live, for the function names of stripped files "
        "(by build ID or .gnu_debuglink, as GDB looks); default /usr/lib/debug; repeatable",
    )
    parser.add_argument(
        "--no-debuginfo",
        action="store_true",
        help="do not look for separate debug files (locally or on DEBUGINFOD_URLS "
        "servers); names come from the file alone",
    )
    parser.add_argument(
        "--build-id",
        action="append",
        metavar="HEX",
        help="also list the probes of the binary with this GNU build ID, fetched from "
        "the DEBUGINFOD_URLS servers into their shared cache (docs/remote.rst); repeatable",
    )
    parser.add_argument(
        "--arch",
        metavar="ARCH",
        help="only this slice of Mach-O files (x86_64, arm64, ...); others are all listed",
    )
    parser.add_argument(
        "--pid",
        type=_pid_argument,
        metavar="PID",
        help="the files mapped into running process PID, with runtime addresses and "
        "semaphore values (docs/scale.rst); 'all': every process with probes mapped, "
        "and which probes are being traced now (docs/remote.rst)",
    )
    parser.add_argument(
        "--json-schema",
        action="store_true",
        help="print the JSON Schema of the --json document (docs/json.rst) and exit",
    )
    parser.add_argument(
        "--deps",
        action="store_true",
        help="also list every library the file loads (its DT_NEEDED closure, resolved as "
        "ld.so would), each once; exit 2 if one would not be found",
    )
    parser.add_argument(
        "--sysroot",
        default="/",
        metavar="DIR",
        help="resolve needed libraries inside DIR, as on the system whose root DIR is",
    )


def _pid_argument(text: str) -> int | str:
    if text == "all":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a process ID or 'all'") from None


def probe_filter(
    patterns: Sequence[str] | None, functions: Sequence[str] | None = None
) -> SiteFilter:
    return SiteFilter(patterns or (), functions or ())


class SiteFilter:
    """Glob selection of probes: with a colon against ``provider:name``, else the name;
    and of functions (``--function``), see :func:`usdtscan.demangle.function_matches`.
    A site must match one probe pattern (if any) and one function pattern (if any)."""

    def __init__(self, patterns: Sequence[str], functions: Sequence[str] = ()) -> None:
        self.patterns = tuple(patterns)
        self.functions = tuple(functions)

    @property
    def active(self) -> bool:
        return bool(self.patterns or self.functions)

    def __call__(self, site: Site) -> bool:
        if self.functions:
            from .demangle import function_matches

            if not function_matches(site.function_name, self.functions):
                return False
        if not self.patterns:
            return True
        for pattern in self.patterns:
            subject = f"{site.provider}:{site.name}" if ":" in pattern else site.name
            if fnmatch.fnmatchcase(subject, pattern):
                return True
        return False


def _default_paths() -> list[str]:
    from .cpython import running_interpreter_files

    return running_interpreter_files()


def _running_interpreter_report() -> str:
    """The CPython marker report of the interpreter running usdtscan: the answer to
    "was my Python built --with-dtrace, and which markers does it have?"."""
    from .cpython import check_cpython
    from .render.checks import render_cpython_check

    result = check_cpython(sys.executable)
    if result.error is not None:
        return f"\nCPython markers: {result.error}\n"
    heading = "CPython markers of this interpreter (the CI form: usdtscan check --cpython):"
    return f"\n{heading}\n{render_cpython_check(result)}"


@dataclass(frozen=True)
class _ProcessView:
    """How ``--pid`` shows what it reads: the probes kept, where debug files are,
    the format, demangling, ``-v``."""

    keep: SiteFilter
    debug_dirs: tuple[str, ...] | None
    form: str
    demangle: bool = True
    verbose: bool = False


def _keep_sites(entry: MappedFile, keep: SiteFilter) -> None:
    """``-p``/``--function``: the mapped file's sites and their runtime facts, filtered alike."""
    kept = [i for i, site in enumerate(entry.scanned.sites) if keep(site)]
    entry.scanned.sites = [entry.scanned.sites[i] for i in kept]
    entry.runtime = [entry.runtime[i] for i in kept]


def _list_process(pid: int, view: _ProcessView) -> int:
    """``--pid``: exit 2 when the process cannot be read at all or a mapped file
    could not be read completely; a missing permission on its memory is a
    warning (addresses are still right, semaphore values unknown)."""
    from .errors import UsdtscanError
    from .process import scan_process
    from .render import process as process_render

    try:
        result = scan_process(pid, view.debug_dirs)
    except UsdtscanError as exc:
        print(f"usdtscan: {exc}", file=sys.stderr)
        return EXIT_TROUBLE
    status = EXIT_OK
    for warning in result.warnings:
        print(f"usdtscan: pid {pid}: {warning}", file=sys.stderr)
    for entry in result.files:
        if entry.scanned.error is not None:
            print(f"usdtscan: {entry.scanned.path}: {entry.scanned.error}", file=sys.stderr)
            status = EXIT_TROUBLE
        _keep_sites(entry, view.keep)
    if view.form == "json":
        write_stdout(process_render.render_json(result, view.demangle))
    else:
        write_stdout(process_render.render_text(result, view.verbose, view.demangle))
    return status


def _list_all_processes(view: _ProcessView) -> int:
    """``--pid all``: processes we may not read are counted, not errors: exit 0."""
    from .process import scan_all_processes
    from .render import process as process_render

    result = scan_all_processes(view.debug_dirs)
    for process in result.processes:
        for entry in process.scan.files:
            _keep_sites(entry, view.keep)
        process.scan.files = [entry for entry in process.scan.files if entry.scanned.sites]
    result.processes = [process for process in result.processes if process.scan.files]
    if view.form == "json":
        write_stdout(process_render.render_system_json(result, view.demangle))
    else:
        write_stdout(process_render.render_system_text(result, view.verbose, view.demangle))
    return EXIT_OK


def _warn(message: str) -> None:
    print(f"usdtscan: warning: {message}", file=sys.stderr)


def _fetch_build_id(text: str) -> tuple[str | None, str]:
    """``--build-id``: the cached file to scan, or why there is none."""
    from . import debuginfod

    try:
        build_id = debuginfod.normalize_build_id(text)
    except debuginfod.BadBuildIdError as exc:
        return None, str(exc)
    client = debuginfod.default_client()
    if client is None:
        return None, "DEBUGINFOD_URLS names no debuginfod server"
    return debuginfod.fetch_object(client, build_id)


def _stream_json(
    targets: Sequence[Target],
    keep: SiteFilter,
    debug_dirs: tuple[str, ...] | None,
    arch: str | None,
    demangle: bool = True,
    sysroot: str = "/",
    render: Callable[[Iterable[FileReport | StreamedReport]], Iterable[str]] | None = None,
) -> int:
    """``--json`` (or, with ``render``, another streamed view: the table) of named
    files, each ELF file's sites flowing from the reader through the analysis to
    stdout one at a time; other files go through the ordinary scan.
    An ELF file without probes gets its libraries' note, and a CPython executable's
    libpython follows it (usdtscan.deps), as in the text listing."""
    from .analysis import StreamedReport
    from .parallel import scan_targets
    from .scan import iter_scan

    if render is None:
        from .render.json import iter_document

        render = iter_document

    status = EXIT_OK
    arch_unused = arch is not None
    # Each library once: not again when it is named too, or needed by two files.
    listed = {os.path.realpath(target.path) for target in targets if target.error is None}

    def reports() -> Iterator[FileReport | StreamedReport]:
        nonlocal status, arch_unused
        for target in targets:
            if target.error is None and _starts_as_elf(target.path):
                scanned = ScannedFile(target.path)
                libraries: list[ScannedFile] = []
                raw = _followed(iter_scan(scanned, debug_dirs), scanned, libraries, sysroot, listed)
                yield StreamedReport(scanned, (s for s in raw if keep(s)), demangle)
                yield from (_kept(f, keep).analyze(demangle) for f in libraries)
                found = [scanned]
            else:
                found = [_kept(f, keep) for f in scan_targets([target], 1, debug_dirs, arch)]
                yield from (f.analyze(demangle) for f in found)
            for scanned in found:
                if scanned.error is not None:
                    print(f"usdtscan: {scanned.path}: {scanned.error}", file=sys.stderr)
                    status = EXIT_TROUBLE
                if arch is not None and arch_unused and scanned.format == "elf":
                    arch_unused = False  # once per run
                    _arch_warning(scanned, arch)

    write_stream(render(reports()))
    return status


def _followed(
    sites: Iterator[Site],
    scanned: ScannedFile,
    libraries: list[ScannedFile],
    sysroot: str,
    listed: set[str],
) -> Iterator[Site]:
    """The sites; once they are all read, for a file with none, the note on where
    its libraries' probes are (set before the file's tail is written) and, in
    ``libraries``, the libpython to list after it, unless ``listed`` (the real
    paths listed or to be listed) has it."""
    count = 0
    for site in sites:
        count += 1
        yield site
    if count == 0 and scanned.error is None:
        from .deps import follow

        shown, _ = follow([scanned], all_dependencies=False, sysroot=sysroot)
        for library in shown[1:]:
            real = os.path.realpath(library.path)
            if real not in listed:
                listed.add(real)
                libraries.append(library)


def _starts_as_elf(path: str) -> bool:
    """A regular file starting as ELF does (opening a FIFO would wait for a writer:
    the ordinary scan says what is wrong with any other file)."""
    import os
    import stat

    from .magic import ELF_MAGIC

    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return False
        with open(path, "rb") as stream:
            return stream.read(4) == ELF_MAGIC
    except OSError:
        return False


def _arch_warning(scanned: ScannedFile, arch: str) -> None:
    """``--arch`` picks a Mach-O slice; an ELF file has one architecture, read whole."""
    print(
        f"usdtscan: {scanned.path}: warning: --arch {arch} selects a slice of "
        f"Mach-O files only; this is an ELF file for {scanned.machine}, read whole",
        file=sys.stderr,
    )


def _kept(scanned: ScannedFile, keep: SiteFilter) -> ScannedFile:
    """Only the sites that ``-p`` and ``--function`` select."""
    if not keep.active:
        return scanned
    scanned = replace(scanned, sites=[site for site in scanned.sites if keep(site)])
    scanned.slices = [
        replace(piece, sites=[site for site in piece.sites if keep(site)])
        for piece in scanned.slices
    ]
    return scanned


def run_listing(argv: Sequence[str]) -> int:
    """``usdtscan [PATH ...]``: the listing, of files, of processes, or of the schema."""
    options = build_parser().parse_args(argv)
    if options.json_schema:
        from .render.json import schema_text

        write_stdout(schema_text())
        return EXIT_OK
    keep = probe_filter(options.probe, options.function)
    demangle = not options.no_demangle
    debug_dirs = None if options.no_debuginfo else tuple(options.debug_dir or DEFAULT_DEBUG_DIRS)
    if options.pid is not None:
        view = _ProcessView(keep, debug_dirs, options.format or "text", demangle, options.verbose)
        if options.pid == "all":
            return _list_all_processes(view)
        return _list_process(options.pid, view)
    return _list_files(options, keep, debug_dirs)


def _list_files(
    options: argparse.Namespace, keep: SiteFilter, debug_dirs: tuple[str, ...] | None
) -> int:
    """The listing of PATHs (and ``--build-id``\\s): streamed for ``--json`` of named
    files; else scanned, their libraries followed, then rendered in one piece."""
    from . import debuginfod
    from .walk import WalkStats, expand

    debuginfod.set_reporter(_warn)
    paths, status = _paths(options)
    stats = WalkStats()
    targets = list(
        expand(paths, options.recursive, stats, options.archives, options.one_file_system)
    )
    streamable = not (options.recursive or options.archives or options.deps)
    if options.format == "json" and streamable:
        demangle = not options.no_demangle
        streamed = _stream_json(targets, keep, debug_dirs, options.arch, demangle, options.sysroot)
        return max(status, streamed)
    if options.format in (None, "text") and streamable and (options.paths or options.build_id):
        from functools import partial

        from .render.text import iter_render

        table = partial(iter_render, verbose=options.verbose, disassemble=options.disassemble)
        demangle = not options.no_demangle
        streamed = _stream_json(
            targets, keep, debug_dirs, options.arch, demangle, options.sysroot, table
        )
        return max(status, streamed)
    if options.recursive:
        return max(status, _list_walk(targets, options, debug_dirs, keep, stats))
    run = _ScanRun(targets, options, debug_dirs)
    scanned_files = list(run)
    status = max(status, run.status)
    if options.deps or not all(f.sites for f in scanned_files):
        from .deps import follow

        scanned_files, missing = follow(
            scanned_files, all_dependencies=options.deps, sysroot=options.sysroot
        )
        for line in missing:
            print(f"usdtscan: {line}", file=sys.stderr)
            status = EXIT_TROUBLE
    if keep.active:
        scanned_files = [_kept(scanned, keep) for scanned in scanned_files]
    _write_listing(scanned_files, options)
    return status


def _paths(options: argparse.Namespace) -> tuple[list[str], int]:
    """The PATHs (the running interpreter's files by default) and the files that
    ``--build-id`` fetched; trouble when one could not be fetched."""
    paths = options.paths or ([] if options.build_id else _default_paths())
    status = EXIT_OK
    for build_id in options.build_id or ():
        fetched, why = _fetch_build_id(build_id)
        if fetched is None:
            print(f"usdtscan: build ID {build_id}: {why}", file=sys.stderr)
            status = EXIT_TROUBLE
        else:
            paths.append(fetched)
    return paths, status


class _ScanRun:
    """The targets scanned one at a time (by ``-j`` workers), as they come: each
    error said once on stderr (above the progress line of ``-r``), ``status``
    the worst so far.  ``-p`` is applied later, after the libraries are followed."""

    def __init__(
        self,
        targets: Sequence[Target],
        options: argparse.Namespace,
        debug_dirs: tuple[str, ...] | None,
    ) -> None:
        from . import parallel

        if options.archives:
            parallel._archives = True
        self.targets, self.options, self.debug_dirs = targets, options, debug_dirs
        self.status = EXIT_OK
        self.progress: parallel.Progress | None = None
        # A progress line only where it cannot mix with the output: stderr is a
        # terminal and stdout is not (-r streams its listing as it goes).
        wanted = options.recursive and options.format != "json" and parallel.Progress.wanted()
        if wanted and not parallel.Progress.wanted(sys.stdout):
            self.progress = parallel.Progress(len(targets))

    def __iter__(self) -> Iterator[ScannedFile]:
        from . import parallel

        options, progress = self.options, self.progress
        jobs = parallel.default_jobs() if options.jobs is None else max(1, options.jobs)
        tick = None if progress is None else progress.advance
        arch_unused = options.arch is not None
        scanned_files = parallel.scan_targets(
            self.targets, jobs, self.debug_dirs, options.arch, tick
        )
        for scanned in scanned_files:
            if scanned.error is not None:
                if progress is not None:
                    progress.clear()
                print(f"usdtscan: {scanned.path}: {scanned.error}", file=sys.stderr)
                self.status = EXIT_TROUBLE
            if arch_unused and scanned.format == "elf":
                arch_unused = False  # once per run: under -r every ELF file would repeat it
                if progress is not None:
                    progress.clear()
                _arch_warning(scanned, options.arch)
            yield scanned
        if progress is not None:
            progress.clear()


def _list_walk(
    targets: Sequence[Target],
    options: argparse.Namespace,
    debug_dirs: tuple[str, ...] | None,
    keep: SiteFilter,
    stats: WalkStats,
) -> int:
    """``-r``: each file listed as soon as it is scanned, so that memory does not grow
    with the tree (only the counts of the closing line are kept), then that line."""
    from .walk import Tally

    run = _ScanRun(targets, options, debug_dirs)
    tally = Tally()

    def counted() -> Iterator[ScannedFile]:
        for scanned in run:
            tally.add(scanned)
            yield _kept(scanned, keep) if keep.active else scanned

    _write_listing(counted(), options)
    print(tally.line(stats), file=sys.stderr)
    return run.status


def _write_listing(scanned_files: Iterable[ScannedFile], options: argparse.Namespace) -> None:
    """The table, the JSON document or the readelf form of the scanned files, written
    file by file as they come (``-r`` passes them as they are scanned)."""
    demangle = not options.no_demangle
    output_format = options.format or "text"
    if output_format == "json":
        from .render import json as renderer

        write_stream(renderer.iter_document(f.analyze(demangle) for f in scanned_files))
        return
    if output_format == "readelf":
        from .render import readelf as readelf_renderer

        write_stream(readelf_renderer.iter_render(f for f in scanned_files if f.format))
        return
    from .render import text as text_renderer

    shown = (f.analyze(demangle) for f in scanned_files if f.format is not None)
    pieces = text_renderer.iter_render(
        shown, verbose=options.verbose, disassemble=options.disassemble
    )
    if not options.paths and not options.build_id:

        def with_report(listing: Iterable[str]) -> Iterator[str]:
            yield from listing
            yield _running_interpreter_report()

        pieces = with_report(pieces)
    write_stream(pieces)
