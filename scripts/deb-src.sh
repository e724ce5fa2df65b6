#!/usr/bin/env bash
# Make Debian source indexes of the named suites available to apt-get source:
# the one place the test tiers' fetch scripts get their deb-src lines from
# (cpython-source.sh, libbpf-source.sh, provider-files.sh).
#
# Usage: scripts/deb-src.sh SUITE...   e.g. scripts/deb-src.sh trixie sid
# A suite some sources file already serves as deb-src is left alone; missing
# ones are added to /etc/apt/sources.list.d/usdtscan-deb-src.sources (source
# indexes only: no binary package of another suite becomes installable), and
# apt-get update runs once.  Needs root only when something is missing.
set -euo pipefail
SRC_LIST=/etc/apt/sources.list.d/usdtscan-deb-src.sources
APT_OPTS=(-o DPkg::Lock::Timeout=600 -q)

have_suite() {  # does a deb-src entry already serve suite $1?
    local file
    for file in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$file" ] && grep -qs -E "^deb-src .* $1( |$)" "$file" && return 0
    done
    for file in /etc/apt/sources.list.d/*.sources; do
        [ -f "$file" ] || continue
        # deb822 stanzas: Types and Suites of one stanza, blank-line separated.
        awk -v suite="$1" '
            /^Types:/ { src = ($0 ~ /deb-src/) }
            /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == suite) hit = 1 }
            /^$/ { if (src && hit) found = 1; src = hit = 0 }
            END { if (src && hit) found = 1; exit !found }
        ' "$file" && return 0
    done
    return 1
}

missing=()
for suite in "$@"; do
    have_suite "$suite" || missing+=("$suite")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
    echo "deb-src.sh: no deb-src lines for ${missing[*]} and not root" >&2
    exit 1
fi
# Keep the suites this file already names, add the missing ones.
suites=("${missing[@]}")
if [ -f "$SRC_LIST" ]; then
    read -r -a old <<< "$(sed -n 's/^Suites: *//p' "$SRC_LIST" | head -1)"
    suites=("${old[@]}" "${missing[@]}")
fi
cat > "$SRC_LIST" <<SOURCES
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: ${suites[*]}
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
apt-get "${APT_OPTS[@]}" update >&2 || echo "deb-src.sh: warning: apt-get update reported errors" >&2
