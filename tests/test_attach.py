"""Attach specs: each tool's spelling, checked by the real tool on real binaries.

bpftrace attaches and its probe fires; GDB sets a breakpoint on every spec;
``stap -p2`` resolves every probe point; ``perf probe --dry-run`` writes an
event for every spec after ``perf buildid-cache --add`` into a temporary
build-ID directory; bcc's own ``trace`` parser finds and enables the probe;
libbpf's ``bpf_program__attach`` parses the SEC() name, finds the probe and
parses its arguments.  Each tool's test is skipped where it is not installed
(scripts/install-toolchains.sh installs them all); the ones that load BPF
programs need root.
"""

from __future__ import annotations

import json
import os
import queue
import shlex
import shutil
import signal
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import usdtscan
from usdtscan import attach_specs
from usdtscan.attach import AttachSpec, AttachTarget, c_string
from usdtscan.lint import lint

from .conftest import FIXTURE_BIN, REPO, corpus_file, run_usdtscan
from .dofwriter import ElfFunction, Probe, Provider, write_dof, write_elf

SAMPLE = FIXTURE_BIN / "x86_64" / "probes-O2"  # no build ID
STRIPPED = FIXTURE_BIN / "x86_64" / "probes-O2.stripped"  # build ID, notes kept
WAIT = FIXTURE_BIN / "x86_64" / "wait"
OBJECT = FIXTURE_BIN / "x86_64" / "probes-O0.o"
TOOLS_DIR = REPO / "tests" / "attach_tools"
ROOT = os.geteuid() == 0


def specs_of(
    path: Path | str, target: AttachTarget | None = None
) -> dict[str, dict[str, AttachSpec]]:
    scanned = usdtscan.scan(path)
    return {
        probe.probe_id: {spec.tool: spec for spec in specs}
        for probe, specs in attach_specs(scanned, target)
    }


def spec_texts(path: Path, tool: str) -> dict[str, str]:
    texts = {probe: specs[tool].spec for probe, specs in specs_of(path).items()}
    return {probe: text for probe, text in texts.items() if text is not None}


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return run_usdtscan(*args)


# -- the spellings ----------------------------------------------------------------------


@pytest.mark.corpus
def test_python311_gc_done_as_the_issue_spells_it() -> None:
    path = os.path.realpath(corpus_file("amd64/python3.11-minimal/usr/bin/python3.11"))
    specs = specs_of(path)["python:gc__done"]
    assert {tool: spec.spec for tool, spec in specs.items()} == {
        "bpftrace": f"usdt:{path}:python:gc__done",
        "bcc": f"u:{path}:gc__done",
        "libbpf": f'SEC("usdt/{path}:python:gc__done")',
        "perf": f"perf buildid-cache --add {path} && perf probe -x {path} sdt_python:gc__done",
        "stap": f'process("{path}").mark("gc__done")',
        "gdb": "break -probe-stap python:gc__done",
    }
    # The marker has a semaphore: bcc 0.26 refuses it without -p PID (tested below).
    assert specs["bcc"].why is not None and "-p PID" in specs["bcc"].why


def test_relative_path_and_symlink_become_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    link = tmp_path / "link"
    link.symlink_to(SAMPLE)
    monkeypatch.chdir(tmp_path)
    specs = specs_of("link")["fx:one"]
    assert specs["bpftrace"].spec == f"usdt:{SAMPLE}:fx:one"
    assert specs["stap"].spec == f'process("{SAMPLE}").mark("one")'


def test_refusals_say_why() -> None:
    specs = specs_of(SAMPLE)
    floats = specs["fx:floats"]["libbpf"]
    assert floats.spec is None
    assert floats.why == (
        "libbpf fails the whole attach when it cannot parse an argument: "
        "arg1: float argument (4f@%edx): libbpf reads integers"
    )
    assert specs["fx:one"]["perf"].spec is None
    assert "no build ID" in (specs["fx:one"]["perf"].why or "")
    assert specs["fx:one"]["libbpf"].spec == f'SEC("usdt/{SAMPLE}:fx:one")'
    assert specs_of(STRIPPED)["fx:one"]["perf"].spec is not None


