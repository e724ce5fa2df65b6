#!/usr/bin/env bash
# Fetch upstream CPython source tarballs from Debian's source packages, for the
# CPython build tier (tests/test_cpython_build.py).
#
# Why Debian and not python.org: CI may reach only PyPI and Debian's archive.
# bookworm serves no python3.13 source, so this adds deb-src lines for trixie
# and sid (source indexes only: no binary package of those suites can be
# installed through them) and downloads the .orig tarball of each suite's
# python3.13.  Debian's patches are not applied: the tier builds upstream.
#
# Usage: scripts/cpython-source.sh [DEST]   (default ~/.cache/usdtscan-cpython/src)
# Prints one line per tarball: VERSION PATH.  Idempotent; must run as root the
# first time (scripts/deb-src.sh adds the deb-src lines).
set -euo pipefail

DEST=${1:-${USDTSCAN_CPYTHON_CACHE:-$HOME/.cache/usdtscan-cpython}/src}
SUITES=(trixie sid)
PACKAGE=python3.13
APT_OPTS=(-o DPkg::Lock::Timeout=600 -q)

mkdir -p "$DEST"

bash "$(dirname "$0")/deb-src.sh" "${SUITES[@]}"

cd "$DEST"
for suite in "${SUITES[@]}"; do
    # The suite's versions, newest first: an index can name a version whose
    # pool files are already gone (404), so fall back to the next one.
    versions=$(apt-cache madison "$PACKAGE" 2>/dev/null \
        | awk -F'|' -v s=" $suite/main Sources" '$3 ~ s {gsub(/ /, "", $2); print $2}' \
        | sort -rV) || true
    found=
    for version in $versions; do
        upstream=${version%-*}
        upstream=${upstream#*:}
        orig="${PACKAGE}_${upstream}.orig.tar.xz"
        if [ ! -s "$orig" ]; then
            apt-get "${APT_OPTS[@]}" source --download-only "$PACKAGE=$version" >/dev/null 2>&1 \
                || echo "cpython-source.sh: $suite: $PACKAGE=$version not downloadable" >&2
        fi
        if [ -s "$orig" ]; then
            echo "$upstream $DEST/$orig"
            found=1
            break
        fi
    done
    [ -n "$found" ] || echo "cpython-source.sh: no downloadable $PACKAGE source in $suite" >&2
done
