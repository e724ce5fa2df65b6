"""Packages and images read in place, built by the real tools from the fixtures.

``dpkg-deb`` (zstd, as Ubuntu builds them), ``rpmbuild`` (zstd payload, as
Fedora builds them), ``tar``, :mod:`zipfile`, ``umoci`` (an OCI layout with
a second layer that deletes one file and replaces another) and ``skopeo``
(the same image as a ``docker save`` tarball) make the packages; each
member's probes must be exactly those of the fixture file it was made
from.  A real Debian package, python3.11-minimal, is fetched with
``apt-get download`` and checked against ``dpkg-deb -x``.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tarfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import usdtscan
from usdtscan.packages import MAX_MEMBER, scan_archive
from usdtscan.render.checks import cpython_check_json

from .conftest import FIXTURE_BIN, run_usdtscan

EXE = FIXTURE_BIN / "x86_64" / "probes-O2"
LIB = FIXTURE_BIN / "x86_64-so" / "libprobes-O2.so"
PIE = FIXTURE_BIN / "x86_64-pie" / "probes-O2"
DEBS = Path(os.environ.get("USDTSCAN_DEBS", Path.home() / ".cache" / "usdtscan-debs"))
KEYS = ("provider", "name", "address", "file_offset", "semaphore_address", "args_raw")


def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return run_usdtscan(*args, timeout=timeout)


def sites_of(document: dict[str, Any]) -> list[list[Any]]:
    return [[site[k] for k in KEYS] for site in document["probes"]]


def listing(*args: str) -> tuple[dict[str, dict[str, Any]], subprocess.CompletedProcess[str]]:
    result = run("--json", *args)
    files = {f["path"]: f for f in json.loads(result.stdout)["files"]}
    return files, result


@pytest.fixture(scope="module")
def expected() -> dict[str, list[list[Any]]]:
    files, result = listing(str(EXE), str(LIB), str(PIE))
    assert result.returncode == 0, result.stderr
    return {
        "exe": sites_of(files[str(EXE)]),
        "lib": sites_of(files[str(LIB)]),
        "pie": sites_of(files[str(PIE)]),
    }


def need(tool: str) -> None:
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed (scripts/install-toolchains.sh)")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A root filesystem from the fixtures, and packages of it made by real tools."""
    top = tmp_path_factory.mktemp("packages")
    root = top / "root"
    (root / "usr" / "bin").mkdir(parents=True)
    (root / "usr" / "lib").mkdir(parents=True)
    shutil.copy(EXE, root / "usr/bin/fx-probes")
    shutil.copy(LIB, root / "usr/lib/libfx.so")
    (root / "usr/share").mkdir()
    (root / "usr/share/readme.txt").write_text("not an object file\n")
    yield top


def make_deb(top: Path) -> Path:
    need("dpkg-deb")
    tree = top / "debroot"
    if not tree.exists():
        shutil.copytree(top / "root", tree)
        (tree / "DEBIAN").mkdir()
        (tree / "DEBIAN/control").write_text(
            "Package: fx-probes\nVersion: 1.0\nArchitecture: amd64\n"
            "Maintainer: usdtscan <tests@example.org>\nDescription: fixture probes\n"
        )
    deb = top / "fx-probes_1.0_amd64.deb"
    subprocess.run(
        ["dpkg-deb", "-Zzstd", "--root-owner-group", "--build", str(tree), str(deb)],
        check=True,
        capture_output=True,
    )
    return deb


def make_dev_deb(top: Path) -> Path:
    """A -dev package holding the fixtures' static library."""
    need("dpkg-deb")
    deb = top / "fx-dev_1.0_amd64.deb"
    if deb.exists():
        return deb
    tree = top / "debroot-static"
    (tree / "usr/lib").mkdir(parents=True)
    shutil.copy(FIXTURE_BIN.parent / "archives" / "x86_64" / "libfx.a", tree / "usr/lib/libfx.a")
    (tree / "DEBIAN").mkdir()
    (tree / "DEBIAN/control").write_text(
        "Package: fx-dev\nVersion: 1.0\nArchitecture: amd64\n"
        "Maintainer: usdtscan <tests@example.org>\nDescription: fixture archive\n"
    )
    subprocess.run(
        ["dpkg-deb", "-Zxz", "--build", str(tree), str(deb)], check=True, capture_output=True
    )
    return deb


