"""A debuginfod client that behaves like elfutils' ``libdebuginfod``.

gdb, perf, bpftrace and systemtap get the debug files of stripped
distribution binaries from debuginfod servers by build ID; usdtscan does the
same, with the same environment and the same cache, so a file gdb has
fetched is not fetched again and the other way round:

* ``DEBUGINFOD_URLS``: the servers, separated by spaces; unset or empty
  turns the client off;
* ``DEBUGINFOD_CACHE_PATH``: the cache; otherwise ``~/.debuginfod_client_cache``
  if it exists (elfutils' old default), else ``$XDG_CACHE_HOME/debuginfod_client``,
  else ``~/.cache/debuginfod_client``;
* ``DEBUGINFOD_TIMEOUT`` (default 90 s): a server that has not sent the first
  100 KiB of an answer within this many seconds is given up on;
  ``DEBUGINFOD_MAXTIME`` bounds a whole transfer and ``DEBUGINFOD_MAXSIZE``
  its size (both unset by default, as in elfutils); the size is sent as
  ``X-DEBUGINFOD-MAXSIZE``, so that the server refuses (HTTP 406) rather than
  sends a file too large.

Cache layout, as elfutils writes it: ``CACHE/BUILDID/debuginfo``,
``CACHE/BUILDID/executable`` and ``CACHE/BUILDID/section-NAME`` (each ``/``
in NAME escaped); an empty ``debuginfo`` or ``executable`` file records that
no server had it, and is trusted for ``cache_miss_s`` seconds (a file in the
cache, default 600).  Files are written to a temporary name in the build
ID's directory and renamed into place, so a reader never sees half a file.

Servers are asked one after the other.  A server that fails (refused,
unreachable, too slow, an HTTP error other than 404) costs one warning and
is not asked again by this process, so a down server costs at most one
timeout per run, whatever the number of files.  The caller checks that a
fetched file's build ID is the one asked for before using it.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

DEFAULT_TIMEOUT = 90.0
DEFAULT_CACHE_MISS_S = 600
# elfutils' timeout is for the first 100 KiB of an answer, not for all of it.
PROGRESS_BYTES = 100 * 1024
CHUNK = 64 * 1024
ARTIFACTS = ("debuginfo", "executable", "section")
_BUILD_ID = re.compile(r"[0-9a-f]{2,128}")


class BadBuildIdError(ValueError):
    """A build ID that is not 1 to 64 bytes of lowercase-able hex."""


def normalize_build_id(text: str) -> str:
    """The build ID as the cache and the servers spell it: lowercase hex, even length."""
    build_id = text.strip().lower()
    if not _BUILD_ID.fullmatch(build_id) or len(build_id) % 2:
        raise BadBuildIdError(f"{text!r} is not a build ID (2 to 128 hex digits, even)")
    return build_id


@dataclass(frozen=True, slots=True)
class Config:
    """What the environment says, read once per client."""

    urls: tuple[str, ...]
    cache: str
    timeout: float = DEFAULT_TIMEOUT
    maxtime: float | None = None
    maxsize: int | None = None


def _number(environ: Mapping[str, str], name: str) -> float | None:
    text = environ.get(name, "").strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value > 0 else None


def default_cache(environ: Mapping[str, str]) -> str:
    """The cache directory, chosen exactly as elfutils chooses it."""
    explicit = environ.get("DEBUGINFOD_CACHE_PATH", "")
    if explicit:
        return explicit
    home = environ.get("HOME") or os.path.expanduser("~")
    legacy = os.path.join(home, ".debuginfod_client_cache")
    if os.path.isdir(legacy):
        return legacy
    xdg = environ.get("XDG_CACHE_HOME", "")
    return os.path.join(xdg or os.path.join(home, ".cache"), "debuginfod_client")


def config_from_env(environ: Mapping[str, str] | None = None) -> Config | None:
    """The client configuration, or None when ``DEBUGINFOD_URLS`` names no server."""
    environ = os.environ if environ is None else environ
    urls = tuple(url.rstrip("/") for url in environ.get("DEBUGINFOD_URLS", "").split() if url)
    if not urls:
        return None
    maxsize = _number(environ, "DEBUGINFOD_MAXSIZE")
    return Config(
        urls=urls,
        cache=default_cache(environ),
        timeout=_number(environ, "DEBUGINFOD_TIMEOUT") or DEFAULT_TIMEOUT,
        maxtime=_number(environ, "DEBUGINFOD_MAXTIME"),
        maxsize=None if maxsize is None else int(maxsize),
    )


def cache_name(artifact: str, section: str | None = None) -> str:
    """The file name of an artifact inside ``CACHE/BUILDID/``."""
    if artifact == "section":
        if not section:
            raise ValueError("a section artifact needs a section name")
        return "section-" + section.replace("/", "#")
    if artifact not in ARTIFACTS:
        raise ValueError(f"unknown debuginfod artifact {artifact!r}")
    return artifact


def url_path(build_id: str, artifact: str, section: str | None = None) -> str:
    if artifact == "section":
        from urllib.parse import quote

        return f"/buildid/{build_id}/section/{quote(section or '', safe='')}"
    return f"/buildid/{build_id}/{artifact}"


class _ServerFailedError(Exception):
    """The server did not answer usably: skip it from now on."""


class _TooBigError(Exception):
    """The answer is larger than ``DEBUGINFOD_MAXSIZE``: not a server fault."""


@dataclass(slots=True)
class Client:
    """Fetches by build ID into the shared cache; ``warnings`` keeps what went wrong.

    ``report`` is called once per failed server with a one-line message (the
    CLI prints it on stderr); by default the messages are only kept.
    """

    config: Config
    report: Callable[[str], None] | None = None
    warnings: list[str] = field(default_factory=list)
    failed: set[str] = field(default_factory=set)

    def cached(self, build_id: str, artifact: str, section: str | None = None) -> str | None:
        """The cached file, if present and not a record of a miss."""
        path = os.path.join(self.config.cache, build_id, cache_name(artifact, section))
        try:
            info = os.stat(path)
        except OSError:
            return None
        return path if stat.S_ISREG(info.st_mode) and info.st_size > 0 else None

    def _recent_miss(self, path: str) -> bool:
        try:
            info = os.stat(path)
        except OSError:
            return False
        if info.st_size != 0:
            return False
        return time.time() - info.st_mtime < self._cache_miss_s()

    def _cache_miss_s(self) -> float:
        try:
            with open(os.path.join(self.config.cache, "cache_miss_s"), encoding="ascii") as f:
                return float(f.read().strip())
        except (OSError, ValueError):
            return DEFAULT_CACHE_MISS_S

    def fetch(self, build_id: str, artifact: str, section: str | None = None) -> str | None:
        """The path of the artifact in the cache, fetched if needed; None if no
        server has it or none could be reached (see :attr:`warnings`)."""
        build_id = normalize_build_id(build_id)
        found = self.cached(build_id, artifact, section)
        if found is not None:
            return found
        directory = os.path.join(self.config.cache, build_id)
        target = os.path.join(directory, cache_name(artifact, section))
        if artifact != "section" and self._recent_miss(target):
            return None
        all_said_no = True
        for url in self.config.urls:
            if url in self.failed:
                all_said_no = False
                continue
            try:
                if self._download(url + url_path(build_id, artifact, section), directory, target):
                    return target
            except _TooBigError as exc:
                asked = url_path(build_id, artifact, section)
                self._warn(f"debuginfod server {url}: {asked}: {exc}")
                all_said_no = False
            except _ServerFailedError as exc:
                self.failed.add(url)
                self._warn(f"debuginfod server {url}: {exc}; not asked again in this run")
                all_said_no = False
        if all_said_no and artifact != "section":
            self._record_miss(directory, target)
        return None

    def _warn(self, message: str) -> None:
        self.warnings.append(message)
        if self.report is not None:
            self.report(message)

    def _record_miss(self, directory: str, target: str) -> None:
        with contextlib.suppress(OSError):
            os.makedirs(directory, mode=0o700, exist_ok=True)
            with open(target, "wb"):
                pass

    def _download(self, url: str, directory: str, target: str) -> bool:
        """True once the answer is in ``target``; False for a 404."""
        import tempfile
        import urllib.error
        import urllib.request

        from . import __version__

        config = self.config
        started = time.monotonic()
        headers = {"User-Agent": f"usdtscan/{__version__}"}
        if config.maxsize is not None:
            # As elfutils' client asks: the server refuses a larger file with a 406.
            headers["X-DEBUGINFOD-MAXSIZE"] = str(config.maxsize)
        request = urllib.request.Request(url, headers=headers)
        try:
            response = urllib.request.urlopen(request, timeout=config.timeout)
        except urllib.error.HTTPError as exc:
            exc.close()
            if exc.code == 404:
                return False
            if exc.code == 406 and config.maxsize is not None:
                raise _TooBigError(f"over DEBUGINFOD_MAXSIZE ({config.maxsize} bytes)") from None
            raise _ServerFailedError(f"HTTP {exc.code} {exc.reason}") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            if isinstance(reason, TimeoutError):
                reason = f"no answer within {config.timeout:g} s (DEBUGINFOD_TIMEOUT)"
            raise _ServerFailedError(str(reason)) from None
        with response:
            length = response.headers.get("Content-Length")
            if config.maxsize is not None and length and int(length) > config.maxsize:
                raise _TooBigError(
                    f"{length} bytes, over DEBUGINFOD_MAXSIZE ({config.maxsize} bytes)"
                )
            try:
                os.makedirs(directory, mode=0o700, exist_ok=True)
                fd, partial = tempfile.mkstemp(dir=directory, prefix=".tmp.")
            except OSError as exc:
                raise _ServerFailedError(f"cannot write the cache: {exc.strerror}") from None
            try:
                with os.fdopen(fd, "wb") as out:
                    self._copy(response, out, started)
                os.chmod(partial, 0o400)
                os.replace(partial, target)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(partial)
                raise
        return True

    def _copy(self, response: object, out: object, started: float) -> None:

        config = self.config
        read = response.read  # type: ignore[attr-defined]
        write = out.write  # type: ignore[attr-defined]
        received = 0
        while True:
            try:
                chunk = read(CHUNK)
            except TimeoutError:
                raise _ServerFailedError(
                    f"stalled for {config.timeout:g} s (DEBUGINFOD_TIMEOUT)"
                ) from None
            except OSError as exc:
                raise _ServerFailedError(f"transfer failed: {exc}") from None
            if not chunk:
                return
            received += len(chunk)
            write(chunk)
            elapsed = time.monotonic() - started
            if received < PROGRESS_BYTES and elapsed > config.timeout:
                raise _ServerFailedError(
                    f"under {PROGRESS_BYTES // 1024} KiB in {config.timeout:g} s "
                    "(DEBUGINFOD_TIMEOUT)"
                )
            if config.maxtime is not None and elapsed > config.maxtime:
                raise _ServerFailedError(f"transfer over {config.maxtime:g} s (DEBUGINFOD_MAXTIME)")
            if config.maxsize is not None and received > config.maxsize:
                raise _TooBigError(f"over DEBUGINFOD_MAXSIZE ({config.maxsize} bytes)")


_clients: dict[Config, Client] = {}
_reporter: Callable[[str], None] | None = None


def set_reporter(report: Callable[[str], None] | None) -> None:
    """Where the clients of :func:`default_client` send their one-line warnings."""
    global _reporter
    _reporter = report
    for client in _clients.values():
        client.report = report


def default_client() -> Client | None:
    """The client the environment describes (one per configuration, so that a
    failed server stays failed for the whole run), or None when it names no server."""
    config = config_from_env()
    if config is None:
        return None
    client = _clients.get(config)
    if client is None:
        client = _clients[config] = Client(config, _reporter)
    return client


NOTE_SECTION = ".note.stapsdt"


def fetch_object(client: Client, build_id: str) -> tuple[str | None, str]:
    """A file to list the probes of build ``build_id`` from: the executable,
    else the debug file (it keeps the notes, the headers and the symbols, but
    not the code, so file offsets are unknown), else, as a last resort, the
    ``.note.stapsdt`` section alone (:mod:`usdtscan.notesection`: the notes'
    own addresses, no offsets, no functions); with the reason when none.

    The file's own build ID is checked: a server answering with another
    build's file is refused, as a local debug file would be.  A section has
    no build ID to check: the server picked it out of the file it holds
    under that build ID.
    """
    from . import debuginfo
    from .elf import ElfFile
    from .errors import UsdtscanError
    from .fileio import opened

    build_id = normalize_build_id(build_id)
    refused: list[str] = []
    for artifact in ("executable", "debuginfo"):
        path = client.fetch(build_id, artifact)
        if path is None:
            continue
        try:
            with opened(path) as reader:
                actual = debuginfo.build_id(ElfFile(path, reader))
        except UsdtscanError as exc:
            refused.append(f"{artifact}: {exc.reason}")
            continue
        if actual != build_id:
            refused.append(f"{artifact} has build ID {actual or 'none'}")
            continue
        return path, artifact
    if not refused:
        section = client.fetch(build_id, "section", NOTE_SECTION)
        if section is not None:
            return section, "section"
    if refused:
        return None, "the server's file does not match: " + "; ".join(refused)
    if client.warnings:
        return None, "no server could be asked (" + client.warnings[-1] + ")"
    servers = " ".join(client.config.urls)
    return None, f"no executable or debug file on the debuginfod servers ({servers})"
