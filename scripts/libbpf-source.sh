#!/usr/bin/env bash
# Fetch src/usdt.c of Debian's libbpf source packages, for the test that runs
# libbpf's own USDT argument parser on every argument (tests/test_consumer_proof.py).
#
#   libbpf 1.5.0 (trixie): before x86 scale-index-base operands
#   libbpf 1.7.0 (sid):    with them (kernel commit 758acb9ccfdb)
#
# Usage: scripts/libbpf-source.sh [DEST]  (default ~/.cache/usdtscan-libbpf)
# Prints "VERSION PATH" per file.  Root is needed the first time, to add
# trixie/sid deb-src lines (scripts/deb-src.sh).
# Only the .orig tarball is downloaded (about 1 MB each), one member is kept.
set -euo pipefail
DEST=${1:-$HOME/.cache/usdtscan-libbpf}
APT_OPTS=(-o DPkg::Lock::Timeout=600 -q)
VERSIONS=(1.5.0-3 1.7.0-1)

bash "$(dirname "$0")/deb-src.sh" trixie sid

mkdir -p "$DEST"
for version in "${VERSIONS[@]}"; do
    upstream=${version%-*}
    out="$DEST/$upstream/usdt.c"
    if [ ! -s "$out" ]; then
        work=$(mktemp -d /tmp/usdtscan-libbpf.XXXXXX)
        if (cd "$work" && apt-get "${APT_OPTS[@]}" source --download-only "libbpf=$version" \
                >/dev/null 2>&1); then
            mkdir -p "$DEST/$upstream"
            tar -xOzf "$work/libbpf_$upstream.orig.tar.gz" --wildcards '*/src/usdt.c' >"$out.tmp" \
                && mv "$out.tmp" "$out"
            rm -f "$out.tmp"
        fi
        rm -rf "$work"
    fi
    if [ -s "$out" ]; then
        echo "$upstream $out"
    else
        echo "libbpf-source.sh: libbpf=$version not fetched" >&2
    fi
done
