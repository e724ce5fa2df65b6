"""The CPython build tier: the whole user story on interpreters built here from source.

CPython's upstream source comes from Debian's source package
(scripts/cpython-source.sh: the newest python3.13 that trixie or sid still
serves, or ``$USDTSCAN_CPYTHON_VERSIONS``).  It is built by the CI job of
docs/cpython.rst, run as written (tests/cpython_tier.py): static and
``--enable-shared``, both ``--with-dtrace``; plus a free-threaded shared
build and one configured without ``--with-dtrace``.  The builds are cached
under ``~/.cache/usdtscan-cpython``; scripts/test.sh fills the cache first
and prints the time it took.

Then, on those interpreters: the listing, ``check --cpython`` (also on the
static archive), the scripts, and the generated bpftrace script attached
live to the running interpreter, asserting the gc generations and the
module names it reports.

``USDTSCAN_CPYTHON=0`` skips the tier; so does a machine where the source
cannot be fetched (not root, no Debian archive) or built, with the reason.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from . import cpython_tier
from .cpython_tier import Build

pytestmark = pytest.mark.cpython_build

MARKERS = {
    "gc__start",
    "gc__done",
    "import__find__load__start",
    "import__find__load__done",
    "audit",
}
USDTSCAN = [sys.executable, "-m", "usdtscan"]


def _enabled() -> None:
    if os.environ.get("USDTSCAN_CPYTHON", "1") == "0":
        pytest.skip("USDTSCAN_CPYTHON=0: the CPython build tier is switched off")
    if shutil.which("dtrace") is None:
        pytest.skip("no dtrace (systemtap-sdt-dev): cannot configure --with-dtrace")


@pytest.fixture(scope="session")
def tarballs() -> dict[str, Path]:
    _enabled()
    found = cpython_tier.source_tarballs()
    if not found:
        pytest.skip(
            "no CPython source: scripts/cpython-source.sh could not fetch python3.13 from "
            "Debian's archive (needs root the first time, to add deb-src lines)"
        )
    return found


@pytest.fixture(scope="session")
def version(tarballs: dict[str, Path]) -> str:
    chosen = cpython_tier.chosen_versions(tarballs)
    if not chosen:
        pytest.skip(f"$USDTSCAN_CPYTHON_VERSIONS names none of {sorted(tarballs)}")
    return chosen[-1]


def _build(version: str, tarballs: dict[str, Path], flavor: str) -> Build:
    job = cpython_tier.ci_job()
    if flavor in cpython_tier.EXTRA_CONFIGURE:
        one_job = cpython_tier.extra_job(cpython_tier.EXTRA_CONFIGURE[flavor])
        matrix: dict[str, str] = {}
    else:
        one_job = job
        matrix = next(
            m
            for m in cpython_tier.matrix_entries(job)
            if ("--enable-shared" in " ".join(m.values())) == (flavor == "shared")
        )
    try:
        return cpython_tier.build(version, tarballs[version], matrix, one_job)
    except RuntimeError as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="session")
def static(version: str, tarballs: dict[str, Path]) -> Build:
    return _build(version, tarballs, "static")


@pytest.fixture(scope="session")
def shared(version: str, tarballs: dict[str, Path]) -> Build:
    return _build(version, tarballs, "shared")


@pytest.fixture(scope="session")
def free_threaded(version: str, tarballs: dict[str, Path]) -> Build:
    return _build(version, tarballs, "free-threaded")


@pytest.fixture(scope="session")
def no_dtrace(version: str, tarballs: dict[str, Path]) -> Build:
    return _build(version, tarballs, "no-dtrace")


def _usdtscan(
    *args: str | Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*USDTSCAN, *map(str, args)], capture_output=True, text=True, env=env, timeout=300
    )


def _library(build: Build) -> Path:
    suffix = "t" if build.free_threaded else ""
    return build.inst / "lib" / f"libpython{build.major_minor}{suffix}.so.1.0"


# -- docs/cpython.rst's CI job, as written -------------------------------------------------


@pytest.mark.parametrize("flavor", ["static", "shared"])
def test_the_documented_ci_job_passes(
    flavor: str, version: str, tarballs: dict[str, Path], tmp_path: Path
) -> None:
    build = _build(version, tarballs, flavor)
    job_steps = build.steps
    kinds = [step.kind for step in job_steps]
    assert kinds == ["checkout", "setup", "apt", "build", "build", "pip", "check", "check"]
    # The environment steps, stood in for: the packages are there, and the
    # "pip install usdtscan" step's result is this checkout on PATH.
    (apt,) = [s for s in job_steps if s.kind == "apt"]
    assert cpython_tier.missing_packages(cpython_tier.apt_packages(apt)) == []
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    launcher = bin_dir / "usdtscan"
    launcher.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m usdtscan "$@"\n')
    launcher.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    env.pop("LD_LIBRARY_PATH", None)  # the docs' job sets none: RUNPATH must do
    outputs = []
    for step in build.check_steps():
        assert step.run is not None
        done = subprocess.run(
            ["bash", "-eo", "pipefail", "-c", step.run],
            cwd=build.tree,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, f"{step.name}: {done.stdout}{done.stderr}"
        outputs.append(done.stdout)
    assert "OK: all 5 markers expected in 3.13 are present with the right arguments" in outputs[0]
    document = json.loads(outputs[1])
    assert document["ok"] is True
    found = document["files"][0]["cpython"]
    assert found["full_version"] == version
    assert found["build"] == flavor
    if flavor == "shared":
        assert found["library"]["found_by"] == "DT_RUNPATH"
        assert found["marker_file"] == str(_library(build))


# -- the listing ---------------------------------------------------------------------------


def _listed(text: str) -> dict[str, set[str]]:
    """File header -> the probe names of its table."""
    files: dict[str, set[str]] = {}
    current = ""
    for line in text.splitlines():
        if line and not line.startswith(" ") and ": " in line:
            current = line.split(": ", 1)[0]
            files[current] = set()
        elif line.startswith("  python  "):
            files[current].add(line.split()[3])
    return files


def test_listing_a_static_build(static: Build) -> None:
    done = _usdtscan(static.executable)
    assert done.returncode == 0, done.stderr
    assert _listed(done.stdout) == {str(static.executable): MARKERS}
    assert "note:" not in done.stdout


def test_listing_a_shared_build_shows_libpython(shared: Build) -> None:
    env = {k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"}
    done = _usdtscan(shared.executable, env=env)
    assert done.returncode == 0, done.stderr
    library = _library(shared)
    assert _listed(done.stdout) == {str(shared.executable): set(), str(library): MARKERS}
    assert (
        f"  note: no probes here; 5 in {library.name} (DT_NEEDED, found by DT_RUNPATH), "
        "listed below\n"
    ) in done.stdout
    assert (
        f"  loaded as {library.name}: DT_NEEDED of {shared.executable}, found by DT_RUNPATH\n"
    ) in done.stdout
    # The same in --json, which streams each named ELF file.
    done = _usdtscan("--json", shared.executable, env=env)
    files = json.loads(done.stdout)["files"]
    assert [(f["path"], len(f["probes"])) for f in files] == [
        (str(shared.executable), 0),
        (str(library), 5),
    ]
    assert files[0]["notes"] == [
        f"no probes here; 5 in {library.name} (DT_NEEDED, found by DT_RUNPATH), listed below"
    ]
    assert files[1]["loaded_as"] == {
        "name": library.name,
        "needed_by": str(shared.executable),
        "found_by": "DT_RUNPATH",
    }


def _listed_paths(stdout: str, json_view: bool) -> list[str]:
    if json_view:
        return [f["path"] for f in json.loads(stdout)["files"]]
    return [line.split(":", 1)[0] for line in stdout.splitlines() if line.startswith("/")]


@pytest.mark.parametrize("view", [(), ("--json",), ("-v",)])
def test_libpython_is_listed_once_when_named_too(shared: Build, view: tuple[str, ...]) -> None:
    """Named after the executable, or needed by it twice, the library is listed
    once: the streamed views followed each file's libraries on their own."""
    executable, library = str(shared.executable), str(_library(shared))
    cases = {
        (executable, library): [executable, library],
        (executable, executable): [executable, library, executable],
    }
    for named, expected in cases.items():
        done = _usdtscan(*view, *named)
        assert done.returncode == 0, done.stderr
        assert _listed_paths(done.stdout, "--json" in view) == expected


