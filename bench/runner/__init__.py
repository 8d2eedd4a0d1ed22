"""The native benchmark runner (bench_runner, C++) and its Python side.

- `build`: build the host runner and the self-contained arm64 bundle, cached
- `run`: start a runner (host, pinned; or the arm64 bundle under qemu) -> RunnerResult
"""
