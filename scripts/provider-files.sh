#!/usr/bin/env bash
# Fetch the DTrace provider files that `usdtscan check --provider` is tested
# against, from the Debian source packages of the corpus binaries, and print
# where each one is.  Only the .orig tarball is downloaded, one member is
# extracted, the tarball is deleted: the cache holds a few kilobytes.
#
#   postgresql-15 (bookworm)  src/backend/utils/probes.d
#   python3.11    (bookworm)  Include/pydtrace.d
#   python3.13    (trixie)    Include/pydtrace.d
#
# Usage: scripts/provider-files.sh [DEST]  (default ~/.cache/usdtscan-provider)
# Root is needed the first time, to add bookworm/trixie deb-src lines
# (scripts/deb-src.sh) and apt-get update.
# The copies committed in fixtures/provider/ came from this script.
set -euo pipefail
DEST=${1:-$HOME/.cache/usdtscan-provider}
APT_OPTS=(-o DPkg::Lock::Timeout=600 -q)
# package | suite | member inside the tarball's top directory
FILES=(
    "postgresql-15|bookworm|src/backend/utils/probes.d"
    "python3.11|bookworm|Include/pydtrace.d"
    "python3.13|trixie|Include/pydtrace.d"
)

bash "$(dirname "$0")/deb-src.sh" bookworm trixie

mkdir -p "$DEST"
for row in "${FILES[@]}"; do
    IFS='|' read -r package suite member <<<"$row"
    out="$DEST/$package/$(basename "$member")"
    if [ -s "$out" ]; then
        echo "$package $(cat "$DEST/$package/VERSION") $out"
        continue
    fi
    versions=$(apt-cache madison "$package" 2>/dev/null |
        awk -F'|' -v s=" $suite/main Sources" '$3 ~ s {gsub(/ /, "", $2); print $2}' |
        sort -rV) || true
    done_one=
    for version in $versions; do
        work=$(mktemp -d /tmp/usdtscan-provider.XXXXXX)
        if (cd "$work" && apt-get "${APT_OPTS[@]}" source --download-only "$package=$version" \
                >/dev/null 2>&1); then
            orig=$(ls "$work"/*.orig.tar.* 2>/dev/null | grep -v '\.asc$' | head -n1 || true)
            if [ -n "$orig" ]; then
                mkdir -p "$DEST/$package"
                if tar -xOf "$orig" --wildcards "*/$member" >"$out.tmp" 2>/dev/null && [ -s "$out.tmp" ]; then
                    mv "$out.tmp" "$out"
                    echo "$version" >"$DEST/$package/VERSION"
                    echo "$package $version $out"
                    done_one=1
                fi
                rm -f "$out.tmp"
            fi
        fi
        rm -rf "$work"
        [ -z "$done_one" ] || break
    done
    [ -n "$done_one" ] || echo "provider-files.sh: $package ($suite): $member not fetched" >&2
done