def test_deps_of_a_shared_build(shared: Build) -> None:
    done = _usdtscan("--deps", "--json", shared.executable)
    assert done.returncode == 0, done.stderr
    files = json.loads(done.stdout)["files"]
    loaded = {f["loaded_as"]["name"]: f for f in files if f["loaded_as"]}
    ldd = subprocess.run(["ldd", str(shared.executable)], capture_output=True, text=True).stdout
    for line in ldd.splitlines():
        name, arrow, rest = line.strip().partition(" => ")
        if arrow and not name.startswith("ld-linux"):
            where = rest.split(" (", 1)[0]
            assert os.path.realpath(loaded[name]["path"]) == os.path.realpath(where), name
    assert len(loaded[_library(shared).name]["probes"]) == 5


def test_recursive_walk_finds_the_archive(static: Build) -> None:
    done = _usdtscan("-r", "--json", static.inst / "lib")
    assert done.returncode == 0, done.stderr
    with_sites = {
        Path(f["path"]).name: {p["name"] for p in f["probes"]}
        for f in json.loads(done.stdout)["files"]
        if f["probes"]
    }
    archive = f"libpython{static.major_minor}.a"
    members = {name for name in with_sites if name.startswith(f"{archive}(")}
    assert members == {f"{archive}(gc.o)", f"{archive}(import.o)", f"{archive}(sysmodule.o)"}
    assert set().union(*(with_sites[m] for m in members)) == MARKERS


