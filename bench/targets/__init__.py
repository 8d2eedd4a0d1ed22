"""Targets: where artifacts are measured. Each implements `bench.targets.base.Target`; the one
measuring loop is `bench.session`. TARGETS names every kind (module:class), imported on use.

- host           this machine's CPU, one pinned core            (bench.targets.host)
- android-shell  a phone over ADB, bench_runner from `adb shell` (bench.targets.android)
- android-app    a phone over ADB, inside the benchmark app     (bench.targets.android)
- ssh            a Linux board over SSH, its fastest core        (bench.targets.ssh)
- peers          this host's pinned core: ours beside ONNX Runtime and PyTorch eager
                                                                (bench.targets.peers)
- ios            Core ML on an iPhone through Xcode, or this Mac (bench.targets.ios)
"""

from __future__ import annotations

import importlib

from bench.targets.base import Artifact, Measured, Target, Variant

TARGETS: dict[str, str] = {
    "host": "bench.targets.host:HostTarget",
    "android-shell": "bench.targets.android:AndroidShellTarget",
    "android-app": "bench.targets.android:AndroidAppTarget",
    "ssh": "bench.targets.ssh:SshTarget",
    "peers": "bench.targets.peers:PeersTarget",
    "ios": "bench.targets.ios:IosTarget",
}


def target_class(kind: str) -> type[Target]:
    """The Target class registered as `kind`."""
    module, _, name = TARGETS[kind].partition(":")
    cls: type[Target] = getattr(importlib.import_module(module), name)
    return cls


__all__ = ["TARGETS", "Artifact", "Measured", "Target", "Variant", "target_class"]