def make_rpm(top: Path) -> Path:
    need("rpmbuild")
    build = top / "rpmbuild"
    spec = build / "fx.spec"
    build.mkdir(exist_ok=True)
    spec.write_text(
        "Name: fx-probes\nVersion: 1.0\nRelease: 1\nSummary: fixture probes\nLicense: MIT\n"
        "BuildArch: x86_64\n%description\nThe usdtscan fixtures.\n%install\n"
        "mkdir -p %{buildroot}/usr/bin %{buildroot}/usr/lib\n"
        "cp %{fxroot}/usr/bin/fx-probes %{buildroot}/usr/bin/\n"
        "cp %{fxroot}/usr/lib/libfx.so %{buildroot}/usr/lib/\n"
        "ln %{buildroot}/usr/bin/fx-probes %{buildroot}/usr/bin/fx-probes-link\n"
        "%files\n/usr/bin/fx-probes\n/usr/bin/fx-probes-link\n/usr/lib/libfx.so\n"
    )
    defines = {
        "_topdir": str(build),
        "fxroot": str(top / "root"),
        "_binary_payload": "w19.zstdio",
        "__os_install_post": "%{nil}",
        "debug_package": "%{nil}",
    }
    command = ["rpmbuild", "-bb", "--quiet", "--nodeps"]
    for name, value in defines.items():
        command += ["--define", f"{name} {value}"]
    subprocess.run([*command, str(spec)], check=True, capture_output=True)
    (rpm,) = (build / "RPMS" / "x86_64").glob("*.rpm")
    return rpm


def make_oci(top: Path) -> Path:
    """Two layers: the second deletes usr/bin/doomed and replaces usr/lib/libfx.so by the PIE."""
    need("umoci")
    image = top / "oci"
    if image.exists():
        return image
    bundle = top / "bundle"

    def umoci(*args: str) -> None:
        subprocess.run(["umoci", *args], check=True, capture_output=True)

    umoci("init", "--layout", str(image))
    umoci("new", "--image", f"{image}:1.0")
    umoci("unpack", "--image", f"{image}:1.0", str(bundle))
    shutil.copytree(top / "root", bundle / "rootfs", dirs_exist_ok=True)
    shutil.copy(EXE, bundle / "rootfs/usr/bin/doomed")
    umoci("repack", "--image", f"{image}:1.0", str(bundle))
    shutil.rmtree(bundle)
    umoci("unpack", "--image", f"{image}:1.0", str(bundle))
    (bundle / "rootfs/usr/bin/doomed").unlink()
    shutil.copy(PIE, bundle / "rootfs/usr/lib/libfx.so")
    umoci("repack", "--image", f"{image}:1.0", str(bundle))
    shutil.rmtree(bundle)
    return image


def layer_digests(image: Path) -> list[str]:
    index = json.loads((image / "index.json").read_text())
    manifest_digest = index["manifests"][0]["digest"].split(":")[1]
    manifest = json.loads((image / "blobs/sha256" / manifest_digest).read_text())
    return [layer["digest"] for layer in manifest["layers"]]


def members(files: dict[str, dict[str, Any]], archive: Path) -> dict[str, dict[str, Any]]:
    prefix = f"{archive}!"
    return {path[len(prefix) :]: f for path, f in files.items() if path.startswith(prefix)}


# -- each format ---------------------------------------------------------------------


def test_deb_zstd_members_are_the_fixture_files(
    built: Path, expected: dict[str, list[list[Any]]]
) -> None:
    deb = make_deb(built)
    files, result = listing(str(deb))
    assert result.returncode == 0, result.stderr
    found = members(files, deb)
    assert sorted(found) == ["usr/bin/fx-probes", "usr/lib/libfx.so"]
    assert sites_of(found["usr/bin/fx-probes"]) == expected["exe"]
    assert sites_of(found["usr/lib/libfx.so"]) == expected["lib"]
    archive = found["usr/bin/fx-probes"]["archive"]
    assert archive == {
        "path": str(deb),
        "member": "usr/bin/fx-probes",
        "containers": ["data.tar.zst"],
        "image": None,
        "layer": None,
        "image_path": "/usr/bin/fx-probes",
    }


