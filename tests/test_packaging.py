"""The package as users get it: sdist and wheel, installed into a clean virtualenv.

``python -m build`` makes both distributions (the wheel from the sdist, so
the sdist is proven complete), ``twine check --strict`` accepts their
metadata, and the wheel installed alone into a fresh venv runs, lists a
probe and type-checks: nothing here reaches into the source tree, so a
module, a data file or an entry point the wheel forgets fails the test.

One build serves every test (module-scoped): it takes about 10 s, the
clean install about 10 s more.  Building fetches setuptools into an
isolated environment and the install fetches capstone and macholib, as a
user's would; without the ``release`` extra the tests skip.
"""

from __future__ import annotations

import email.parser
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tarfile
import venv
import zipfile
from pathlib import Path

import pytest

import usdtscan

from .conftest import FIXTURE_BIN, REPO

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("build") is None or importlib.util.find_spec("twine") is None,
    reason="build/twine not installed (pip install -e '.[release]')",
)

FIXTURE = FIXTURE_BIN / "x86_64" / "probes-O2"
VERSION = usdtscan.__version__


def _run(*command: str | Path, cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    # PYTHONPATH and the like must not lead the clean install back to the source tree.
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    return subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    # Build from a copy holding only what git tracks: a stray build/, .venv or
    # egg-info of the developer's checkout must not leak into the sdist.
    source = tmp_path_factory.mktemp("source")
    files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True
    ).stdout.split(b"\0")
    for name in filter(None, files):
        relative = Path(os.fsdecode(name))
        if not (REPO / relative).is_file():
            continue
        (source / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / relative, source / relative)
    result = _run(sys.executable, "-m", "build", "--outdir", out, source, cwd=source)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return out


def _wheel(dist: Path) -> Path:
    (wheel,) = dist.glob("*.whl")
    return wheel


def test_build_makes_sdist_and_wheel_that_pass_twine_check(dist: Path) -> None:
    assert sorted(p.name for p in dist.iterdir()) == [
        f"usdtscan-{VERSION}-py3-none-any.whl",
        f"usdtscan-{VERSION}.tar.gz",
    ]
    result = _run(sys.executable, "-m", "twine", "check", "--strict", *dist.iterdir(), cwd=dist)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("PASSED") == 2, result.stdout


def test_wheel_holds_the_package_typed_and_nothing_else(dist: Path) -> None:
    with zipfile.ZipFile(_wheel(dist)) as wheel:
        names = wheel.namelist()
        metadata = email.parser.Parser().parsestr(
            wheel.read(f"usdtscan-{VERSION}.dist-info/METADATA").decode()
        )
    assert "usdtscan/py.typed" in names
    assert "usdtscan/usdtscan.schema.json" in names
    assert "usdtscan/args/x86.py" in names
    assert {name.split("/")[0] for name in names} == {"usdtscan", f"usdtscan-{VERSION}.dist-info"}
    assert metadata["Version"] == VERSION
    assert metadata["License-Expression"] == "MIT"
    assert "Typing :: Typed" in metadata.get_all("Classifier", [])
    # The README is the long description, so PyPI shows the API example.
    assert "usdtscan.probes(" in metadata.get_payload()


def test_sdist_is_the_whole_source_release(dist: Path) -> None:
    """A packager can run the suite from the sdist: tests, fixture binaries, scripts."""
    (sdist,) = dist.glob("*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    for wanted in (
        "CHANGELOG.md",
        "LICENSE",
        "README.md",
        "docs/api.rst",
        "usdtscan/py.typed",
        "tests/conftest.py",
        "fixtures/bin/x86_64/probes-O2",
        "fixtures/src/probes.c",
        "scripts/test.sh",
        "tox.ini",
    ):
        assert wanted in names
    assert not any("__pycache__" in name for name in names)


