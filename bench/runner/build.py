"""Build bench_runner from the RELEASED executorch wheels, cached by what went into it.

- host: x86_64 (or whatever this machine is) against the installed wheel ->
  build/runner/host-<arch>/bench_runner
- arm64: cross-compiled with Debian's g++-aarch64-linux-gnu against the unpacked
  manylinux_2_28_aarch64 wheel, then packed into a self-contained bundle ->
  build/runner/bundle-arm64/{bench_runner, ld-linux-aarch64.so.1, lib/, run.sh, BUNDLE.json}

A build folder holds a `build-key` file: the sha256 of the runner sources, the executorch
version and the toolchain (compiler + CMake versions). Same key and the binary is there -> no
rebuild. CMake >= 3.28 and ninja come from PyPI (the `dev` extras), found beside the Python
that runs this module before PATH.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.metadata
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench.errors import RunnerBuildError

SOURCE_DIR = Path(__file__).resolve().parent
SOURCES = (
    "CMakeLists.txt",
    "VERSION",
    "bench_runner.cpp",
    "sha256.cpp",
    "sha256.h",
    "toolchain-aarch64-linux-gnu.cmake",
)
CMAKE_MIN = (3, 28)
ARM64_PLATFORM = "manylinux_2_28_aarch64"
ARM64_SYSROOT = Path("/usr/aarch64-linux-gnu")
ARM64_CXX = "aarch64-linux-gnu-g++"
# The wheel's runtime libraries the runner links (ETDump included for --etdump).
RUNTIME_LIBS = (
    "libexecutorch.so",
    "libexecutorch_threadpool.so",
    "libexecutorch_kernels_optimized.so",
    "libexecutorch_kernels_quantized.so",
    "libexecutorch_backend_xnnpack.so",
    "libexecutorch_etdump.so",
)
LOADER = "ld-linux-aarch64.so.1"


def runner_version() -> str:
    return (SOURCE_DIR / "VERSION").read_text().strip()


def project_root() -> Path:
    return SOURCE_DIR.parents[1]


def build_root() -> Path:
    """Where builds go: $BENCH_BUILD_DIR, else <project>/build/runner (gitignored)."""
    env = os.environ.get("BENCH_BUILD_DIR")
    return Path(env) if env else project_root() / "build" / "runner"


def executorch_version() -> str:
    try:
        return importlib.metadata.version("executorch")
    except importlib.metadata.PackageNotFoundError:
        raise RunnerBuildError(
            "executorch is not installed in this Python; run through nox (the .nox/ml env)"
        ) from None


def installed_executorch_root() -> Path:
    import executorch  # the installed wheel: its folder holds include/, lib/, share/cmake

    for folder in executorch.__path__:  # a namespace package: no __file__
        root = Path(folder).resolve()
        if (root / "share" / "cmake" / "executorch-config.cmake").exists():
            return root
    raise RunnerBuildError(
        f"no share/cmake/executorch-config.cmake under {list(executorch.__path__)}; "
        "reinstall the executorch wheel"
    )


def _tool(name: str) -> str:
    """A tool beside this Python (the venv's PyPI cmake/ninja) first, then PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise RunnerBuildError(
            f"{name} not found; install the dev extras (pip install cmake ninja)"
        )
    return found


