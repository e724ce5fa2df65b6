#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 checkout (this is what .ci/run runs).
#
# As root (or through sudo, when not root and sudo exists) it first installs
# what the tests need from Debian (binutils for the readelf oracle, the cross
# toolchains, qemu-user and gdb-multiarch) and fetches the real-binary corpus
# from ../shared/corpus into ${USDTSCAN_CORPUS:-~/.cache/usdtscan-corpus} and
# the macOS binaries from ../shared/macho into
# ${USDTSCAN_MACHO:-~/.cache/usdtscan-macho} (both idempotent and cached).
# Then it makes a virtualenv in .venv with the test, lint and docs extras and runs
# pytest; arguments are passed to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

corpus=${USDTSCAN_CORPUS:-$HOME/.cache/usdtscan-corpus}
macho=${USDTSCAN_MACHO:-$HOME/.cache/usdtscan-macho}
log=${TMPDIR:-/tmp}
# Containers run as root and have no sudo; a developer's machine has sudo.
as_root=()
if [ "$(id -u)" != 0 ] && command -v sudo > /dev/null; then
    as_root=(sudo)
fi
if [ "$(id -u)" = 0 ] || [ "${#as_root[@]}" -gt 0 ]; then
    "${as_root[@]}" bash scripts/install-toolchains.sh
    # Source indexes for the tiers that read Debian source packages (the
    # CPython build, libbpf's parser, the DTrace provider files).
    "${as_root[@]}" bash scripts/deb-src.sh bookworm trixie sid \
        || echo "test.sh: deb-src lines could not be added; the source tiers may skip"
    if [ -f ../shared/corpus/fetch ]; then
        "${as_root[@]}" bash ../shared/corpus/fetch "$corpus" > "$log/usdtscan-corpus-fetch.log" 2>&1 \
            || echo "test.sh: corpus fetch reported errors (see $log/usdtscan-corpus-fetch.log)"
        tail -1 "$log/usdtscan-corpus-fetch.log" || true
        # The fetch keeps an oracle that is newer than its binary, but a
        # re-downloaded binary keeps its package's (older) mtime, so a
        # replaced binary can sit beside the oracle of the one before it.
        # The oracle is readelf's word on the file as it is: rewrite stale ones.
        find "$corpus" -path "$corpus/.fetch" -prune -o -name '*.readelf-n.txt' -print |
        while read -r oracle; do
            binary=${oracle%.readelf-n.txt}
            [ -f "$binary" ] || continue
            if ! readelf -n "$binary" 2>&1 | cmp -s - "$oracle"; then
                echo "test.sh: stale oracle rewritten: $oracle"
                "${as_root[@]}" sh -c 'readelf -n "$1" > "$2" 2>&1' sh "$binary" "$oracle" || true
            fi
        done
    fi
else
    echo "test.sh: not root and no sudo, so no apt installs and no corpus fetch; those tiers may skip"
fi
# The real macOS binaries with DOF (npm and PyPI downloads; no root needed).
if [ -f ../shared/macho/fetch ]; then
    bash ../shared/macho/fetch "$macho" > "$log/usdtscan-macho-fetch.log" 2>&1 \
        || echo "test.sh: Mach-O fetch reported errors (see $log/usdtscan-macho-fetch.log)"
fi
# PostgreSQL's and CPython's DTrace provider files, for check --provider's
# test that the copies in fixtures/provider/ are Debian's (cached).
bash scripts/provider-files.sh > "$log/usdtscan-provider-files.log" 2>&1 \
    || echo "test.sh: provider files not fetched (see $log/usdtscan-provider-files.log)"

python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test,lint,docs,release]'
export USDTSCAN_CORPUS="$corpus" USDTSCAN_MACHO="$macho"
# The CPython build tier (tests/test_cpython_build.py): CPython from Debian's
# source package, built by docs/cpython.rst's CI job (static, --enable-shared)
# plus free-threaded and no-dtrace builds; cached in ~/.cache/usdtscan-cpython,
# so only the first run on a machine pays for the builds.  USDTSCAN_CPYTHON=0
# skips it.
if [ "${USDTSCAN_CPYTHON:-1}" != 0 ]; then
    started=$(date +%s)
    .venv/bin/python -m tests.cpython_tier build > "$log/usdtscan-cpython-build.log" 2>&1 \
        || echo "test.sh: CPython build failed (see $log/usdtscan-cpython-build.log)"
    echo "test.sh: CPython build tier ready in $(( $(date +%s) - started )) s"
fi
exec .venv/bin/python -m pytest "$@"
