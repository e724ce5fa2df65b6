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
# first time (it writes /etc/apt/sources.list.d/usdtscan-deb-src.sources).
set -euo pipefail

DEST=${1:-${USDTSCAN_CPYTHON_CACHE:-$HOME/.cache/usdtscan-cpython}/src}
SRC_LIST=/etc/apt/sources.list.d/usdtscan-deb-src.sources
SUITES=(trixie sid)
PACKAGE=python3.13
APT_OPTS=(-o DPkg::Lock::Timeout=600 -q)

mkdir -p "$DEST"

if [ ! -f "$SRC_LIST" ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "cpython-source.sh: $SRC_LIST missing and not root: cannot add deb-src lines" >&2
        exit 1
    fi
    cat >"$SRC_LIST" <<SOURCES
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: ${SUITES[*]}
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
    apt-get "${APT_OPTS[@]}" update >&2 || echo "cpython-source.sh: warning: apt-get update reported errors" >&2
fi

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
