#!/usr/bin/env bash
# Install usdtscan from this checkout into .venv: a plain (non-editable) install,
# the one the benchmarks and the README measure.
#
# A fresh Debian 12 machine may lack python3 or python3-venv (ensurepip); they are
# installed with apt-get as root, or through sudo when not root. Containers run as
# root without sudo, so sudo is used only when it is needed and present.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() {
    if [ "$(id -u)" = 0 ]; then
        "$@"
    elif command -v sudo > /dev/null; then
        sudo "$@"
    else
        echo "install.sh: not root and no sudo: cannot run '$*'" >&2
        return 1
    fi
}

if ! python3 -c 'import ensurepip, venv' 2> /dev/null; then
    echo "install.sh: installing python3 and python3-venv from Debian"
    as_root apt-get -q update
    as_root env DEBIAN_FRONTEND=noninteractive apt-get -q install -y --no-install-recommends \
        python3 python3-venv
fi
python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check .
