"""The public API as a library user meets it: its names, its docs, its types.

``__all__`` is the contract: every name in it is documented in
docs/api.rst with an example, and ``dir(usdtscan)`` shows nothing else but
the submodules.  The examples of docs/api.rst are type-checked with
``mypy --strict`` and run, so the documentation cannot drift from the code.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import json
import pkgutil
import re
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pytest

import usdtscan

from .conftest import REPO


def _pyproject() -> dict[str, Any]:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    return dict(tomllib.loads((REPO / "pyproject.toml").read_text()))


API_DOC = REPO / "docs" / "api.rst"
README = REPO / "README.md"
SUBMODULES = sorted(
    path.stem if path.is_file() else path.name
    for path in (REPO / "usdtscan").iterdir()
    if (path.suffix == ".py" or (path / "__init__.py").is_file()) and not path.name.startswith("_")
)


def doc_examples() -> list[str]:
    """The ``.. code-block:: python`` bodies of docs/api.rst, dedented."""
    blocks: list[str] = []
    lines = API_DOC.read_text().splitlines()
    for number, line in enumerate(lines):
        if line.strip() != ".. code-block:: python":
            continue
        body: list[str] = []
        for following in lines[number + 1 :]:
            if following and not following.startswith("   "):
                break
            body.append(following[3:])
        blocks.append("\n".join(body).strip() + "\n")
    return blocks


def readme_examples() -> list[str]:
    """The python code blocks of README.md."""
    return re.findall(r"^```python\n(.*?)^```$", README.read_text(), re.MULTILINE | re.DOTALL)


def test_readme_example_shows_a_decoded_argument() -> None:
    (example,) = readme_examples()
    assert "usdtscan.analyze(" in example and ".location" in example
    if not Path("/usr/bin/python3.11").is_file():
        pytest.skip("the example reads Debian's /usr/bin/python3.11")
    result = subprocess.run(
        [sys.executable, "-c", example], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    promised = example.rstrip().splitlines()[-1].removeprefix("# ")
    assert promised == "python:gc__start -4@112(%rsp) -> rsp+112 4-byte signed"
    assert promised in result.stdout.splitlines()


def test_submodules_are_found_on_disk() -> None:
    assert {"scan", "model", "cpython", "args", "render", "cli"} <= set(SUBMODULES)
    assert "__main__" not in SUBMODULES


def test_dir_shows_the_public_api_and_the_submodules_only() -> None:
    assert dir(usdtscan) == sorted({*usdtscan.__all__, *SUBMODULES})
    for hidden in ("annotations", "importlib", "TYPE_CHECKING", "_LAZY"):
        assert hidden not in dir(usdtscan)


def test_every_public_name_resolves_to_what_its_home_module_defines() -> None:
    for name in usdtscan.__all__:
        value = getattr(usdtscan, name)
        assert not isinstance(value, types.ModuleType), name
        if isinstance(value, types.UnionType):  # a type alias: Location
            assert all(member.__module__.startswith("usdtscan.") for member in value.__args__)
        elif name != "__version__":
            assert value.__module__.startswith("usdtscan."), name


def test_public_names_survive_importing_every_submodule() -> None:
    """A submodule imported after the package binds its name on the package
    (``usdtscan.scan``): the function of that name must still win."""
    for info in pkgutil.walk_packages(usdtscan.__path__, "usdtscan."):
        if info.name.endswith("__main__") or ".fuzz" in info.name:
            continue
        importlib.import_module(info.name)
    for name in usdtscan.__all__:
        assert not isinstance(getattr(usdtscan, name), types.ModuleType), name
    assert callable(usdtscan.scan)


def test_submodules_load_on_first_use_and_unknown_names_raise() -> None:
    code = (
        "import sys, usdtscan\n"
        "assert 'usdtscan.cpython' not in sys.modules, 'loaded by import usdtscan'\n"
        "assert usdtscan.cpython.PROVIDER == 'python'\n"
        "try:\n"
        "    usdtscan.no_such_name\n"
        "except AttributeError as exc:\n"
        "    print(exc)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "module 'usdtscan' has no attribute 'no_such_name'\n"


def test_every_public_name_is_documented_with_an_example() -> None:
    """Described once in docs/ (api.rst, or errors.rst for the exceptions) and
    used in an example of api.rst."""
    text = "\n".join(page.read_text() for page in sorted((REPO / "docs").glob("*.rst")))
    examples = "\n".join(doc_examples())
    directives = re.findall(
        r"^\.\. (?:autoclass|autofunction|autoexception|autodata|py:data):: usdtscan\.(\w+)\s",
        text,
        re.MULTILINE,
    )
    assert sorted(directives) == sorted(usdtscan.__all__)
    for name in usdtscan.__all__:
        assert re.search(rf"\busdtscan\.{re.escape(name)}\b", examples), f"no example uses {name}"


def test_version_lives_in_one_place() -> None:
    pyproject = _pyproject()
    assert "version" not in pyproject["project"]
    assert pyproject["project"]["dynamic"] == ["version"]
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "usdtscan.__version__"}
    assert importlib.metadata.version("usdtscan") == usdtscan.__version__
    changelog = (REPO / "CHANGELOG.md").read_text()
    releases = re.findall(r"^## (\S+)", changelog, re.MULTILINE)
    assert releases[0] == usdtscan.__version__
    literal = f'"{usdtscan.__version__}"'
    holders = [
        path.relative_to(REPO).as_posix()
        for path in (REPO / "usdtscan").rglob("*.py")
        if literal in path.read_text()
    ]
    assert holders == ["usdtscan/__init__.py"]


def test_package_is_marked_typed() -> None:
    assert (REPO / "usdtscan" / "py.typed").is_file()
    pyproject = _pyproject()
    assert "py.typed" in pyproject["tool"]["setuptools"]["package-data"]["usdtscan"]


@pytest.fixture(scope="module")
def example_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("api-examples")
    files = []
    for number, code in enumerate(doc_examples() + readme_examples(), 1):
        path = folder / f"example_{number}.py"
        path.write_text(code)
        files.append(path)
    return files


@pytest.mark.skipif(
    importlib.util.find_spec("mypy") is None, reason="mypy not installed (pip install -e '.[lint]')"
)
def test_doc_examples_type_check_strictly(example_files: list[Path]) -> None:
    assert len(example_files) >= 6
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", *map(str, example_files)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_doc_examples_run(example_files: list[Path]) -> None:
    if not Path("/usr/bin/python3.11").is_file():
        pytest.skip("the examples read Debian's /usr/bin/python3.11")
    for path in example_files:
        result = subprocess.run(
            [sys.executable, str(path)], cwd=REPO, capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, f"{path.name}:\n{path.read_text()}\n{result.stderr}"


def test_json_of_real_macho_files_is_the_analysis_rendered(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """test_analysis holds it for the ELF fixtures and corpus; the macOS binaries
    (DOF in thin and fat Mach-O, ``slices``) are in another cache."""
    from usdtscan.cli import main
    from usdtscan.render import json as json_render

    from .test_macho import MACHO_CACHE

    names = ["node-8.3.0-darwin-x64", "node-18.9.0-darwin-arm64"]
    names.append("markupsafe-2.1.5-universal2-_speedups.so")
    paths = [MACHO_CACHE / name for name in names if (MACHO_CACHE / name).is_file()]
    if not paths:
        pytest.skip(f"the Mach-O binaries are not fetched (../shared/macho/fetch {MACHO_CACHE})")
    for path in paths:
        report = usdtscan.analyze(path)
        assert main(["--json", str(path)]) == 0
        document = json.loads(capsys.readouterr().out)
        assert document == json.loads(json_render.render([report])), path
        if path.name.startswith("node-"):
            assert report.sites and all(site.site.dof is not None for site in report.sites)
            assert all(site.arguments is None for site in report.sites)  # C types, not operands


def test_the_glance_list_names_every_public_name() -> None:
    text = API_DOC.read_text()
    glance = text[text.index("At a glance") : text.index("Listing\n-------")]
    named = set(re.findall(r"`~?usdtscan\.(\w+)`", glance))
    assert named == set(usdtscan.__all__)