# -- check ---------------------------------------------------------------------------------


def _check(*args: str | Path) -> tuple[int, str, dict[str, str]]:
    done = _usdtscan("check", "--cpython", *args)
    states = {}
    for line in done.stdout.splitlines():
        words = line.split()
        if len(words) >= 2 and words[1].startswith("python:"):
            states[words[1]] = words[0]
    return done.returncode, done.stdout.rstrip().splitlines()[-1], states


def test_archive_gets_the_verdict_of_its_library(shared: Build, static: Build) -> None:
    # The shared tree links libpython3.13.so.1.0 from the objects it also archives.
    archive = shared.tree / f"libpython{shared.major_minor}.a"
    library = shared.tree / f"libpython{shared.major_minor}.so.1.0"
    from_archive = _check(archive)
    from_library = _check(library)
    assert from_archive == from_library
    assert from_archive[0] == 0
    assert from_archive[2]["python:gc__start"] == "present"
    installed = static.inst / "lib" / f"libpython{static.major_minor}.a"
    assert _check(installed) == from_library
    done = _usdtscan("check", "--cpython", "--json", archive)
    found = json.loads(done.stdout)["files"][0]
    assert found["cpython"]["build"] == "archive"
    site_files = {Path(s["file"]).name for m in found["markers"] for s in m["sites"]}
    assert f"libpython{shared.major_minor}.a(gc.o)" in site_files


def test_free_threaded_build_names_the_t_abi(free_threaded: Build, version: str) -> None:
    library = _library(free_threaded)
    done = _usdtscan("check", "--cpython", free_threaded.executable)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith(
        f"{free_threaded.executable}: CPython {version} free-threaded (the t ABI of "
        f"--disable-gil), shared build: markers in {library}\n"
    )
    document = json.loads(
        _usdtscan("check", "--cpython", "--json", free_threaded.executable).stdout
    )
    assert document["files"][0]["cpython"]["free_threaded"] is True


