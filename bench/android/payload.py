"""What goes on a device to run bench_runner there, by ABI.

- arm64-v8a: the self-contained arm64 bundle (runner, lib/, glibc loader), started as
  `./ld-linux-aarch64.so.1 --library-path ./lib ./bench_runner ...` (Android has no glibc);
- x86_64 (our simulator; a glibc x86_64 system): the host build with its ExecuTorch libraries
  in lib/ (the runner's RUNPATH starts with $ORIGIN/lib), started as `./bench_runner ...`.

Each ABI has its own folder under our device root, so two payloads never overwrite each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bench.errors import AndroidBenchError
from bench.runner import build

ARM64 = "arm64-v8a"
X86_64 = "x86_64"
SUPPORTED_ABIS = (ARM64, X86_64)


@dataclass(frozen=True)
class RunnerPayload:
    """The runner files for one ABI: local file -> path relative to the payload folder."""

    abi: str
    files: dict[Path, str]
    command: tuple[str, ...]  # argv prefix, relative to the payload folder

    @property
    def folder(self) -> str:
        """The payload's folder name under our device root."""
        return f"bench-{self.abi}"

    @property
    def size_bytes(self) -> int:
        return sum(path.stat().st_size for path in self.files)


def arm64_payload() -> RunnerPayload:
    bundle = build.build_arm64_bundle()
    files = {
        path: path.relative_to(bundle.path).as_posix()
        for path in sorted(bundle.path.rglob("*"))
        if path.is_file() and not path.name.startswith(".")
    }
    return RunnerPayload(ARM64, files, tuple(bundle.command()))


def x86_64_payload() -> RunnerPayload:
    binary = build.build_host()
    lib = build.installed_executorch_root() / "lib"
    files = {binary: "bench_runner"}
    for name in build.RUNTIME_LIBS:
        if (lib / name).exists():
            files[(lib / name).resolve()] = f"lib/{name}"
    return RunnerPayload(X86_64, files, ("./bench_runner",))


def payload_for(abis: tuple[str, ...] | list[str], primary: str = "") -> RunnerPayload:
    """The payload for the best ABI the device runs (its primary ABI first)."""
    for abi in [primary, *abis]:
        if abi == ARM64:
            return arm64_payload()
        if abi == X86_64:
            return x86_64_payload()
    raise AndroidBenchError(
        f"no runner build for ABI {primary or '?'} (device ABIs: {', '.join(abis) or 'none'}); "
        f"bench-android supports {', '.join(SUPPORTED_ABIS)}"
    )
