"""libbpf's own USDT argument parser, built from Debian's libbpf source for each
architecture libbpf supports, and run (under qemu-user when foreign).

The parser is not a library function, so the harness takes, from the
package's ``src/usdt.c``, the argument-spec types and everything from the
declaration of ``parse_usdt_arg`` to the end of the per-architecture
parsers, unchanged, and adds a ``main`` that feeds it one note argument
string per input line.  ``pr_warn`` is kept, as the reason of a refusal.
Nothing of libbpf is committed: the source comes from
``scripts/libbpf-source.sh`` at test time.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

CACHE = Path(os.environ.get("USDTSCAN_LIBBPF_CACHE", Path.home() / ".cache" / "usdtscan-libbpf"))
VERSIONS = ("1.5.0", "1.7.0")
# our machine name -> (cross triplet, qemu-user binary or None for the host)
TARGETS = {
    "x86_64": ("x86_64-linux-gnu", None),
    "i386": ("i686-linux-gnu", "qemu-i386"),
    "aarch64": ("aarch64-linux-gnu", "qemu-aarch64"),
    "arm": ("arm-linux-gnueabihf", "qemu-arm"),
    "s390x": ("s390x-linux-gnu", "qemu-s390x"),
    "riscv64": ("riscv64-linux-gnu", "qemu-riscv64"),
    # No libbpf parser: the fallback refuses every argument, as our verdict says.
    "ppc64": ("powerpc64le-linux-gnu", "qemu-ppc64le"),
    "mips64": ("mips64el-linux-gnuabi64", "qemu-mips64el"),
    "mips": ("mips-linux-gnu", "qemu-mips"),
}

_PRELUDE = r"""
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/types.h>
#include <linux/ptrace.h>
#if defined(__riscv)
#define rv_s8 s8
#endif
#define ARRAY_SIZE(x) (sizeof(x) / sizeof((x)[0]))
static char warning[512];
#define pr_warn(...) snprintf(warning, sizeof(warning), __VA_ARGS__)
"""

_MAIN = r"""
int main(void)
{
	char line[8192];
	while (fgets(line, sizeof(line), stdin)) {
		struct usdt_note note = {0};
		struct usdt_spec spec;
		size_t n = strlen(line);
		int err;

		if (n && line[n - 1] == '\n')
			line[--n] = '\0';
		note.provider = "p";
		note.name = "n";
		note.args = line;
		warning[0] = '\0';
		err = parse_usdt_spec(&spec, &note, 0);
		if (err)
			printf("ERR %d %s", err, warning[0] ? warning : "\n");
		else
			printf("OK %d\n", spec.arg_cnt);
		fflush(stdout);
	}
	return 0;
}
"""


def harness_source(usdt_c: str) -> str:
    """The harness C text for one ``usdt.c``; raises ValueError if its layout changed."""
    start = usdt_c.index("enum usdt_arg_type {")
    note = usdt_c.index("struct usdt_note {", start)
    types = usdt_c[start : usdt_c.index("};", note) + 2]
    parsers_from = usdt_c.index("static int parse_usdt_arg(const char *arg_str")
    fallback = usdt_c.index("libbpf doesn't support USDTs on current architecture", parsers_from)
    parsers_to = usdt_c.index("#endif", fallback) + len("#endif")
    return _PRELUDE + types + "\n" + usdt_c[parsers_from:parsers_to] + "\n" + _MAIN


REPO = Path(__file__).resolve().parent.parent


def fetch_sources() -> None:
    """Run scripts/libbpf-source.sh once when the sources are missing and we may (root)."""
    if all((CACHE / v / "usdt.c").is_file() for v in VERSIONS) or os.geteuid() != 0:
        return
    subprocess.run(
        ["bash", str(REPO / "scripts" / "libbpf-source.sh"), str(CACHE)],
        capture_output=True,
        timeout=600,
        check=False,
    )


def available(machine: str) -> str | None:
    """Why libbpf's parser for ``machine`` cannot be built here, or None."""
    if machine not in TARGETS:
        return f"no cross compiler listed for {machine}"
    triplet, qemu = TARGETS[machine]
    if shutil.which(f"{triplet}-gcc") is None:
        return f"{triplet}-gcc missing (scripts/install-toolchains.sh)"
    if qemu is not None and shutil.which(qemu) is None:
        return f"{qemu} missing"
    if not all((CACHE / v / "usdt.c").is_file() for v in VERSIONS):
        return f"libbpf sources not fetched (scripts/libbpf-source.sh {CACHE})"
    return None


@dataclass(frozen=True, slots=True)
class Parsed:
    ok: bool
    message: str  # the argument count, or libbpf's error code and warning


def build(machine: str, version: str, workdir: Path) -> Path:
    triplet, _qemu = TARGETS[machine]
    source = workdir / f"libbpf-{version}-{machine}.c"
    source.write_text(harness_source((CACHE / version / "usdt.c").read_text()))
    binary = source.with_suffix("")
    subprocess.run(
        [f"{triplet}-gcc", "-O1", "-static", "-w", "-o", str(binary), str(source)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return binary


def run(binary: Path, machine: str, argument_strings: list[str]) -> list[Parsed]:
    _triplet, qemu = TARGETS[machine]
    command = [str(binary)] if qemu is None else [qemu, str(binary)]
    done = subprocess.run(
        command,
        input="".join(f"{s}\n" for s in argument_strings),
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    results = []
    for line in done.stdout.splitlines():
        status, _, rest = line.partition(" ")
        results.append(Parsed(status == "OK", rest))
    assert len(results) == len(argument_strings), done.stderr
    return results
