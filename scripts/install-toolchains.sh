#!/usr/bin/env bash
# Install the toolchains needed to (re)build and run the usdtscan test fixtures.
# Idempotent; run as root on Debian 12 (bookworm).
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
    echo "install-toolchains.sh: must be run as root" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive

PKGS=(
    systemtap-sdt-dev binutils binutils-multiarch gcc make python3 python3-venv
    # i386: gcc-multilib conflicts with the Debian cross compilers in
    # bookworm (gcc-12-multilib vs gcc-12-*-linux-gnu), so use the i686 cross
    # compiler instead; libc6-i386 provides /lib/ld-linux.so.2 so that the
    # i386 fixtures also run natively.
    gcc-i686-linux-gnu           libc6-dev-i386-cross
    libc6-i386
    # Debian cross compilers (+ their libc, normally pulled in as Depends)
    gcc-aarch64-linux-gnu        libc6-dev-arm64-cross
    gcc-arm-linux-gnueabihf      libc6-dev-armhf-cross
    gcc-s390x-linux-gnu          libc6-dev-s390x-cross
    gcc-powerpc64le-linux-gnu    libc6-dev-ppc64el-cross
    gcc-powerpc64-linux-gnu      libc6-dev-ppc64-cross
    gcc-riscv64-linux-gnu        libc6-dev-riscv64-cross
    gcc-mips64el-linux-gnuabi64  libc6-dev-mips64el-cross
    gcc-mips-linux-gnu           libc6-dev-mips-cross
    # running the fixtures
    qemu-user gdb-multiarch
    # checking the generated CPython scripts (stap -p2, bpftrace -d)
    systemtap bpftrace
    # tests/test_debuginfod.py: a real debuginfod server and elfutils' client
    debuginfod libarchive-tools  # bsdtar: debuginfod -U reads .deb files with it
    # tests/test_packages.py: packages and images made by the real tools
    rpm umoci skopeo
    # tests/test_consumer_proof.py: bcc's tplist and perf probe on every argument;
    # check --provider runs cpp
    bpfcc-tools linux-perf cpp
    # tests/test_attach.py: the attach specs checked by libbpf (clang builds the
    # BPF program), bcc's trace and perf probe
    libbpf-dev clang
)

# apt may be locked by another process (e.g. a concurrent 'apt-get update');
# wait for the lock instead of failing.
APT_OPTS=(-o DPkg::Lock::Timeout=600 -q)

missing=()
for p in "${PKGS[@]}"; do
    case "$p" in \#*) continue ;; esac
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
        missing+=("$p")
    fi
done

if [ "${#missing[@]}" -eq 0 ]; then
    echo "install-toolchains: all ${#PKGS[@]} packages already installed"
    exit 0
fi

echo "install-toolchains: installing ${#missing[@]} package(s): ${missing[*]}"
# A partially failed update (e.g. a mirror mid-sync for one foreign
# architecture) must not stop us: the package lists we need are usually fine.
apt-get "${APT_OPTS[@]}" update || echo "install-toolchains: warning: apt-get update reported errors, continuing" >&2
apt-get "${APT_OPTS[@]}" install -y --no-install-recommends "${missing[@]}"
echo "install-toolchains: done"
