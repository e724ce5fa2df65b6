"""Build CPython ``--with-dtrace`` by running the CI job of docs/cpython.rst as written.

The CPython build tier (tests/test_cpython_build.py) needs real self-built
interpreters, and the docs promise a GitHub Actions job that builds one and
checks its markers.  Both are served by one runner: it extracts that job from
the docs, and runs its build steps (``./configure ...``, ``make ... && make
install``) verbatim in an upstream source tree from Debian's source package
(scripts/cpython-source.sh), once per matrix entry.  So the docs' job is the
build recipe, and a wrong step in the docs fails the tier.

The environment steps are Actions-specific and are stood in for:
``actions/checkout`` by the extracted tarball, ``actions/setup-python`` and
``pip install usdtscan`` by the test's own interpreter on PATH, and the
``apt-get install`` step by checking that each package it names is installed.

Builds take minutes, so they are cached under
``${USDTSCAN_CPYTHON_CACHE:-~/.cache/usdtscan-cpython}``, keyed by the CPython
version and a hash of the build commands after matrix substitution: editing
the docs' build steps rebuilds.  A lock file serialises concurrent runs.

Run ``python -m tests.cpython_tier build`` to fill the cache ahead of the tests.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tarfile
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs" / "cpython.rst"
CACHE = Path(os.environ.get("USDTSCAN_CPYTHON_CACHE", Path.home() / ".cache" / "usdtscan-cpython"))
SOURCE_SCRIPT = REPO / "scripts" / "cpython-source.sh"


@dataclasses.dataclass(frozen=True)
class Step:
    """One step of the docs' job, with ``${{ ... }}`` already substituted."""

    name: str
    run: str | None
    uses: str | None
    kind: str  # "checkout", "setup", "apt", "pip", "build" or "check"


@dataclasses.dataclass(frozen=True)
class Build:
    """One built interpreter: the source tree the docs' steps ran in, and its prefix."""

    version: str
    matrix: dict[str, str]
    tree: Path
    steps: tuple[Step, ...]

    @property
    def inst(self) -> Path:
        return self.tree / "inst"

    @property
    def configure(self) -> str:
        return " ".join(s.run or "" for s in self.steps if "configure" in (s.run or ""))

    @property
    def shared(self) -> bool:
        return "--enable-shared" in self.configure

    @property
    def free_threaded(self) -> bool:
        return "--disable-gil" in self.configure

    @property
    def flavor(self) -> str:
        return flavor_of(self.configure)

    @property
    def major_minor(self) -> str:
        return ".".join(self.version.split(".")[:2])

    @property
    def executable(self) -> Path:
        return self.inst / "bin" / f"python{self.major_minor}{'t' if self.free_threaded else ''}"

    def check_steps(self) -> list[Step]:
        return [s for s in self.steps if s.kind == "check"]


def ci_job_yaml(rst: Path = DOCS) -> str:
    """The text of the YAML block under the docs' "A CI job" heading."""
    text = rst.read_text()
    section = text[text.index("A CI job\n") :]
    match = re.search(r"\.\. code-block:: yaml\n\n((?:   .*\n|\n)+)", section)
    if match is None:
        raise ValueError(f"{rst}: no yaml code block under 'A CI job'")
    return textwrap.dedent(match.group(1))


def ci_job(rst: Path = DOCS) -> dict[str, Any]:
    """The docs' only job, parsed (PyYAML: a test extra, for exactly this)."""
    import yaml

    workflow = yaml.safe_load(ci_job_yaml(rst))
    (job,) = workflow["jobs"].values()
    return dict(job)


def matrix_entries(job: dict[str, Any]) -> list[dict[str, str]]:
    """Each combination of the job's matrix (one key, or a product of several)."""
    matrix = job.get("strategy", {}).get("matrix", {})
    entries: list[dict[str, str]] = [{}]
    for key, values in matrix.items():
        entries = [{**e, key: str(v)} for e in entries for v in values]
    return entries


def _classify(step: dict[str, Any]) -> str:
    uses = step.get("uses")
    run = step.get("run", "")
    if uses:
        return "checkout" if uses.startswith("actions/checkout") else "setup"
    if "apt-get install" in run:
        return "apt"
    if "pip install" in run:
        return "pip"
    if "usdtscan" in run:
        return "check"
    return "build"


def job_steps(job: dict[str, Any], matrix: dict[str, str], workspace: Path) -> tuple[Step, ...]:
    """The steps for one matrix entry, expressions replaced as Actions would."""

    def substitute(text: str) -> str:
        def value(m: re.Match[str]) -> str:
            expr = m.group(1).strip()
            if expr.startswith("matrix."):
                return matrix[expr[len("matrix.") :]]
            if expr == "github.workspace":
                return str(workspace)
            if expr == "always()":
                return "true"
            raise ValueError(f"docs CI job: expression not supported by the runner: {expr}")

        return re.sub(r"\$\{\{(.*?)\}\}", value, text)

    steps = []
    for raw in job["steps"]:
        run = raw.get("run")
        steps.append(
            Step(
                name=str(raw.get("name", run or raw.get("uses"))),
                run=substitute(run) if run is not None else None,
                uses=raw.get("uses"),
                kind=_classify(raw),
            )
        )
    return tuple(steps)


def apt_packages(step: Step) -> list[str]:
    """The packages an ``apt-get install -y ...`` step names."""
    assert step.run is not None
    words = step.run.split("apt-get install", 1)[1].split("&&")[0].split()
    return [w for w in words if not w.startswith("-")]


