"""debuginfod: Debian's real ``debuginfod`` server on 127.0.0.1 over real debug files.

The server indexes a directory holding the stripped fixture's debug file
and, when the corpus is there, Debian's python3.11 and its -dbg file.  The
cache is checked against elfutils' own client (``debuginfod-find``), which
is what gdb uses: a file one of them fetched is found by the other.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from usdtscan import debuginfod, scan

from .conftest import CORPUS, FIXTURE_BIN, run_usdtscan

STRIPPED = FIXTURE_BIN / "x86_64" / "probes-O2.stripped"
DEBUG = FIXTURE_BIN / "x86_64" / "probes-O2.debug"
FIXTURE_ID = "89a009c3578ccc3ca7cf28075cb4d97423d60f30"
PYTHON = CORPUS / "amd64/python3.11-minimal/usr/bin/python3.11"
PYTHON_ID = "2dd439c6335b443668ce8099c87b26a093da08b0"
PYTHON_DEBUG = (
    CORPUS / "amd64/python3.11-dbg/usr/lib/debug/.build-id/2d" / (PYTHON_ID[2:] + ".debug")
)
UNKNOWN_ID = "00" * 19 + "01"


def run(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return run_usdtscan(*args, timeout=timeout, env=env)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Server:
    def __init__(self, url: str, process: subprocess.Popen[bytes], has_python: bool) -> None:
        self.url = url
        self.process = process
        self.has_python = has_python


def _wait_until_served(url: str, build_id: str, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/buildid/{build_id}/debuginfo", timeout=5):
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"debuginfod did not index {build_id} in time")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    if shutil.which("debuginfod") is None:
        pytest.skip("Debian's debuginfod is not installed (scripts/install-toolchains.sh)")
    root = tmp_path_factory.mktemp("debuginfod")
    served = root / "files"
    served.mkdir()
    shutil.copy(DEBUG, served / DEBUG.name)
    shutil.copy(STRIPPED, served / STRIPPED.name)
    has_python = PYTHON.is_file() and PYTHON_DEBUG.is_file()
    if has_python:
        shutil.copy(PYTHON, served / "python3.11")
        shutil.copy(PYTHON_DEBUG, served / PYTHON_DEBUG.name)
    port = free_port()
    log = open(root / "server.log", "wb")  # noqa: SIM115 (kept open for the server's life)
    process = subprocess.Popen(
        ["debuginfod", "-F", "-p", str(port), "-d", str(root / "index.sqlite"), str(served)],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_served(url, FIXTURE_ID, time.monotonic() + 60)
        if has_python:
            _wait_until_served(url, PYTHON_ID, time.monotonic() + 60)
        yield Server(url, process, has_python)
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


@pytest.fixture
def lonely_stripped(tmp_path: Path) -> Path:
    """The stripped fixture without its debug file beside it: only a server can name."""
    path = tmp_path / "bin" / STRIPPED.name
    path.parent.mkdir()
    shutil.copy(STRIPPED, path)
    return path


def env_for(server_url: str, cache: Path, **extra: str) -> dict[str, str]:
    return {"DEBUGINFOD_URLS": server_url, "DEBUGINFOD_CACHE_PATH": str(cache), **extra}


def test_function_names_and_symbol_operands_come_from_the_served_debug_file(
    server: Server, lonely_stripped: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    nothing_local = ("/nonexistent",)
    alone = scan(lonely_stripped, debug_dirs=nothing_local)
    assert not any(site.function for site in alone.sites)
    for name, value in env_for(server.url, cache).items():
        monkeypatch.setenv(name, value)
    fetched = scan(lonely_stripped, debug_dirs=nothing_local)
    beside = scan(STRIPPED)  # .gnu_debuglink finds probes-O2.debug next to it
    assert [s.function for s in fetched.sites] == [s.function for s in beside.sites]
    assert all(site.function for site in fetched.sites)
    cached = cache / FIXTURE_ID / "debuginfo"
    assert fetched.function_source == f"{cached}:.symtab"
    assert cached.stat().st_mode & 0o777 == 0o400
    assert cached.read_bytes() == DEBUG.read_bytes()
    # s_counter is a static variable: only the debug file's .symtab has it.
    assert fetched.symbols is not None and alone.symbols is not None
    assert alone.symbols.address_of("s_counter") is None
    assert fetched.symbols.address_of("s_counter") == beside.symbols.address_of("s_counter")  # type: ignore[union-attr]
    assert fetched.symbols.address_of("s_counter") is not None


def test_cli_resolves_symbol_operands_from_the_served_debug_file(
    server: Server, lonely_stripped: Path, tmp_path: Path
) -> None:
    env = env_for(server.url, tmp_path / "cache")
    result = run("--json", "--debug-dir", "/nonexistent", str(lonely_stripped), env=env)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    document = json.loads(result.stdout)
    site = next(s for s in document["files"][0]["probes"] if s["name"] == "globals")
    assert site["function"] == "p_globals+0x0"
    counter = site["args"][5]
    assert counter["raw"] == "-4@s_counter(%rip)"
    assert counter["location"]["symbol"]["address"] is not None


def test_cache_is_shared_with_elfutils_client(
    server: Server, lonely_stripped: Path, tmp_path: Path
) -> None:
    if shutil.which("debuginfod-find") is None:
        pytest.skip("debuginfod-find not installed")
    cache = tmp_path / "cache"
    env = env_for(server.url, cache)
    result = run("--debug-dir", "/nonexistent", str(lonely_stripped), env=env)
    assert result.returncode == 0, result.stderr
    # elfutils (gdb's client) finds what usdtscan fetched, with no server up.
    dead = f"http://127.0.0.1:{free_port()}"
    found = subprocess.run(
        ["debuginfod-find", "debuginfo", FIXTURE_ID],
        capture_output=True,
        text=True,
        env={**os.environ, **env_for(dead, cache)},
        timeout=30,
    )
    assert found.returncode == 0, found.stderr
    assert found.stdout.strip() == str(cache / FIXTURE_ID / "debuginfo")
    # And usdtscan uses what elfutils fetched: here the executable.
    other = tmp_path / "other-cache"
    subprocess.run(
        ["debuginfod-find", "executable", FIXTURE_ID],
        check=True,
        capture_output=True,
        env={**os.environ, **env_for(server.url, other)},
        timeout=30,
    )
    listed = run("--json", "--build-id", FIXTURE_ID, env=env_for(dead, other))
    assert listed.returncode == 0, listed.stderr
    document = json.loads(listed.stdout)
    assert document["files"][0]["path"] == str(other / FIXTURE_ID / "executable")


def test_build_id_lists_a_binary_that_is_not_on_disk(server: Server, tmp_path: Path) -> None:
    env = env_for(server.url, tmp_path / "cache")
    result = run("--json", "--build-id", FIXTURE_ID.upper(), env=env)
    assert result.returncode == 0, result.stderr
    fetched = json.loads(result.stdout)["files"][0]
    local = json.loads(run("--json", str(STRIPPED), env={}).stdout)["files"][0]
    keys = ("provider", "name", "address", "file_offset", "semaphore_address", "function")
    assert [[s[k] for k in keys] for s in fetched["probes"]] == [
        [s[k] for k in keys] for s in local["probes"]
    ]
    assert len(fetched["probes"]) == len(local["probes"]) > 10


def test_build_id_falls_back_to_the_note_section_under_maxsize(
    server: Server, tmp_path: Path
) -> None:
    """With DEBUGINFOD_MAXSIZE below the executable's and the debug file's size,
    elfutils' server refuses both (HTTP 406) but serves the section: the notes
    are listed from it, with what a section alone cannot say."""
    cache = tmp_path / "cache"
    env = env_for(server.url, cache, DEBUGINFOD_MAXSIZE="4096")
    result = run("--json", "--build-id", FIXTURE_ID, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        f"usdtscan: warning: debuginfod server {server.url}: /buildid/{FIXTURE_ID}/{artifact}: "
        "over DEBUGINFOD_MAXSIZE (4096 bytes)"
        for artifact in ("executable", "debuginfo")
    ]
    section = cache / FIXTURE_ID / "section-.note.stapsdt"
    fetched = json.loads(result.stdout)["files"][0]
    assert fetched["path"] == str(section)
    assert (fetched["machine"], fetched["bits"], fetched["endian"]) == (None, 64, "little")
    assert "addresses are the notes' own" in fetched["warnings"][0]
    local = json.loads(run("--json", str(STRIPPED), env={}).stdout)["files"][0]
    keys = ("provider", "name", "address", "semaphore_address", "args_raw", "note")
    assert [[s[k] for k in keys] for s in fetched["probes"]] == [
        [s[k] for k in keys] for s in local["probes"]
    ]
    assert all(s["file_offset"] is None and s["function"] is None for s in fetched["probes"])
    assert not (cache / FIXTURE_ID / "executable").exists()  # a refusal is not a miss
    if shutil.which("debuginfod-find"):
        dead = f"http://127.0.0.1:{free_port()}"
        found = subprocess.run(
            ["debuginfod-find", "section", FIXTURE_ID, ".note.stapsdt"],
            capture_output=True,
            text=True,
            env={**os.environ, **env_for(dead, cache)},
            timeout=30,
        )
        assert found.stdout.strip() == str(section), found.stderr


@pytest.mark.corpus
def test_debian_python_gets_its_function_names_from_the_server(
    server: Server, tmp_path: Path
) -> None:
    if not server.has_python:
        pytest.skip("corpus python3.11 and python3.11-dbg not fetched")
    env = env_for(server.url, tmp_path / "cache")
    result = run("--json", "--debug-dir", "/nonexistent", str(PYTHON), env=env)
    assert result.returncode == 0, result.stderr
    functions = {s["name"]: s["function"] for s in json.loads(result.stdout)["files"][0]["probes"]}
    assert functions["function__entry"].startswith("dtrace_function_entry.lto_priv.0+")
    assert functions["gc__start"].startswith("gc_collect_main.lto_priv.0.cold+")
    assert all(functions.values()), functions
    listed = run("--build-id", PYTHON_ID, env=env)
    assert listed.returncode == 0, listed.stderr
    assert "8 probes, 8 sites" in listed.stdout
    assert "dtrace_function_return.lto_priv.0" in listed.stdout


def test_unknown_build_id_is_one_error_and_a_negative_cache_entry(
    server: Server, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    result = run("--build-id", UNKNOWN_ID, env=env_for(server.url, cache))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"usdtscan: build ID {UNKNOWN_ID}: no executable or debug file on the "
        f"debuginfod servers ({server.url})"
    ]
    miss = cache / UNKNOWN_ID / "executable"
    assert miss.is_file() and miss.stat().st_size == 0


def test_no_debuginfo_asks_no_server(server: Server, lonely_stripped: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    result = run("--no-debuginfo", str(lonely_stripped), env=env_for(server.url, cache))
    assert result.returncode == 0
    assert not cache.exists()


class StallingServer:
    """A real TCP server on 127.0.0.1 that accepts and never answers: a hung debuginfod."""

    def __init__(self) -> None:
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(16)
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}"
        self.accepted: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.socket.accept()
            except OSError:
                return
            self.accepted.append(connection)

    def close(self) -> None:
        self.socket.close()
        for connection in self.accepted:
            connection.close()


def test_hung_server_costs_one_timeout_and_one_warning(tmp_path: Path) -> None:
    stalling = StallingServer()
    try:
        files = []
        for i in range(3):
            path = tmp_path / f"copy{i}" / STRIPPED.name
            path.parent.mkdir()
            shutil.copy(STRIPPED, path)
            files.append(str(path))
        env = env_for(stalling.url, tmp_path / "cache", DEBUGINFOD_TIMEOUT="1")
        started = time.monotonic()
        result = run("-j", "1", "--debug-dir", "/nonexistent", *files, env=env)
        elapsed = time.monotonic() - started
    finally:
        stalling.close()
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        f"usdtscan: warning: debuginfod server {stalling.url}: no answer within 1 s "
        "(DEBUGINFOD_TIMEOUT); not asked again in this run"
    ]
    assert result.stdout.count("probes-O2.stripped:") == 3
    assert elapsed < 1 + 5  # one timeout, plus start-up and the scans


def test_down_server_then_good_server(
    server: Server, lonely_stripped: Path, tmp_path: Path
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    env = env_for(f"{dead} {server.url}", tmp_path / "cache")
    result = run("--json", "--debug-dir", "/nonexistent", str(lonely_stripped), env=env)
    assert result.returncode == 0
    assert len(result.stderr.splitlines()) == 1
    assert f"debuginfod server {dead}: " in result.stderr
    assert all(s["function"] for s in json.loads(result.stdout)["files"][0]["probes"])


# -- no server needed ---------------------------------------------------------------


def test_environment_follows_elfutils(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    assert debuginfod.config_from_env({"HOME": str(home)}) is None
    assert debuginfod.config_from_env({"DEBUGINFOD_URLS": "  ", "HOME": str(home)}) is None
    config = debuginfod.config_from_env(
        {"DEBUGINFOD_URLS": "https://a.example/ http://b.example", "HOME": str(home)}
    )
    assert config is not None
    assert config.urls == ("https://a.example", "http://b.example")
    assert config.cache == str(home / ".cache" / "debuginfod_client")
    assert config.timeout == 90
    xdg = {"DEBUGINFOD_URLS": "x", "HOME": str(home), "XDG_CACHE_HOME": str(tmp_path / "xdg")}
    assert debuginfod.config_from_env(xdg).cache == str(tmp_path / "xdg" / "debuginfod_client")  # type: ignore[union-attr]
    (home / ".debuginfod_client_cache").mkdir()
    assert debuginfod.config_from_env(xdg).cache == str(home / ".debuginfod_client_cache")  # type: ignore[union-attr]
    explicit = {**xdg, "DEBUGINFOD_CACHE_PATH": "/c", "DEBUGINFOD_TIMEOUT": "7"}
    config = debuginfod.config_from_env(explicit)
    assert config is not None and config.cache == "/c" and config.timeout == 7
    assert debuginfod.cache_name("section", ".note.stapsdt") == "section-.note.stapsdt"
    with pytest.raises(debuginfod.BadBuildIdError):
        debuginfod.normalize_build_id("abc")


def test_cached_file_of_another_build_is_refused(lonely_stripped: Path, tmp_path: Path) -> None:
    """A cache entry under the right build ID but holding another build's file
    (a corrupt or tampered cache) names no function; no server is asked."""
    cache = tmp_path / "cache"
    entry = cache / FIXTURE_ID / "debuginfo"
    entry.parent.mkdir(parents=True)
    shutil.copy(FIXTURE_BIN / "x86_64" / "probes-O2", entry)
    env = env_for(f"http://127.0.0.1:{free_port()}", cache)
    result = run("--json", "--debug-dir", "/nonexistent", str(lonely_stripped), env=env)
    assert result.returncode == 0 and result.stderr == ""
    document = json.loads(result.stdout)["files"][0]
    assert document["function_source"] != f"{entry}:.symtab"
    assert not any(s["function"] for s in document["probes"])


def test_recent_miss_is_not_asked_again(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    miss = cache / UNKNOWN_ID / "debuginfo"
    miss.parent.mkdir(parents=True)
    miss.touch()
    client = debuginfod.Client(debuginfod.Config((f"http://127.0.0.1:{free_port()}",), str(cache)))
    assert client.fetch(UNKNOWN_ID, "debuginfo") is None
    assert client.warnings == []  # the dead server was never contacted
    old = time.time() - 3600
    os.utime(miss, (old, old))
    assert client.fetch(UNKNOWN_ID, "debuginfo") is None
    assert len(client.warnings) == 1


# -- a real Debian -dbg package, served from the .deb itself -------------------------

LIBC = CORPUS / "amd64/libc6/usr/lib/x86_64-linux-gnu/libc.so.6"
LIBC_ID = "a226e0f150be89099d375c6b865b1dba794648ae"
LIBC_DBG = "libc6-dbg_2.43-7_amd64.deb"  # the -dbg of the corpus's sid libc6 2.43-7
DEBS = Path(os.environ.get("USDTSCAN_DEBS", Path.home() / ".cache" / "usdtscan-debs"))


def _libc6_dbg() -> Path | None:
    deb = DEBS / LIBC_DBG
    apt_config = CORPUS / ".fetch/apt/sid/apt.conf"
    if not deb.is_file() and apt_config.is_file() and shutil.which("apt-get"):
        DEBS.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["apt-get", "download", "-q", "libc6-dbg:amd64=2.43-7"],
            cwd=DEBS,
            env={**os.environ, "APT_CONFIG": str(apt_config)},
            capture_output=True,
            timeout=300,
        )
    return deb if deb.is_file() else None


@pytest.fixture(scope="module")
def deb_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """debuginfod -U over a directory holding Debian's libc6-dbg .deb (read with bsdtar)."""
    if shutil.which("debuginfod") is None or shutil.which("bsdtar") is None:
        pytest.skip("debuginfod and bsdtar (libarchive-tools) are needed")
    if not LIBC.is_file():
        pytest.skip("corpus libc6 not fetched")
    deb = _libc6_dbg()
    if deb is None:
        pytest.skip(f"{LIBC_DBG} not available (apt-get download with the corpus's sid config)")
    root = tmp_path_factory.mktemp("debuginfod-debs")
    (root / "debs").mkdir()
    shutil.copy(deb, root / "debs" / deb.name)
    port = free_port()
    log = open(root / "server.log", "wb")  # noqa: SIM115 (kept open for the server's life)
    process = subprocess.Popen(
        ["debuginfod", "-U", "-p", str(port), "-d", str(root / "index.sqlite"), str(root / "debs")],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_served(url, LIBC_ID, time.monotonic() + 120)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


@pytest.mark.corpus
def test_stripped_glibc_gets_names_and_mp_from_its_dbg_package(
    deb_server: str, tmp_path: Path
) -> None:
    """Debian sid's libc.so.6 (77 sites): 46 sites have no function of their own
    in .dynsym; with libc6-dbg served, every site is named and ``mp_`` resolves."""
    env = env_for(deb_server, tmp_path / "cache")
    alone = json.loads(run("--json", "--no-debuginfo", str(LIBC), env={}).stdout)["files"][0]
    result = run("--json", "--debug-dir", "/nonexistent", str(LIBC), env=env)
    assert result.returncode == 0, result.stderr
    served = json.loads(result.stdout)["files"][0]
    assert len(served["probes"]) == len(alone["probes"]) == 77
    assert sum(1 for s in alone["probes"] if s["function"] is None) == 46
    assert all(s["function"] for s in served["probes"])
    assert served["function_source"] == f"{tmp_path / 'cache' / LIBC_ID / 'debuginfo'}:.symtab"
    mallopt = [s for s in served["probes"] if s["args_raw"].endswith("8@32+mp_(%rip)")]
    assert mallopt
    for site in mallopt:
        location = site["args"][1]["location"]
        assert location["symbol"]["name"] == "mp_"
        assert location["address"] == 0x1E71A0
    before = [s for s in alone["probes"] if s["args_raw"].endswith("8@32+mp_(%rip)")]
    assert all(s["args"][1]["location"]["address"] is None for s in before)