def test_rpm_with_zstd_payload(built: Path, expected: dict[str, list[list[Any]]]) -> None:
    rpm = make_rpm(built)
    files, result = listing(str(rpm))
    assert result.returncode == 0, result.stderr
    found = members(files, rpm)
    # The hard link carries the bytes (cpio puts them on the last link): listed once.
    assert sorted(found) == ["usr/bin/fx-probes-link", "usr/lib/libfx.so"]
    assert sites_of(found["usr/lib/libfx.so"]) == expected["lib"]
    assert sites_of(found["usr/bin/fx-probes-link"]) == expected["exe"]
    assert found["usr/lib/libfx.so"]["archive"]["containers"] == ["cpio.zstd"]
    query = subprocess.run(
        ["rpm", "-qp", "--qf", "%{PAYLOADCOMPRESSOR}", str(rpm)], capture_output=True, text=True
    )
    if query.returncode == 0:
        assert query.stdout == "zstd"


@pytest.mark.parametrize("suffix", [".tar", ".tar.gz", ".tar.xz", ".tar.bz2", ".tar.zst"])
def test_tarballs(built: Path, expected: dict[str, list[list[Any]]], suffix: str) -> None:
    need("tar")
    flags = {".tar": [], ".tar.gz": ["-z"], ".tar.xz": ["-J"], ".tar.bz2": ["-j"]}
    tarball = built / f"root{suffix}"
    compress = flags.get(suffix, ["--zstd"])
    subprocess.run(
        ["tar", *compress, "-cf", str(tarball), "-C", str(built / "root"), "."],
        check=True,
        capture_output=True,
    )
    files, result = listing(str(tarball))
    assert result.returncode == 0, result.stderr
    found = members(files, tarball)
    assert sites_of(found["usr/bin/fx-probes"]) == expected["exe"]
    assert sites_of(found["usr/lib/libfx.so"]) == expected["lib"]
    assert found["usr/lib/libfx.so"]["archive"]["image_path"] is None


@pytest.mark.parametrize("suffix", [".whl", ".zip"])
def test_wheel_and_zip(built: Path, expected: dict[str, list[list[Any]]], suffix: str) -> None:
    archive = built / f"fx_probes-1.0-cp311-cp311-linux_x86_64{suffix}"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as out:
        out.write(LIB, "fx_probes/_native.cpython-311-x86_64-linux-gnu.so")
        out.writestr("fx_probes-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\n")
    files, result = listing(str(archive))
    assert result.returncode == 0, result.stderr
    (only,) = members(files, archive).values()
    assert sites_of(only) == expected["lib"]


def test_oci_layout_follows_the_layers(built: Path, expected: dict[str, list[list[Any]]]) -> None:
    image = make_oci(built)
    files, result = listing(str(image))
    assert result.returncode == 0, result.stderr
    found = members(files, image)
    # doomed was deleted by the second layer (a whiteout); libfx.so replaced by the PIE.
    assert sorted(found) == ["usr/bin/fx-probes", "usr/lib/libfx.so"]
    assert sites_of(found["usr/lib/libfx.so"]) == expected["pie"]
    assert sites_of(found["usr/bin/fx-probes"]) == expected["exe"]
    first, second = layer_digests(image)
    assert found["usr/bin/fx-probes"]["archive"]["layer"] == first
    assert found["usr/lib/libfx.so"]["archive"]["layer"] == second
    assert found["usr/lib/libfx.so"]["archive"]["image"] == "1.0"
    assert found["usr/lib/libfx.so"]["archive"]["image_path"] == "/usr/lib/libfx.so"


def test_docker_save_and_oci_archive_tarballs(
    built: Path, expected: dict[str, list[list[Any]]]
) -> None:
    image = make_oci(built)
    oci_tar = built / "image-oci.tar"
    subprocess.run(["tar", "-cf", str(oci_tar), "-C", str(image), "."], check=True)
    tarballs = [oci_tar]
    if shutil.which("skopeo"):
        docker_tar = built / "image-docker.tar"
        docker_tar.unlink(missing_ok=True)
        subprocess.run(
            ["skopeo", "copy", "-q", f"oci:{image}:1.0", f"docker-archive:{docker_tar}:fx:1.0"],
            check=True,
            capture_output=True,
        )
        tarballs.append(docker_tar)
    for tarball in tarballs:
        files, result = listing(str(tarball))
        assert result.returncode == 0, result.stderr
        found = members(files, tarball)
        assert sorted(found) == ["usr/bin/fx-probes", "usr/lib/libfx.so"], tarball
        assert sites_of(found["usr/lib/libfx.so"]) == expected["pie"]
        layer = found["usr/lib/libfx.so"]["archive"]["layer"]
        assert layer is not None and layer.startswith("sha256:")
    if len(tarballs) == 2:
        docker = members(listing(str(tarballs[1]))[0], tarballs[1])
        assert docker["usr/lib/libfx.so"]["archive"]["image"] == "docker.io/library/fx:1.0"


