"""Peer benchmark: the same models on other runtimes of this host, beside our ExecuTorch artifacts.

    nox -s bench-peers   (python -m bench bench-peers --models ... --iterations ...)

Runtimes (one thread each, one process per measurement, pinned to one core with taskset, the
same real image as input, the same statistics as bench_runner):

    eager-fp32   PyTorch eager, torch.set_num_threads(1), inference_mode      (peer)
    ort-fp32     ONNX Runtime CPU EP, the torch.onnx (dynamo) export           (peer)
    ort-int8     ONNX Runtime, static QDQ, per-channel int8 weights, u8 activations calibrated
                 on the same real images as our int8 recipe                   (peer)
    et-fp32      our `xnnpack-fp32` artifact in bench_runner                   (ours)
    et-int8      our `xnnpack-int8` artifact in bench_runner                   (ours)

Modules: `prepare` (peer models: state dict, ONNX fp32/int8, input file; cached by content),
`_measure` (the child process of one peer measurement, printing the runner result JSON),
`bench` (the command: prepare, then the one measuring loop `bench.session` over
`bench.targets.peers.PeersTarget`, then the tables of `bench.report.peers`: ratios ours / fastest
peer, GMAC/s, rendering).
Peer runs are stored with provenance `peer` and the runtime as the runner name; our runs with
provenance `host`, as bench-host stores them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Runtime:
    name: str  # what the store records as the recipe, e.g. "ort-int8"
    label: str  # table heading, e.g. "ORT int8"
    precision: str  # fp32 | int8
    engine: str  # pytorch | onnxruntime | executorch
    ours: bool = False
    recipe: str = ""  # the export recipe of our artifact (ours only)


RUNTIMES: dict[str, Runtime] = {
    r.name: r
    for r in (
        Runtime("eager-fp32", "eager fp32", "fp32", "pytorch"),
        Runtime("ort-fp32", "ORT fp32", "fp32", "onnxruntime"),
        Runtime("et-fp32", "ET fp32", "fp32", "executorch", ours=True, recipe="xnnpack-fp32"),
        Runtime("ort-int8", "ORT int8", "int8", "onnxruntime"),
        Runtime("et-int8", "ET int8", "int8", "executorch", ours=True, recipe="xnnpack-int8"),
    )
}
#: the order of the table's columns and of the runs within a round
ORDER = ("ort-fp32", "et-fp32", "ort-int8", "et-int8", "eager-fp32")
PEER_RUNTIMES = tuple(name for name, r in RUNTIMES.items() if not r.ours)
OUR_RUNTIMES = tuple(name for name, r in RUNTIMES.items() if r.ours)
# The goal: ours / fastest peer of the same precision at most this.
GOALS = {"fp32": 1.0, "int8": 0.9}
