#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 checkout (this is what .ci/run runs).
#
# As root it first installs what the tests need from Debian (binutils for the
# readelf oracle, the cross toolchains, qemu-user and gdb-multiarch) and
# fetches the real-binary corpus from ../shared/corpus into
# ${USDTSCAN_CORPUS:-~/.cache/usdtscan-corpus} (idempotent, cached).  Then it
# makes a virtualenv in .venv with the test, lint and docs extras and runs
# pytest; arguments are passed to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

corpus=${USDTSCAN_CORPUS:-$HOME/.cache/usdtscan-corpus}
if [ "$(id -u)" = 0 ]; then
    bash scripts/install-toolchains.sh
    if [ -f ../shared/corpus/fetch ]; then
        bash ../shared/corpus/fetch "$corpus" > "${TMPDIR:-/tmp}/usdtscan-corpus-fetch.log" 2>&1 \
            || echo "test.sh: corpus fetch reported errors (see ${TMPDIR:-/tmp}/usdtscan-corpus-fetch.log)"
        tail -1 "${TMPDIR:-/tmp}/usdtscan-corpus-fetch.log" || true
    fi
else
    echo "test.sh: not root, so no apt installs and no corpus fetch; those tiers may skip"
fi

python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test,lint,docs]'
export USDTSCAN_CORPUS="$corpus"
exec .venv/bin/python -m pytest "$@"