def test_bpftrace_spec_warns_where_bpftrace_024_fails_through_libbpf() -> None:
    """bpftrace >= 0.24 attaches through libbpf (>= 1.7) and fails with it; bpftrace 0.17,
    here, attaches every one of these (test_bpftrace_attaches_every_spec_...)."""
    specs = specs_of(STRIPPED)
    floats = specs["fx:floats"]["bpftrace"]
    assert floats.spec == f"usdt:{STRIPPED}:fx:floats"
    assert floats.why == (
        "bpftrace >= 0.24 attaches through libbpf and fails on this probe: arg1: float "
        "argument (4f@%edx): libbpf reads integers; older bpftrace reads it"
    )
    # libbpf 1.7 reads fx:fields' scale-index-base arg1 to arg4; arg5 is a symbol.
    fields = specs["fx:fields"]
    assert "arg5: symbol operands are not supported" in (fields["bpftrace"].why or "")
    caveated = {p for p, t in specs.items() if "bpftrace >= 0.24" in (t["bpftrace"].why or "")}
    assert caveated == {"fx:fields", "fx:floats", "fx:globals", "fx:stack_array", "fx:twelve"}
    assert specs["fx:one"]["bpftrace"].why is None
    assert (specs["fxsem:guarded"]["bpftrace"].why or "").startswith("the probe has a semaphore")


def test_unlinked_object_refused_by_every_tool() -> None:
    for specs in specs_of(OBJECT).values():
        assert set(specs) == {"bpftrace", "bcc", "libbpf", "perf", "stap", "gdb"}
        for spec in specs.values():
            assert spec.spec is None
            assert "ET_REL" in (spec.why or "")