def test_static_library_in_a_deb_is_read_member_by_member(built: Path) -> None:
    """A -dev package's libfoo.a goes through the same ar reader as the .deb itself."""
    library = FIXTURE_BIN.parent / "archives" / "x86_64" / "libfx.a"
    deb = make_dev_deb(built)
    files, result = listing(str(deb))
    assert result.returncode == 0, result.stderr
    found = members(files, deb)
    alone, _ = listing(str(library))
    assert sorted(found) == sorted(
        f"usr/lib/{path[len(str(library.parent)) + 1 :]}" for path in alone
    )
    for path, scanned in alone.items():
        inside = found[f"usr/lib/{path[len(str(library.parent)) + 1 :]}"]
        assert sites_of(inside) == sites_of(scanned) and scanned["probes"]
        assert inside["archive"]["containers"] == ["data.tar.xz"]
        # Symbol operands decode from the member's own symbol table.
        assert [p["args"] for p in inside["probes"]] == [p["args"] for p in scanned["probes"]]


def test_recursive_descends_into_archives_only_when_asked(built: Path) -> None:
    tree = built / "tree"
    tree.mkdir(exist_ok=True)
    shutil.copy(make_deb(built), tree)
    shutil.copy(EXE, tree / "plain")
    without, result = listing("-r", str(tree))
    assert result.returncode == 0, result.stderr
    assert list(without) == [str(tree / "plain")]
    with_archives, result = listing("-r", "--archives", str(tree))
    assert result.returncode == 0, result.stderr
    assert sorted(with_archives) == [
        str(tree / "fx-probes_1.0_amd64.deb!usr/bin/fx-probes"),
        str(tree / "fx-probes_1.0_amd64.deb!usr/lib/libfx.so"),
        str(tree / "plain"),
    ]


def test_api_scan_archive(built: Path) -> None:
    scanned = scan_archive(str(make_deb(built)))
    assert [s.member_of.member for s in scanned if s.member_of] == [
        "usr/bin/fx-probes",
        "usr/lib/libfx.so",
    ]
    # Symbol operands decode from the member's own symbol table, read while it was in memory.
    exe = scanned[0]
    assert exe.symbols is not None and exe.symbols.address_of("g_i8") is not None


# -- broken archives and bombs --------------------------------------------------------


def expect_one_error(result: subprocess.CompletedProcess[str], path: Path, reason: str) -> None:
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"usdtscan: {path}: "), lines
    assert reason in lines[0], lines
    assert "Traceback" not in result.stderr


