"""The native benchmark runner (bench_runner, C++) and its Python side.

- `build`: build the host runner and the self-contained arm64 bundle, cached
- `run`: start the host runner (pinned) -> RunnerResult
"""
