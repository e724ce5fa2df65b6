"""The README's first two commands are the project's promise to a new user: hold them to it.

The first one is run as written, in a copy of the committed tree (so that a file
left out of git would fail it, as it would on a fresh clone), and must list the
probes of Debian's python3.11.  The second must be what CI runs.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from .conftest import REPO


def readme_commands() -> list[str]:
    """The lines of the README's opening ``sh`` block."""
    text = (REPO / "README.md").read_text()
    match = re.search(r"```sh\n(.*?)```", text, re.DOTALL)
    assert match is not None, "README.md has no sh block"
    return [line for line in match.group(1).splitlines() if line.strip()]


def test_readme_opens_with_two_commands_the_second_is_ci() -> None:
    commands = readme_commands()
    assert len(commands) == 2
    ci = (REPO / ".ci" / "run").read_text()
    assert "exec bash scripts/test.sh" in ci
    assert commands[1] == "bash scripts/test.sh"
    assert "sudo" not in commands[0] + commands[1], "containers run as root without sudo"


def _committed_tree(destination: Path) -> None:
    files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True
    ).stdout.split(b"\0")
    for name in filter(None, files):
        source = REPO / os.fsdecode(name)
        if source.is_file():
            target = destination / os.fsdecode(name)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


@pytest.mark.skipif(shutil.which("git") is None, reason="git is needed to list the tree")
@pytest.mark.skipif(
    not Path("/usr/bin/python3.11").is_file(), reason="Debian's /usr/bin/python3.11 is absent"
)
def test_readme_first_command_installs_and_lists(tmp_path: Path) -> None:
    checkout = tmp_path / "usdtscan"
    checkout.mkdir()
    if not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    _committed_tree(checkout)
    result = subprocess.run(
        ["bash", "-c", readme_commands()[0]],
        cwd=checkout,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    first = result.stdout.splitlines()[0]
    assert first.startswith("/usr/bin/python3.11: x86_64, ELF64 little-endian EXEC, ")
    assert re.search(r", \d+ probes, \d+ sites$", first), first
    assert "python    python3.11" in result.stdout
    # A plain install, not an editable one: the start-up the benchmarks measure.
    assert not list((checkout / ".venv").rglob("__editable__*"))