def test_truncated_and_corrupt_archives(built: Path) -> None:
    deb = make_deb(built)
    data = deb.read_bytes()
    cases = {
        "cut.deb": (data[: len(data) * 2 // 3], ""),
        "bad-header.rpm": (b"\xed\xab\xee\xdb" + b"\0" * 92 + b"garbage!" * 4, "bad rpm"),
        "cut.rpm": (make_rpm(built).read_bytes()[:3000], ""),
        "cut.zip": (b"PK\x03\x04" + b"\0" * 40, "broken archive"),
        "junk.tar.gz": (b"\x1f\x8b\x08\x00" + b"\xff" * 64, ""),
    }
    for name, (content, reason) in cases.items():
        path = built / name
        path.write_bytes(content)
        result = run(str(path), str(EXE))
        expect_one_error(result, path, reason)
        assert f"{EXE}: x86_64" in result.stdout  # the other file is still listed


def _tar_with(member: tarfile.TarInfo, payload: bytes) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as archive:
        archive.addfile(member, io.BytesIO(payload))
    return out.getvalue()


def test_member_claiming_a_terabyte_is_refused_unread(built: Path) -> None:
    member = tarfile.TarInfo("usr/bin/huge")
    member.size = 8
    raw = bytearray(_tar_with(member, b"\x7fELF\x02\x01\x01\x00"))
    # Rewrite the size field (GNU base-256 for values past 8 GiB) to claim 1 TiB.
    size = 1 << 40
    raw[124:136] = b"\x80" + size.to_bytes(11, "big")
    checksum = sum(raw[:148]) + 8 * 32 + sum(raw[156:512])
    raw[148:156] = f"{checksum:06o}\0 ".encode()
    path = built / "terabyte.tar"
    path.write_bytes(bytes(raw))
    started = time.monotonic()
    result = run(str(path))
    assert time.monotonic() - started < 30
    assert result.returncode == 2
    assert f"usdtscan: {path}!usr/bin/huge: member claims {size} bytes" in result.stderr
    assert "Traceback" not in result.stderr


def test_compression_bomb_stops_early(built: Path) -> None:
    """A zstd tarball whose one member is 4 GiB of zeros (a few hundred KiB on disk)."""
    try:
        from compression import zstd  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        from backports import zstd  # type: ignore[no-redef,unused-ignore]
    path = built / "bomb.tar.zst"
    total = 4 << 30
    header = tarfile.TarInfo("zeros")
    header.size = total
    compressor = zstd.ZstdCompressor()
    with open(path, "wb") as out:
        out.write(compressor.compress(header.tobuf(format=tarfile.GNU_FORMAT)))
        block = bytes(1 << 24)
        for _ in range(total // len(block)):
            out.write(compressor.compress(block))
        out.write(compressor.flush())
    assert path.stat().st_size < 1 << 20
    started = time.monotonic()
    result = run(str(path))
    elapsed = time.monotonic() - started
    expect_one_error(result, path, "an archive bomb?")
    assert elapsed < 30


def test_deep_nesting_is_bounded(built: Path) -> None:
    payload = EXE.read_bytes()
    name = "probes"
    for level in range(12):
        member = tarfile.TarInfo(name)
        member.size = len(payload)
        payload = _tar_with(member, payload)
        name = f"level{level}.tar"
    path = built / "deep.tar"
    path.write_bytes(payload)
    result = run(str(path))
    assert "probes" not in result.stdout  # deeper than MAX_DEPTH: not opened
    assert result.returncode == 2
    nest = "!".join(f"level{i}.tar" for i in range(10, 5, -1))
    assert result.stderr.splitlines() == [
        f"usdtscan: {path}!{nest}: archives nested deeper than 4: not opened (an archive bomb?)"
    ]
    assert MAX_MEMBER >= 1 << 30


# -- a real Debian package -------------------------------------------------------------


@pytest.fixture(scope="module")
def python_deb() -> Path:
    """python3.11-minimal from Debian, fetched once with apt-get download."""
    DEBS.mkdir(parents=True, exist_ok=True)
    found = sorted(DEBS.glob("python3.11-minimal_*_amd64.deb"))
    if not found and shutil.which("apt-get"):
        subprocess.run(
            ["apt-get", "download", "-q", "python3.11-minimal:amd64"],
            cwd=DEBS,
            capture_output=True,
            timeout=300,
        )
        found = sorted(DEBS.glob("python3.11-minimal_*_amd64.deb"))
    if not found:
        pytest.skip("cannot apt-get download python3.11-minimal")
    return found[-1]


def test_real_debian_package_matches_dpkg_deb(python_deb: Path, tmp_path: Path) -> None:
    need("dpkg-deb")
    files, result = listing(str(python_deb))
    assert result.returncode == 0, result.stderr
    found = members(files, python_deb)
    assert sorted(found) == ["usr/bin/python3.11"]
    listed = found["usr/bin/python3.11"]
    assert listed["archive"]["containers"] == ["data.tar.xz"]
    assert len(listed["probes"]) == 8
    subprocess.run(["dpkg-deb", "-x", str(python_deb), str(tmp_path)], check=True)
    unpacked, _ = listing(str(tmp_path / "usr/bin/python3.11"))
    assert sites_of(listed) == sites_of(next(iter(unpacked.values())))


def test_check_cpython_on_a_real_deb(python_deb: Path) -> None:
    result = run("check", "--cpython", str(python_deb))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{python_deb}!usr/bin/python3.11: CPython 3.11." in result.stdout
    assert "OK: all 8 markers expected in 3.11 are present" in result.stdout
    # The command renders what the API returns (issue 13: every CLI output from Python).
    (checked,) = usdtscan.check_cpython_each(python_deb)
    assert (checked.path, checked.ok, checked.version) == (
        f"{python_deb}!usr/bin/python3.11",
        True,
        (3, 11),
    )
    assert checked.where is not None and checked.where.kind == "executable"
    as_json = run("check", "--cpython", "--json", str(python_deb))
    assert json.loads(as_json.stdout) == json.loads(json.dumps(cpython_check_json([checked])))


def test_check_cpython_on_an_archive_without_python(built: Path) -> None:
    deb = make_deb(built)
    result = run("check", "--cpython", str(deb))
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"usdtscan: {deb}: no CPython executable or libpython in this archive"
    )
    (checked,) = usdtscan.check_cpython_each(deb)
    assert (checked.status, checked.error) == (
        2,
        "no CPython executable or libpython in this archive",
    )


def test_macho_members_are_scanned_where_they_lie(tmp_path: Path) -> None:
    """The macOS node binary (DTrace DOF, real) inside a tarball, and a fat
    Mach-O inside a wheel: macholib is given the member's bytes, not a path."""
    macho = Path(os.environ.get("USDTSCAN_MACHO", Path.home() / ".cache" / "usdtscan-macho"))
    node = macho / "node-18.9.0-darwin-arm64"
    fat = macho / "markupsafe-2.1.5-universal2-_speedups.so"
    if not node.is_file() or not fat.is_file():
        pytest.skip("the Mach-O corpus is not fetched (../shared/macho/fetch)")
    tarball = tmp_path / "node.tar"
    with tarfile.open(tarball, "w") as archive:
        archive.add(node, "bin/node")
    wheel = tmp_path / "markupsafe.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.write(fat, "markupsafe/_speedups.cpython-311-darwin.so")
    files, result = listing(str(tarball), str(wheel), str(node), str(fat))
    assert result.returncode == 0, result.stderr
    member = files[f"{tarball}!bin/node"]
    assert member["format"] == "macho"
    assert len(member["probes"]) == 14
    assert sites_of(member) == sites_of(files[str(node)])
    inner = files[f"{wheel}!markupsafe/_speedups.cpython-311-darwin.so"]
    assert [s["arch"] for s in inner["slices"]] == [s["arch"] for s in files[str(fat)]["slices"]]
    assert len(inner["slices"]) == 2


def test_check_lints_each_member_of_a_package(built: Path) -> None:
    """``usdtscan check pkg.deb`` lints what the package holds, as the listing lists
    it; it said "not an ELF file".  The lint of a member equals the lint of the
    same file on disk."""
    deb = make_deb(built)
    done = run_usdtscan("check", "--json", str(deb))
    assert done.returncode == 0, done.stderr  # the fixtures have warnings, no error
    linted = {f["path"]: f for f in json.loads(done.stdout)["files"]}
    assert sorted(linted) == [f"{deb}!usr/bin/fx-probes", f"{deb}!usr/lib/libfx.so"]
    for member, alone in ((f"{deb}!usr/bin/fx-probes", EXE), (f"{deb}!usr/lib/libfx.so", LIB)):
        on_disk = json.loads(run_usdtscan("check", "--json", str(alone)).stdout)["files"][0]
        findings = [(f["id"], f["message"]) for f in linted[member]["findings"]]
        assert findings == [(f["id"], f["message"]) for f in on_disk["findings"]]
        assert findings  # the fixtures have findings to compare
    # The API gives the same results.
    api = usdtscan.lint_each(deb)
    assert [(r.path, len(r.findings)) for r in api] == [
        (path, len(linted[path]["findings"])) for path in sorted(linted)
    ]


def test_check_lints_a_static_library_inside_a_package(built: Path) -> None:
    deb = make_dev_deb(built)
    done = run_usdtscan("check", str(deb))
    names = [line.split(":", 1)[0] for line in done.stdout.splitlines() if line.startswith("/")]
    assert names == [
        f"{deb}!usr/lib/libfx.a({member})"
        for member in ("probes.o", "sem.o", "libprobes-with-a-long-member-name.o")
    ]


def test_check_of_a_real_debian_package(python_deb: Path) -> None:
    done = run_usdtscan("check", str(python_deb))
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.splitlines()[:2] == [
        f"{python_deb}!usr/bin/python3.11: x86_64 ELF64, 8 probes, 8 sites (8 nop)",
        "  OK: no error (0 warnings, 0 info)",
    ]


def test_check_of_a_broken_package_is_one_line(built: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut.deb"
    cut.write_bytes(make_deb(built).read_bytes()[:2000])
    done = run_usdtscan("check", str(cut), str(EXE))
    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"usdtscan: {cut}: ")
    assert f"{EXE}: x86_64 ELF64" in done.stdout  # the next file is still checked