@pytest.fixture(scope="module")
def clean_venv(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv (no system site-packages) with only the wheel and its dependencies."""
    root = tmp_path_factory.mktemp("clean") / "venv"
    venv.EnvBuilder(with_pip=True, clear=True).create(root)
    result = _run(root / "bin" / "python", "-m", "pip", "install", "-q", _wheel(dist), cwd=root)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return root


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    """A working directory outside the checkout, holding one copied fixture binary."""
    shutil.copy2(FIXTURE, tmp_path / "probes")
    return tmp_path


def test_clean_install_reports_its_version(clean_venv: Path, elsewhere: Path) -> None:
    result = _run(clean_venv / "bin" / "usdtscan", "--version", cwd=elsewhere)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"usdtscan {VERSION}\n"


def test_clean_install_imports_from_its_own_site_packages(
    clean_venv: Path, elsewhere: Path
) -> None:
    result = _run(
        clean_venv / "bin" / "python",
        "-c",
        "import usdtscan, sys; print(usdtscan.__file__); print(usdtscan.__version__)",
        cwd=elsewhere,
    )
    assert result.returncode == 0, result.stderr
    location, version = result.stdout.splitlines()
    assert Path(location).is_relative_to(clean_venv)
    assert not Path(location).is_relative_to(REPO)
    assert version == VERSION


def test_clean_install_lists_probes(clean_venv: Path, elsewhere: Path) -> None:
    result = _run(clean_venv / "bin" / "usdtscan", "probes", cwd=elsewhere)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("probes: x86_64, ELF64 little-endian EXEC, 19 probes, 21 sites")
    rows = [line.split() for line in result.stdout.splitlines()]
    assert ["fxsem", "probes", "sem_request", "request", "0x4013b0", "0x13b0", "0x4040aa"] in [
        row[:7] for row in rows
    ]
    json_result = _run(clean_venv / "bin" / "usdtscan", "--json", "probes", cwd=elsewhere)
    assert json_result.returncode == 0, json_result.stderr
    assert '"semaphore_address": 4210858' in json_result.stdout  # fxsem:request, 0x4040aa
    schema = _run(clean_venv / "bin" / "usdtscan", "--json-schema", cwd=elsewhere)
    assert schema.returncode == 0, schema.stderr
    assert json.loads(schema.stdout)["$schema"].startswith("https://json-schema.org/")


EXAMPLE = """\
import usdtscan

sites: list[usdtscan.Site] = usdtscan.probes("probes")
first: usdtscan.Argument = sites[0].args[0]
size: int | None = first.size
decoded = (usdtscan.analyze("probes").sites[0].arguments or ())[0]
location = decoded.location
register = location.canonical if location.kind == "register" else "-"
print(len(sites), first.raw, size, register, decoded.verdicts["libbpf"].ok)
"""

WRONG = """\
import usdtscan

count: str = usdtscan.probes("probes")
"""


def test_installed_wheel_is_typed_for_mypy(clean_venv: Path, elsewhere: Path) -> None:
    """mypy finds the installed package only through its py.typed (PEP 561): without
    it, ``import usdtscan`` is an error under --strict.  The wrong program proves
    that the types are read, not taken as Any."""
    if importlib.util.find_spec("mypy") is None:
        pytest.skip("mypy not installed (pip install -e '.[lint]')")
    (elsewhere / "example.py").write_text(EXAMPLE)
    (elsewhere / "wrong.py").write_text(WRONG)
    command = (sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--python-executable")
    good = _run(*command, clean_venv / "bin" / "python", "example.py", cwd=elsewhere)
    assert good.returncode == 0, good.stdout + good.stderr
    bad = _run(*command, clean_venv / "bin" / "python", "wrong.py", cwd=elsewhere)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert 'Incompatible types in assignment (expression has type "list[Site]"' in bad.stdout
    run = _run(clean_venv / "bin" / "python", "example.py", cwd=elsewhere)
    assert run.returncode == 0, run.stderr
    assert run.stdout == "21 1@%dil 1 rdi True\n"