def missing_packages(packages: list[str]) -> list[str]:
    missing = []
    for package in packages:
        out = subprocess.run(
            ["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True
        )
        if "install ok installed" not in out.stdout:
            missing.append(package)
    return missing


def source_tarballs() -> dict[str, Path]:
    """Version -> upstream tarball, as scripts/cpython-source.sh downloads them."""
    out = subprocess.run(
        ["bash", str(SOURCE_SCRIPT), str(CACHE / "src")],
        capture_output=True,
        text=True,
        check=False,
    )
    tarballs = {}
    for line in out.stdout.splitlines():
        version, _, path = line.partition(" ")
        if path and Path(path).is_file():
            tarballs[version] = Path(path)
    return tarballs


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", version))


def chosen_versions(tarballs: dict[str, Path]) -> list[str]:
    """``$USDTSCAN_CPYTHON_VERSIONS`` (comma list, or ``all``); default the newest."""
    wanted = os.environ.get("USDTSCAN_CPYTHON_VERSIONS", "").strip()
    available = sorted(tarballs, key=_version_key)
    if wanted == "all":
        return available
    if wanted:
        return [v for v in wanted.split(",") if v in tarballs]
    return available[-1:]


def flavor_of(commands: str) -> str:
    if "--with-dtrace" not in commands:
        return "no-dtrace"
    if "--disable-gil" in commands:
        return "free-threaded"
    return "shared" if "--enable-shared" in commands else "static"


def build_key(version: str, steps: tuple[Step, ...], tree: Path) -> str:
    """Version, flavour and a hash of the build commands with the tree path taken out."""
    commands = "\n".join(s.run or "" for s in steps if s.kind == "build")
    digest = hashlib.sha256(commands.replace(str(tree), "TREE").encode()).hexdigest()[:10]
    return f"{version}-{flavor_of(commands)}-{digest}"


# Builds the issue's story needs beyond the docs' matrix: the free-threaded
# "t" ABI, and a build configured without --with-dtrace.  Same steps as the
# docs' job, other configure flags.
EXTRA_CONFIGURE = {
    "free-threaded": "--with-dtrace --disable-gil --enable-shared",
    "no-dtrace": "",
}


def extra_job(flags: str) -> dict[str, Any]:
    return {
        "steps": [
            {
                "name": "configure",
                "run": f"./configure {flags} "
                '--prefix="$PWD/inst" LDFLAGS="-Wl,-rpath,$PWD/inst/lib"',
            },
            {"name": "make", "run": 'make -j"$(nproc)" && make install'},
        ]
    }


@contextmanager
def _lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _tree_for(version: str, matrix: dict[str, str], job: dict[str, Any]) -> tuple[Path, str]:
    # The tree's path appears in the build (--prefix="$PWD/inst", -rpath), so
    # it is fixed before hashing: a placeholder, then the real key-named path.
    placeholder = CACHE / "TREE"
    key = build_key(version, job_steps(job, matrix, placeholder), placeholder)
    return CACHE / key / "cpython", key


def cached_build(version: str, matrix: dict[str, str], job: dict[str, Any] | None = None) -> Build:
    """The build for this version and matrix entry, if the cache has it (else built=False)."""
    job = job if job is not None else ci_job()
    tree, _ = _tree_for(version, matrix, job)
    return Build(version, matrix, tree, job_steps(job, matrix, tree))


def is_built(build: Build) -> bool:
    return (build.tree.parent / "built").is_file() and build.executable.is_file()


def build(
    version: str, tarball: Path, matrix: dict[str, str], job: dict[str, Any] | None = None
) -> Build:
    """Run the docs' build steps for one matrix entry (or ``job``'s), unless cached."""
    result = cached_build(version, matrix, job)
    if is_built(result):
        return result
    with _lock(result.tree.parent / "lock"):
        if is_built(result):
            return result
        if result.tree.exists():
            shutil.rmtree(result.tree)
        staging = result.tree.parent / "extract"
        if staging.exists():
            shutil.rmtree(staging)
        staging.mkdir(parents=True)
        with tarfile.open(tarball) as tar:
            if hasattr(tarfile, "tar_filter"):
                tar.extractall(staging, filter="tar")
            else:  # Python without extraction filters (< 3.11.4)
                tar.extractall(staging)
        (top,) = staging.iterdir()
        top.rename(result.tree)
        staging.rmdir()
        logfile = result.tree.parent / "build.log"
        with logfile.open("w") as out:
            for step in result.steps:
                if step.kind != "build":
                    continue
                assert step.run is not None
                out.write(f"### {step.name}\n$ {step.run}\n")
                out.flush()
                proc = subprocess.run(
                    ["bash", "-eo", "pipefail", "-c", step.run],
                    cwd=result.tree,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    check=False,
                )
                if proc.returncode != 0:
                    raise RuntimeError(
                        f"CPython {version} {result.flavor}: step {step.name!r} exited "
                        f"{proc.returncode}; see {logfile}"
                    )
        (result.tree.parent / "built").write_text(f"{version} {matrix}\n")
    return result


def build_all(extras: bool = True) -> list[Build]:
    job = ci_job()
    tarballs = source_tarballs()
    builds = []
    for version in chosen_versions(tarballs):
        jobs = [(job, matrix) for matrix in matrix_entries(job)]
        if extras:
            jobs += [(extra_job(flags), {}) for flags in EXTRA_CONFIGURE.values()]
        for one_job, matrix in jobs:
            print(f"cpython-tier: building {version} {matrix or one_job['steps'][0]['run']}")
            builds.append(build(version, tarballs[version], matrix, one_job))
            print(f"cpython-tier: built {builds[-1].tree}", flush=True)
    return builds


if __name__ == "__main__":
    if sys.argv[1:] != ["build"]:
        sys.exit("usage: python -m tests.cpython_tier build")
    build_all()
