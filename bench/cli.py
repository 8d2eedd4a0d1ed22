"""`python -m bench <command>`: a thin wrapper over the importable API (see deploy.cli)."""

from __future__ import annotations

from deploy.cli import run_cli

COMMANDS: dict[str, tuple[str, str]] = {
    # name: (module, one-line help)
    "build-runner": (
        "bench.runner.cli",
        "build (or reuse) the native bench runner; --arm64 bundle",
    ),
    "bench-host": ("bench.host", "benchmark the manifest's artifacts on this host's CPU"),
    "bench-android": (
        "bench.android.cli",
        "benchmark the manifest's artifacts on one large core of Android phones over ADB",
    ),
    "bench-ssh": (
        "bench.ssh",
        "benchmark the manifest's artifacts on the fastest core of Linux boards over SSH",
    ),
    "bench-peers": (
        "bench.peers.bench",
        "PyTorch eager and ONNX Runtime beside our artifacts on this host, one thread",
    ),
    "bench-ios": ("bench.ios", "benchmark Core ML artifacts on an iPhone (macOS with Xcode)"),
    "evaluate": (
        "bench.accuracy.cli",
        "top-1 / top-5 of the artifacts on a labelled folder, beside eager fp32 and the papers",
    ),
    "profile": (
        "bench.profile.cli",
        "per-layer profiles (--profile): time, MAdds, GMAC/s, % of the core's peak; --devices",
    ),
    "sweep": (
        "bench.sweep.cli",
        "the papers' MobileNet grid on one device: latency vs top-1 frontier, pick for a budget",
    ),
    "compare": (
        "bench.report.cli",
        "compare latencies across devices and with the papers; --baseline: regression gate",
    ),
}


def main(argv: list[str] | None = None) -> int:
    return run_cli("python -m bench", COMMANDS, argv)