def test_dof_in_elf_gets_gdb_and_dtrace(tmp_path: Path) -> None:
    def dof_elf(name: str, enabled: list[int]) -> Path:
        probe = Probe("main", "start", ["int"], offsets=[0x10], enabled=enabled, addr=0x401000)
        image, _ = write_elf(
            write_dof([Provider("app", [probe])]), [ElfFunction("main", 0x401000, 0x40)]
        )
        path = tmp_path / name
        path.write_bytes(image)
        return path

    crash = specs_of(dof_elf("crash", []))["app:start"]["gdb"]
    assert crash.why is not None and "SIGSEGV" in crash.why
    path = dof_elf("app", [0x4])
    specs = specs_of(path)["app:start"]
    assert specs["dtrace"].spec == "app*:app::start"
    assert specs["gdb"].spec == "break -probe-dtrace app:start"
    assert specs["gdb"].why is None
    assert all(specs[t].spec is None for t in ("bpftrace", "bcc", "libbpf", "perf", "stap"))
    if shutil.which("gdb") is not None:
        result = subprocess.run(
            ["gdb", "-nx", "-batch", "-ex", specs["gdb"].spec or "", str(path)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert "Breakpoint 1 at 0x401010" in result.stdout, result.stdout + result.stderr


def test_quoting_per_tool(tmp_path: Path) -> None:
    spaced = tmp_path / "a b"
    spaced.mkdir()
    shutil.copy(STRIPPED, spaced / "prog")
    specs = specs_of(spaced / "prog")["fx:one"]
    path = str(spaced / "prog")
    assert specs["bpftrace"].spec == f'usdt:"{path}":fx:one'
    assert specs["bcc"].spec is None and "blank" in (specs["bcc"].why or "")
    assert specs["perf"].spec == (
        f"perf buildid-cache --add {shlex.quote(path)} && "
        f"perf probe -x {shlex.quote(path)} sdt_fx:one"
    )
    colon = tmp_path / "a:b"
    shutil.copy(STRIPPED, colon)
    specs = specs_of(colon)["fx:one"]
    for tool in ("bpftrace", "bcc", "libbpf"):
        assert specs[tool].spec is None, tool
        assert "':'" in (specs[tool].why or ""), tool
    assert specs["stap"].spec == f'process("{colon}").mark("one")'
    assert c_string('a"b\\c\n\u00e9') == '"a\\"b\\\\c\\012\\303\\251"'


def test_shared_name_takes_the_provider(tmp_path: Path) -> None:
    scanned = usdtscan.scan(SAMPLE)
    one = next(s for s in scanned.sites if s.probe_id == "fx:one")
    from dataclasses import replace

    scanned.sites.append(replace(one, provider="other"))
    specs = {p.probe_id: {s.tool: s.spec for s in ss} for p, ss in attach_specs(scanned)}
    assert specs["fx:one"]["bcc"] == f"u:{SAMPLE}:fx:one"
    assert specs["other:one"]["stap"] == f'process("{SAMPLE}").provider("other").mark("one")'
    assert specs["fx:three"]["bcc"] == f"u:{SAMPLE}:three"


def test_json_and_verbose_text_carry_the_specs() -> None:
    result = run_cli("--json", str(STRIPPED))
    assert result.returncode == 0, result.stderr
    groups = {
        (g["provider"], g["name"]): g for g in json.loads(result.stdout)["files"][0]["groups"]
    }
    one = groups[("fx", "one")]
    assert one["attach"]["gdb"] == "break -probe-stap fx:one"
    assert one["attach_refused"] == {} and one["attach_notes"] == {}
    floats = groups[("fx", "floats")]
    assert "libbpf" not in floats["attach"] and "float" in floats["attach_refused"]["libbpf"]
    guarded = groups[("fxsem", "guarded")]
    assert "-p PID" in guarded["attach_notes"]["bpftrace"]
    text = run_cli("-v", "-p", "fx:floats", str(STRIPPED)).stdout
    assert f"      bpftrace  usdt:{STRIPPED}:fx:floats\n" in text
    assert "      libbpf    cannot attach: libbpf fails the whole attach" in text


# -- the real tools -----------------------------------------------------------------------


def _needs(tool: str) -> None:
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed (scripts/install-toolchains.sh)")


def _needs_root() -> None:
    if not ROOT:
        pytest.skip("loading BPF programs needs root")


def test_bpftrace_attaches_every_spec_and_the_probes_fire() -> None:
    _needs("bpftrace")
    _needs_root()
    specs = spec_texts(STRIPPED, "bpftrace")
    program = "\n".join(f'{spec} {{ printf("fired %s\\n", probe); }}' for spec in specs.values())
    result = subprocess.run(
        ["bpftrace", "-e", program, "-c", str(STRIPPED)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    # bpftrace counts one probe per site.
    assert "Attaching 21 probes..." in result.stdout, result.stderr[-3000:]
    fired = {line.split()[1] for line in result.stdout.splitlines() if line.startswith("fired ")}
    # Every probe of the program runs at least once (fixtures/src/expected.json).
    assert fired == set(specs.values())
    assert len(specs) == 19


def test_bpftrace_accepts_a_quoted_path(tmp_path: Path) -> None:
    _needs("bpftrace")
    _needs_root()
    spaced = tmp_path / "a b+c"
    shutil.copy(STRIPPED, spaced)
    spec = specs_of(spaced)["fx:one"]["bpftrace"].spec
    assert spec == f'usdt:"{spaced}":fx:one'
    result = subprocess.run(
        ["bpftrace", "-e", f'{spec} {{ exit(); }} BEGIN {{ printf("attached\\n"); exit(); }}'],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "Attaching 2 probes..." in result.stdout, result.stderr[-3000:]
    assert "attached" in result.stdout


def test_gdb_breaks_on_every_spec() -> None:
    _needs("gdb")
    specs = spec_texts(STRIPPED, "gdb")
    commands = [arg for spec in specs.values() for arg in ("-ex", spec)]
    result = subprocess.run(
        ["gdb", "-nx", "-batch", *commands, "-ex", "info probes stap ^fx$ ^one$", str(STRIPPED)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    breakpoints = [line for line in result.stdout.splitlines() if line.startswith("Breakpoint ")]
    assert len(breakpoints) == len(specs) == 21 - 2, result.stdout + result.stderr
    assert "No probe matching" not in result.stderr
    assert "stap fx       one  0x00000000004012b0" in result.stdout


def _fake_kernel_tree(root: Path) -> Path:
    from .test_scripts import _fake_kernel_tree as tree

    return tree(root)


def test_stap_pass2_resolves_every_spec(tmp_path: Path) -> None:
    _needs("stap")
    specs = spec_texts(STRIPPED, "stap")
    script = tmp_path / "all.stp"
    script.write_text("".join(f"probe {spec} {{ println(pn()) }}\n" for spec in specs.values()))
    result = subprocess.run(
        ["stap", "-r", str(_fake_kernel_tree(tmp_path / "kernel")), "-p2", str(script)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    resolved = [line for line in result.stdout.splitlines() if line.startswith("process(")]
    assert len(resolved) == 21  # one probe point per site


def test_perf_dry_run_accepts_every_spec(tmp_path: Path) -> None:
    _needs("perf")
    specs = spec_texts(STRIPPED, "perf")
    cache = shlex.quote(str(tmp_path / "buildid"))
    events = 0
    for spec in specs.values():
        command = spec.replace("perf buildid-cache", f"perf --buildid-dir {cache} buildid-cache")
        command = command.replace("perf probe", f"perf --buildid-dir {cache} probe -v --dry-run")
        result = subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, f"{spec}: {result.stderr[-2000:]}"
        events += result.stderr.count("Writing event: p:sdt_")
    assert events == 21  # perf writes one uprobe event per site


def _bcc(*args: str) -> list[str]:
    if not Path("/usr/sbin/trace-bpfcc").exists():
        pytest.skip("bcc's trace (Debian's bpfcc-tools) is not installed")
    result = subprocess.run(
        ["/usr/bin/python3", str(TOOLS_DIR / "bcc_trace_probe.py"), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return [line for line in result.stdout.splitlines() if line.startswith(("OK ", "FAIL "))]


def test_bcc_trace_parses_and_enables_every_spec() -> None:
    specs = specs_of(STRIPPED)
    plain = [s["bcc"].spec for s in specs.values() if s["bcc"].spec and s["bcc"].why is None]
    guarded = [s["bcc"].spec for s in specs.values() if s["bcc"].spec and s["bcc"].why]
    lines = _bcc(*plain, *guarded)
    assert lines[: len(plain)] == [f"OK {spec}" for spec in plain]
    # The caveat is true: without a PID, bcc 0.26 refuses probes that have a semaphore.
    assert len(guarded) == 3
    assert all(line.startswith("FAIL ") for line in lines[len(plain) :])
    # And where we say bcc cannot attach, its trace indeed fails.
    refused = {p: s["bcc"] for p, s in specs.items() if s["bcc"].spec is None}
    assert sorted(refused) == ["fx:fields", "fx:globals"]
    names = [f"u:{STRIPPED}:{probe.split(':')[1]}" for probe in refused]
    assert all(line.startswith("FAIL ") for line in _bcc(*names))


def test_bcc_argdist_takes_the_spec_with_a_signature() -> None:
    """argdist's specifier is ``u:LIBRARY:NAME(SIGNATURE)[:TYPE:EXPR...]``: the ``bcc``
    spec followed by ``()`` (docs/cli.rst says so); bare, argdist refuses it."""
    if not Path("/usr/sbin/argdist-bpfcc").exists():
        pytest.skip("bcc's argdist (Debian's bpfcc-tools) is not installed")
    specs = specs_of(STRIPPED)
    plain = [s["bcc"].spec for s in specs.values() if s["bcc"].spec and s["bcc"].why is None]
    assert len(plain) == 14
    given = [f"{spec}()" for spec in plain] + [f"{plain[0]}():int:arg1", plain[0]]
    result = subprocess.run(
        ["/usr/bin/python3", str(TOOLS_DIR / "bcc_argdist_probe.py"), *given],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [line for line in result.stdout.splitlines() if line.startswith(("OK ", "FAIL "))]
    assert lines[:-1] == [f"OK {spec}" for spec in given[:-1]]
    assert lines[-1].startswith(f"FAIL {plain[0]}: ") and "invalid format" in lines[-1]


@pytest.fixture(scope="module")
def libbpf_loader(tmp_path_factory: pytest.TempPathFactory) -> Path:
    for tool in ("clang", "gcc"):
        _needs(tool)
    if not Path("/usr/include/bpf/usdt.bpf.h").exists():
        pytest.skip("libbpf-dev is not installed")
    _needs_root()
    out = tmp_path_factory.mktemp("libbpf") / "attach_usdt"
    subprocess.run(
        ["gcc", "-O1", "-o", str(out), str(TOOLS_DIR / "attach_usdt.c"), "-lbpf"],
        check=True,
        timeout=300,
    )
    return out


def _libbpf_attach(
    loader: Path, section: str, work: Path, *call: str
) -> subprocess.CompletedProcess[str]:
    obj = work / "prog.o"
    arch = {"x86_64": "x86", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine)
    subprocess.run(
        [
            "clang", "-O2", "-g", "-target", "bpf", f"-D__TARGET_ARCH_{arch}",
            f"-I/usr/include/{os.uname().machine}-linux-gnu",
            f"-DSECTION={section}", "-c", str(TOOLS_DIR / "usdt_prog.bpf.c"), "-o", str(obj),
        ],
        check=True,
        timeout=300,
    )  # fmt: skip
    return subprocess.run(
        [str(loader), str(obj), *call], capture_output=True, text=True, timeout=120
    )


def test_libbpf_attaches_every_spec_and_refuses_where_we_say(
    libbpf_loader: Path, tmp_path: Path
) -> None:
    specs = specs_of(STRIPPED)
    attached = 0
    for probe, tools in specs.items():
        spec = tools["libbpf"]
        if spec.spec is None:
            # What libbpf does with the probe we say it cannot attach to.
            section = c_string(f"usdt/{STRIPPED}:{probe}")
            result = _libbpf_attach(libbpf_loader, section, tmp_path)
            assert "attach failed" in result.stdout, probe
            continue
        assert spec.spec.startswith("SEC(") and spec.spec.endswith(")")
        result = _libbpf_attach(libbpf_loader, spec.spec[4:-1], tmp_path)
        assert "attached" in result.stdout, f"{probe}: {result.stderr[-2000:]}"
        attached += 1
    refused = sorted(p for p, t in specs.items() if t["libbpf"].spec is None)
    assert refused == ["fx:fields", "fx:floats", "fx:globals", "fx:stack_array", "fx:twelve"]
    assert attached == 14


@pytest.mark.corpus
def test_libbpf_spec_warns_where_only_libbpf_before_17_fails(
    libbpf_loader: Path, tmp_path: Path
) -> None:
    """stap:cache__clean passes 8@(%rax,%rcx): libbpf 1.7 reads scale-index-base
    operands, older libbpf refuses the probe; the spec carries that caveat, and Debian
    12's libbpf 1.1 indeed fails to attach it while it attaches its neighbour."""
    path = os.path.realpath(corpus_file("amd64/systemtap/usr/bin/stap"))
    specs = specs_of(path)
    clean = specs["stap:cache__clean"]["libbpf"]
    assert clean.spec == f'SEC("usdt/{path}:stap:cache__clean")'
    assert clean.why == (
        "libbpf before 1.7 fails the whole attach on this probe: arg1: "
        "scale-index-base operands are read from libbpf 1.7 on"
    )
    assert specs["stap:cache__clean"]["bpftrace"].why is None  # bpftrace 0.24 uses 1.7
    plain = specs["stap:pass0__start"]["libbpf"]
    assert plain.spec is not None and plain.why is None
    refused = _libbpf_attach(libbpf_loader, clean.spec[4:-1], tmp_path)
    assert "attach failed" in refused.stdout, refused.stdout + refused.stderr[-2000:]
    attached = _libbpf_attach(libbpf_loader, plain.spec[4:-1], tmp_path)
    assert "attached" in attached.stdout, attached.stderr[-2000:]


# -- --pid ----------------------------------------------------------------------------


@pytest.fixture
def waiting(request: pytest.FixtureRequest) -> Iterator[int]:
    """The wait fixture, in a mount namespace of its own when the test is parametrized so."""
    command = [str(WAIT)]
    if getattr(request, "param", False):
        if shutil.which("unshare") is None or not ROOT:
            pytest.skip("a new mount namespace needs unshare and root")
        command = ["unshare", "-m", *command]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("ready "), line
        yield process.pid
    finally:
        process.kill()
        process.wait(timeout=30)


@pytest.mark.parametrize("waiting", [False, True], ids=["same-ns", "container"], indirect=True)
def test_pid_specs_name_the_process(waiting: int) -> None:
    pid = waiting
    result = run_cli("--pid", str(pid), "--json", "-p", "fxsem:*")
    assert result.returncode == 0, result.stderr
    entry = next(f for f in json.loads(result.stdout)["files"] if f["path"] == str(WAIT))
    group = next(g for g in entry["groups"] if g["name"] == "guarded")
    other_ns = os.readlink(f"/proc/{pid}/ns/mnt") != os.readlink("/proc/self/ns/mnt")
    path = f"/proc/{pid}/root{WAIT}" if other_ns else str(WAIT)
    attach = group["attach"]
    assert attach["bpftrace"] == (
        f"bpftrace -p {pid} -e 'usdt:{path}:fxsem:guarded {{ printf(\"%s\\n\", probe); }}'"
    )
    assert attach["bcc"] == f"trace -p {pid} u:{path}:guarded"
    assert attach["libbpf"] == (
        f'bpf_program__attach_usdt(prog, {pid}, "{path}", "fxsem", "guarded", NULL)'
    )
    assert attach["gdb"] == f"gdb -p {pid} -ex 'break -probe-stap fxsem:guarded'"
    assert attach["stap"].startswith(f'stap -x {pid} -e \'probe process("{path}")')


def test_pid_verbose_text_prints_the_process_commands(waiting: int) -> None:
    """``--pid PID -v``: under each probe, the same commands as the JSON's ``attach``."""
    pid = waiting
    document = run_cli("--pid", str(pid), "--json", "-p", "fxsem:*")
    entry = next(f for f in json.loads(document.stdout)["files"] if f["path"] == str(WAIT))
    text = run_cli("--pid", str(pid), "-v", "-p", "fxsem:*")
    assert text.returncode == 0, text.stderr
    block = text.stdout.split(f"{WAIT}: ", 1)[1].split("\n\n", 1)[1]
    for group in entry["groups"]:
        assert f"  fxsem:{group['name']} (1 site)\n    attach:\n" in block
        for tool, command in group["attach"].items():
            assert f"      {tool:<8}  {command}\n" in block
    assert f"gdb -p {pid} -ex 'break -probe-stap fxsem:guarded'" in block
    # Without -v the table stands alone.
    assert "attach:" not in run_cli("--pid", str(pid), "-p", "fxsem:*").stdout


def test_pid_all_verbose_prints_each_process_as_pid_verbose_does(waiting: int) -> None:
    """``--pid all -v``: under each process, what ``--pid PID -v`` prints of it."""
    pid = waiting
    alone = run_cli("--pid", str(pid), "-v", "-p", "fxsem:*").stdout
    every = run_cli("--pid", "all", "-v", "-p", "fxsem:*")
    assert every.returncode == 0, every.stderr
    block = ("\n" + every.stdout).split(f"\npid {pid} ", 1)[1].split("\npid ", 1)[0]
    assert "\n".join(f"    {line}" if line else "" for line in alone.splitlines()) in block
    assert f"gdb -p {pid} -ex 'break -probe-stap fxsem:guarded'" in block
    assert "attach:" not in run_cli("--pid", "all", "-p", "fxsem:*").stdout


@pytest.mark.parametrize("waiting", [False, True], ids=["same-ns", "container"], indirect=True)
def test_bpftrace_pid_spec_raises_the_semaphore_and_fires(waiting: int) -> None:
    _needs("bpftrace")
    _needs_root()
    pid = waiting
    result = run_cli("--pid", str(pid), "--json", "-p", "fxsem:guarded")
    entry = next(f for f in json.loads(result.stdout)["files"] if f["path"] == str(WAIT))
    command = shlex.split(entry["groups"][0]["attach"]["bpftrace"])
    # -B line: bpftrace buffers its output in a pipe.
    command[1:1] = ["-B", "line"]
    tracer = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    lines: queue.Queue[str] = queue.Queue()
    assert tracer.stdout is not None

    def read() -> None:
        for line in tracer.stdout or ():
            lines.put(line)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        assert lines.get(timeout=120).startswith("Attaching 1 probe")
        # bpftrace says "Attaching" before it has: wake wait (which fires
        # fxsem:guarded only while a tracer holds its semaphore) until it fires.
        fired = None
        for _ in range(120):
            os.kill(pid, signal.SIGUSR1)
            try:
                fired = lines.get(timeout=0.5)
                break
            except queue.Empty:
                continue
        assert fired is not None and fired.strip().endswith(":fxsem:guarded"), fired
    finally:
        tracer.send_signal(signal.SIGINT)
        try:
            tracer.wait(timeout=10)
        except subprocess.TimeoutExpired:  # seen in a new mount namespace
            tracer.kill()
            tracer.wait(timeout=30)
        reader.join(timeout=30)


@pytest.mark.parametrize("waiting", [False, True], ids=["same-ns", "container"], indirect=True)
def test_pid_commands_are_accepted_by_gdb_bcc_stap_and_libbpf(
    waiting: int, tmp_path: Path, libbpf_loader: Path
) -> None:
    pid = waiting
    result = run_cli("--pid", str(pid), "--json", "-p", "fxsem:guarded")
    entry = next(f for f in json.loads(result.stdout)["files"] if f["path"] == str(WAIT))
    attach = entry["groups"][0]["attach"]
    if shutil.which("gdb") is not None:
        gdb = shlex.split(attach["gdb"])
        done = subprocess.run(
            [gdb[0], "-nx", "-batch", *gdb[1:]], capture_output=True, text=True, timeout=120
        )
        assert "Breakpoint 1 at 0x" in done.stdout, done.stdout + done.stderr
    if Path("/usr/sbin/trace-bpfcc").exists():
        trace = shlex.split(attach["bcc"])
        assert trace[:3] == ["trace", "-p", str(pid)]
        # With the PID, bcc enables the probe despite its semaphore.
        assert _bcc("--pid", str(pid), trace[3]) == [f"OK {trace[3]}"]
    if shutil.which("stap") is not None:
        stap = shlex.split(attach["stap"])
        kernel = _fake_kernel_tree(tmp_path / "kernel")
        done = subprocess.run(
            [stap[0], "-r", str(kernel), "-p2", *stap[1:]],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr[-3000:]
    call = attach["libbpf"]
    prefix = f"bpf_program__attach_usdt(prog, {pid}, "
    assert call.startswith(prefix) and call.endswith(", NULL)")
    path, provider, name = (json.loads(a) for a in call[len(prefix) : -len(", NULL)")].split(", "))
    done = _libbpf_attach(libbpf_loader, '"usdt"', tmp_path, str(pid), path, provider, name)
    assert "attached" in done.stdout, done.stderr[-3000:]


def test_macho_dof_gets_dtrace_only(tmp_path: Path) -> None:
    from .dofwriter import X86_CODE, MachFunction, write_macho, x86_demo_dof

    image, _, _ = write_macho(X86_CODE, [MachFunction("_myfunc", 0)], x86_demo_dof)
    path = tmp_path / "demo"
    path.write_bytes(image)
    specs = specs_of(path)["demo:fire"]
    assert specs["dtrace"].spec == "demo*:demo::fire"
    for tool in ("bpftrace", "bcc", "libbpf", "perf", "stap", "gdb"):
        assert specs[tool].spec is None
        assert specs[tool].why == "a Mach-O file: only DTrace (on macOS) attaches to its DOF probes"


# -- names perf or bpftrace reject (usdtscan.names), as the tools took them ---------------


def _renamed(tmp_path: Path, old: bytes, new: bytes) -> Path:
    """A copy of the fixture with a build ID whose fx:one note names ``new`` in place of
    ``old`` (provider and name, NUL-separated, right after pc, base and semaphore)."""
    path = tmp_path / "renamed"
    shutil.copy(STRIPPED, path)
    site = next(s for s in usdtscan.scan(path).sites if s.probe_id == "fx:one")
    assert site.note_offset is not None and len(old) == len(new)
    at = site.note_offset + 12 + 8 + 24  # note header, "stapsdt\0", three 8-byte fields
    with open(path, "r+b") as handle:
        handle.seek(at)
        assert handle.read(len(old)) == old
        handle.seek(at)
        handle.write(new)
    return path


def _perf_dry_run(path: Path, event: str, cache: Path) -> subprocess.CompletedProcess[str]:
    perf = ["perf", "--buildid-dir", str(cache)]
    subprocess.run([*perf, "buildid-cache", "--add", str(path)], check=True, timeout=120)
    return subprocess.run(
        [*perf, "probe", "--dry-run", "-x", str(path), event],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_one_name_perf_rejects_refuses_perf_for_the_whole_file(tmp_path: Path) -> None:
    path = _renamed(tmp_path, b"fx\0one\0", b"fx\0o-e\0")
    specs = specs_of(path)
    assert "fx:o-e" in specs
    for probe, tools in specs.items():
        assert tools["perf"].spec is None, probe
        assert (tools["perf"].why or "").startswith("fx:o-e is not a C identifier; perf probe")
    # bpftrace takes a '-' unquoted, and check says only perf's problem.
    assert specs["fx:o-e"]["bpftrace"].spec == f"usdt:{path}:fx:o-e"
    (finding,) = [f for f in lint(path).findings if f.id == "name-rejected"]
    assert finding.message == (
        "name 'o-e' is not a C identifier ('-'): perf probe rejects it, "
        "and with it every sdt_ event of the file"
    )
    if shutil.which("perf") is not None:
        # perf 6.1 reads every note of the file: even fx:three, a plain name, fails.
        refused = _perf_dry_run(path, "sdt_fx:three", tmp_path / "cache")
        assert refused.returncode != 0
        assert "o-e is bad for event name" in refused.stderr
    if shutil.which("bpftrace") is not None and ROOT:
        result = subprocess.run(
            ["bpftrace", "-e", f'{specs["fx:o-e"]["bpftrace"].spec} {{ printf("fired\\n"); }}',
             "-c", str(path)],
            capture_output=True,
            text=True,
            timeout=300,
        )  # fmt: skip
        assert "fired" in result.stdout, result.stderr[-3000:]


def test_a_provider_may_start_with_a_digit_for_perf(tmp_path: Path) -> None:
    """perf names the group sdt_9x: an identifier; nothing is refused or reported."""
    path = _renamed(tmp_path, b"fx\0one\0", b"9x\0one\0")
    specs = specs_of(path)
    assert specs["9x:one"]["perf"].spec is not None
    assert [f for f in lint(path).findings if f.id == "name-rejected"] == []
    if shutil.which("perf") is not None:
        added = _perf_dry_run(path, "sdt_9x:one", tmp_path / "cache")
        assert added.returncode == 0, added.stderr[-2000:]
        assert "Added new event:\n  sdt_9x:one " in added.stderr