def test_build_without_dtrace(no_dtrace: Build) -> None:
    status, last, states = _check(no_dtrace.executable)
    assert status == 1
    assert set(states.values()) == {"missing", "absent-as-expected"}
    assert last.endswith("(no .note.stapsdt notes at all: built without --with-dtrace?)")
    done = _usdtscan("check", "--cpython", no_dtrace.executable)
    assert "caveat:" not in done.stdout
    assert "  note: no .note.stapsdt notes at all: built without --with-dtrace?\n" in done.stdout
    done = _usdtscan("script", "bpftrace", no_dtrace.executable)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == (
        f"usdtscan: {no_dtrace.executable}: no probes here (built without --with-dtrace?): "
        "a 'bpftrace' script needs at least one\n"
    )


# -- scripts -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["tapset", "stap-calltree", "stap-top", "dtrace-calltree"])
def test_function_marker_scripts_are_refused_on_313(kind: str, static: Build) -> None:
    done = _usdtscan("script", kind, static.executable)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.count("\n") == 1
    assert "has no function__entry or function__return marker" in done.stderr


def test_uprobe_events_lines(shared: Build) -> None:
    done = _usdtscan("script", "uprobe-events", shared.executable)
    assert done.returncode == 0, done.stderr
    events = [line for line in done.stdout.splitlines() if line.startswith("p:")]
    assert {line.split()[0].split("/")[1] for line in events} == MARKERS
    assert all(line.split()[1].startswith(f"{_library(shared).resolve()}:0x") for line in events)


def _script(build: Build, tmp_path: Path) -> Path:
    done = _usdtscan("script", "bpftrace", build.executable)
    assert done.returncode == 0, done.stderr
    path = tmp_path / f"{build.flavor}.bt"
    path.write_text(done.stdout)
    return path


def test_bpftrace_header_says_what_works(static: Build, shared: Build, tmp_path: Path) -> None:
    static_header = _script(static, tmp_path).read_text()
    assert f"//   or: bpftrace THIS.bt -c '{static.executable.resolve()} ARGS'" in static_header
    shared_header = _script(shared, tmp_path).read_text()
    assert "-c CMD" in shared_header and "Error finding location for probe" in shared_header
    assert "-p PID" in shared_header


# -- the generated bpftrace script, live ---------------------------------------------------

# A workload served over stdin, so that the test can wait until the probes
# really fire ("Attaching N probes..." is printed before the uprobes are in
# place, and under load that can take seconds): "ping" collects generation 0,
# "go" imports and collects each generation, then the interpreter exits.
WORKLOAD = """
import gc, sys
for line in sys.stdin:
    if line.strip() == "go":
        import json, colorsys
        gc.collect(0); gc.collect(1); gc.collect(2)
        break
    gc.collect(0)
    print("pong", flush=True)
"""


def _bpftrace_ready() -> None:
    if shutil.which("bpftrace") is None:
        pytest.skip("bpftrace not installed")
    if os.geteuid() != 0:
        pytest.skip("attaching BPF programs needs root")


class Tracer:
    """bpftrace running a script, its output collected by a thread, stopped by pid."""

    def __init__(self, argv: list[str]) -> None:
        self.process = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + 120
        while not any("Attaching" in line for line in self.lines):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.process.kill()
                _, err = self.process.communicate(timeout=30)
                pytest.skip(f"bpftrace cannot attach here: {err.strip()[-300:]}")
            time.sleep(0.1)

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    def stop(self) -> str:
        time.sleep(0.5)
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            # bpftrace 0.17 now and then ignores SIGINT while it detaches (seen
            # once in CI, after its events had all been printed); the events
            # are in self.lines already, so a kill loses nothing the tests read.
            self.process.kill()
            self.process.wait(timeout=30)
        self._reader.join(timeout=30)
        return "".join(self.lines)