def _version_line(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise RunnerBuildError(f"cannot run {' '.join(cmd)}: {exc}") from None
    return out.splitlines()[0].strip() if out else ""


def cmake() -> str:
    exe = _tool("cmake")
    line = _version_line([exe, "--version"])
    match = re.search(r"(\d+)\.(\d+)", line)
    if not match or (int(match[1]), int(match[2])) < CMAKE_MIN:
        raise RunnerBuildError(
            f"{exe} is '{line}', need CMake >= 3.28 (the wheel's imported targets need it); "
            "pip install 'cmake>=3.28'"
        )
    return exe


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """One build per folder at a time (parallel test workers, two shells)."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def build_key(target: str, compiler: str, extra: str = "") -> str:
    digest = hashlib.sha256()
    for name in SOURCES:
        digest.update(name.encode() + b"\0" + (SOURCE_DIR / name).read_bytes() + b"\0")
    for part in (target, executorch_version(), _version_line([compiler, "--version"]), extra):
        digest.update(part.encode() + b"\0")
    return digest.hexdigest()


def _cmake_build(build_dir: Path, defines: dict[str, str], key: str, log: Path) -> None:
    exe = cmake()
    ninja = _tool("ninja")
    cmd = [exe, "-S", str(SOURCE_DIR), "-B", str(build_dir), "-G", "Ninja"]
    cmd += [f"-DCMAKE_MAKE_PROGRAM={ninja}", "-DCMAKE_BUILD_TYPE=Release"]
    cmd += [f"-D{k}={v}" for k, v in defines.items()]
    (build_dir / "build-key").unlink(missing_ok=True)
    with open(log, "w") as out:
        for step in (cmd, [exe, "--build", str(build_dir)]):
            out.write("$ " + " ".join(step) + "\n")
            out.flush()
            rc = subprocess.run(step, stdout=out, stderr=subprocess.STDOUT).returncode
            if rc != 0:
                raise RunnerBuildError(
                    f"runner build failed ({' '.join(step[:2])}...): see {log} ({_last_error(log)})"
                )
    (build_dir / "build-key").write_text(key)


def _last_error(log: Path) -> str:
    lines = [ln.strip() for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    errors = [ln for ln in lines if "error" in ln.lower()]
    return (errors or lines or ["no output"])[0][:200]


def host_build_dir() -> Path:
    return build_root() / f"host-{platform.machine()}"


def build_host(force: bool = False) -> Path:
    """Build (or reuse) the host runner; return the binary's path."""
    build_dir = host_build_dir()
    compiler = os.environ.get("CXX") or shutil.which("c++") or "c++"
    with _locked(build_dir):
        key = build_key(f"host-{platform.machine()}", compiler)
        binary = build_dir / "bench_runner"
        if not force and binary.exists() and _read(build_dir / "build-key") == key:
            return binary
        root = installed_executorch_root()
        _cmake_build(
            build_dir,
            {"EXECUTORCH_ROOT": str(root), "CMAKE_CXX_COMPILER": compiler},
            key,
            build_dir / "build.log",
        )
        return binary


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


# -- arm64 ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bundle:
    """A self-contained arm64 runner folder: run `./run.sh` (or the loader line) inside it."""

    path: Path

    @property
    def runner(self) -> Path:
        return self.path / "bench_runner"

    def command(self) -> list[str]:
        """argv to start the runner with the bundle folder as working directory."""
        return [f"./{LOADER}", "--library-path", "./lib", "./bench_runner"]


def aarch64_wheel(version: str | None = None) -> Path:
    """The manylinux aarch64 executorch wheel, downloaded once into build/runner/wheels."""
    version = version or executorch_version()
    folder = build_root() / "wheels"
    folder.mkdir(parents=True, exist_ok=True)
    pattern = f"executorch-{version}-cp311-cp311-*aarch64*.whl"
    found = sorted(folder.glob(pattern))
    if found:
        return found[0]
    cmd = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", "download"]
    cmd += ["--only-binary=:all:", "--platform", ARM64_PLATFORM, "--python-version", "3.11"]
    cmd += ["--no-deps", f"executorch=={version}", "-d", str(folder)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    found = sorted(folder.glob(pattern))
    if proc.returncode != 0 or not found:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise RunnerBuildError(f"cannot download the aarch64 executorch=={version} wheel: {last}")
    return found[0]


def _unpack_wheel(wheel: Path, dest: Path) -> Path:
    """Unpack the wheel's include/, lib/ and share/ (what a C++ consumer needs)."""
    stamp = dest / ".unpacked-from"
    root = dest / "executorch"
    if _read(stamp) == wheel.name and (root / "share" / "cmake").exists():
        return root
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    keep = ("executorch/include/", "executorch/lib/", "executorch/share/")
    with zipfile.ZipFile(wheel) as archive:
        for info in archive.infolist():
            if info.filename.startswith(keep) and not info.is_dir():
                archive.extract(info, dest)
                mode = (info.external_attr >> 16) & 0o777
                if mode:
                    os.chmod(dest / info.filename, mode)
    stamp.write_text(wheel.name)
    return root


def _needed(elf: Path) -> list[str]:
    out = subprocess.run(
        ["readelf", "-d", str(elf)], capture_output=True, text=True, check=False
    ).stdout
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)


def build_arm64_bundle(force: bool = False, sysroot: Path = ARM64_SYSROOT) -> Bundle:
    """Cross-compile the runner for arm64 glibc and pack it with every library it loads."""
    if shutil.which(ARM64_CXX) is None:
        raise RunnerBuildError(
            f"{ARM64_CXX} not found; apt-get install g++-aarch64-linux-gnu (see .ci/run)"
        )
    if shutil.which("readelf") is None:
        raise RunnerBuildError("readelf not found; apt-get install binutils")
    root = build_root()
    build_dir = root / "arm64-linux-gnu"
    bundle_dir = root / "bundle-arm64"
    with _locked(build_dir):
        wheel = aarch64_wheel()
        key = build_key("arm64-linux-gnu", ARM64_CXX, extra=wheel.name)
        if (
            not force
            and _read(build_dir / "build-key") == key
            and _read(bundle_dir / ".bundle-key") == key
            and (bundle_dir / "bench_runner").exists()
        ):
            return Bundle(bundle_dir)
        et_root = _unpack_wheel(wheel, root / "wheel-aarch64")
        _cmake_build(
            build_dir,
            {
                "CMAKE_TOOLCHAIN_FILE": str(SOURCE_DIR / "toolchain-aarch64-linux-gnu.cmake"),
                "EXECUTORCH_ROOT": str(et_root),
            },
            key,
            build_dir / "build.log",
        )
        _pack_bundle(build_dir / "bench_runner", et_root / "lib", sysroot, bundle_dir, wheel)
        (bundle_dir / ".bundle-key").write_text(key)
        return Bundle(bundle_dir)


RUN_SH = """#!/bin/sh
# Start bench_runner with the glibc loader shipped here (Android has no glibc).
cd "$(dirname "$0")" || exit 1
exec ./ld-linux-aarch64.so.1 --library-path ./lib ./bench_runner "$@"
"""


def _pack_bundle(binary: Path, wheel_lib: Path, sysroot: Path, dest: Path, wheel: Path) -> None:
    shutil.rmtree(dest, ignore_errors=True)
    (dest / "lib").mkdir(parents=True)
    shutil.copy2(binary, dest / "bench_runner")
    search = [wheel_lib, sysroot / "lib", sysroot / "lib64"]
    pending = [dest / "bench_runner"]
    seen: set[str] = set()
    while pending:
        for name in _needed(pending.pop()):
            if name in seen or name == LOADER:  # the loader goes beside the runner
                continue
            seen.add(name)
            source = next((d / name for d in search if (d / name).exists()), None)
            if source is None:
                raise RunnerBuildError(f"bundle: {name} not found in {[str(d) for d in search]}")
            target = dest / "lib" / name
            shutil.copy2(source.resolve(), target)
            pending.append(target)
    loader = sysroot / "lib" / LOADER
    if not loader.exists():
        raise RunnerBuildError(f"bundle: {loader} missing; apt-get install g++-aarch64-linux-gnu")
    shutil.copy2(loader.resolve(), dest / LOADER)
    (dest / "run.sh").write_text(RUN_SH)
    (dest / "run.sh").chmod(0o755)
    files = sorted(p for p in dest.rglob("*") if p.is_file())
    info = {
        "runner_version": runner_version(),
        "executorch_wheel": wheel.name,
        "usage": f"./{LOADER} --library-path ./lib ./bench_runner --model M.pte",
        "files": {
            str(p.relative_to(dest)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files
        },
        "size_bytes": sum(p.stat().st_size for p in files),
    }
    (dest / "BUNDLE.json").write_text(json.dumps(info, indent=1, sort_keys=True) + "\n")