@pytest.fixture
def tracers() -> Iterator[list[Tracer]]:
    started: list[Tracer] = []
    yield started
    for tracer in started:
        if tracer.process.poll() is None:
            tracer.process.kill()
            tracer.process.wait(timeout=30)


def _events(out: str) -> tuple[set[int], set[str]]:
    generations = set()
    modules = set()
    for line in out.splitlines():
        if ":python:gc__start generation=" in line:
            generations.add(int(line.rsplit("=", 1)[1]))
        if ":python:import__find__load__start module=" in line:
            modules.add(line.rsplit("=", 1)[1])
    return generations, modules


class Interpreter:
    """The workload, started before the tracer (so that -p PID has a process)."""

    def __init__(self, executable: Path) -> None:
        self.process = subprocess.Popen(
            [str(executable), "-c", WORKLOAD],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def ping(self) -> None:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write("ping\n")
        self.process.stdin.flush()
        assert self.process.stdout.readline() == "pong\n"

    def run(self, tracer: Tracer) -> str:
        """Ping until the tracer sees gc__start, then the workload; the tracer's output."""
        deadline = time.monotonic() + 60
        while not any(":python:gc__start" in line for line in tracer.lines):
            assert time.monotonic() < deadline, "the probes never fired: " + "".join(tracer.lines)
            self.ping()
            time.sleep(0.2)
        self.process.communicate("go\n", timeout=60)
        assert self.process.returncode == 0
        return tracer.stop()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)


@pytest.mark.parametrize("flavor", ["static", "shared"])
def test_generated_bpftrace_script_fires(
    flavor: str,
    version: str,
    tarballs: dict[str, Path],
    tmp_path: Path,
    tracers: list[Tracer],
) -> None:
    """Plain ``bpftrace THIS.bt``, as the header says: the semaphores are set by the kernel."""
    _bpftrace_ready()
    build = _build(version, tarballs, flavor)
    interpreter = Interpreter(build.executable)
    try:
        tracer = Tracer(["bpftrace", str(_script(build, tmp_path))])
        tracers.append(tracer)
        generations, modules = _events(interpreter.run(tracer))
    finally:
        interpreter.kill()
    assert generations == {0, 1, 2}
    assert {"json", "json.decoder", "colorsys"} <= modules


def test_bpftrace_dash_c_static_works_shared_fails(
    static: Build, shared: Build, tmp_path: Path
) -> None:
    """What the header says about ``-c CMD``, measured."""
    _bpftrace_ready()
    # bpftrace splits -c at spaces, quotes and all: the workload goes in a file.
    workload = tmp_path / "workload.py"
    workload.write_text("import gc, colorsys\ngc.collect(2)\n")
    command = f"{static.executable} {workload}"
    done = subprocess.run(
        ["bpftrace", str(_script(static, tmp_path)), "-c", command],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    generations, modules = _events(done.stdout)
    assert 2 in generations and "colorsys" in modules
    done = subprocess.run(
        ["bpftrace", str(_script(shared, tmp_path)), "-c", f"{shared.executable} -c pass"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "Error finding location for probe" in done.stderr


def test_bpftrace_dash_p_on_a_shared_build(
    shared: Build, tmp_path: Path, tracers: list[Tracer]
) -> None:
    _bpftrace_ready()
    interpreter = Interpreter(shared.executable)
    try:
        interpreter.ping()  # libpython is mapped: -p can resolve the probes in it
        pid = str(interpreter.process.pid)
        tracer = Tracer(["bpftrace", str(_script(shared, tmp_path)), "-p", pid])
        tracers.append(tracer)
        generations, modules = _events(interpreter.run(tracer))
    finally:
        interpreter.kill()
    assert generations == {0, 1, 2}
    assert {"json", "colorsys"} <= modules
