"""One peer measurement in its own process: load, first inference, warmups, measured iterations.

    python -m bench.peers._measure --runtime ort-int8 --file int8.onnx --input-file input.bin \
        --shape 1,3,224,224 --warmup 10 --iterations 50 [--min-time 2 --max-time 30 \
        --target-precision 0.01]

Prints ONE line: the runner result JSON (bench/results.py, schema 1) with runner.name the
runtime's engine, so the parent validates and stores it exactly like a bench_runner result. The
stopping rule is the runner's: at least `iterations` and `min-time`, then until the median's CI
is within the target precision, or the time budget ends. The parent pins the process with
taskset; here every runtime is held to one thread.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from deploy.artifacts.hashing import sha256_file

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

SCHEMA_VERSION = 1


def load_ort(path: Path, image: np.ndarray) -> tuple[Callable[[], np.ndarray], dict[str, Any]]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    feed = {name: image}

    def forward() -> np.ndarray:
        return session.run(None, feed)[0]

    return forward, {"name": "onnxruntime", "version": ort.__version__, "provider": "CPU"}


def load_eager(path: Path, image: np.ndarray) -> tuple[Callable[[], np.ndarray], dict[str, Any]]:
    import torch

    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    from deploy.models.families import create_architecture

    saved = torch.load(path, map_location="cpu", weights_only=True)
    # a file saved before class counts were recorded holds an ImageNet (1000-class) model
    module = create_architecture(saved["family"], saved["width"], saved.get("num_classes", 1000))
    module.load_state_dict(saved["state_dict"])
    module.eval()
    x = torch.from_numpy(image)

    def forward() -> np.ndarray:
        with torch.inference_mode():
            return module(x).numpy()

    return forward, {"name": "pytorch-eager", "version": torch.__version__}


LOADERS = {"eager-fp32": load_eager, "ort-fp32": load_ort, "ort-int8": load_ort}


def _rel_halfwidth(samples: list[float]) -> float:
    from bench.stats import rel_ci_halfwidth

    return rel_ci_halfwidth(samples)


def measure(args: argparse.Namespace) -> dict[str, Any]:
    shape = tuple(int(s) for s in args.shape.split(","))
    raw = Path(args.input_file).read_bytes()
    image = np.frombuffer(raw, dtype=np.float32).reshape(shape).copy()
    cpu_start = os.sched_getcpu() if hasattr(os, "sched_getcpu") else -1
    start = time.perf_counter()
    forward, runner = LOADERS[args.runtime](Path(args.file), image)
    load_ms = (time.perf_counter() - start) * 1e3

    def once() -> float:
        t0 = time.perf_counter_ns()
        forward()
        return (time.perf_counter_ns() - t0) / 1e6

    first_ms = once()
    warmup_ms = [once() for _ in range(args.warmup)]
    samples: list[float] = []
    stop = ""
    t_measure = time.perf_counter()
    while True:
        samples.append(once())
        elapsed = time.perf_counter() - t_measure
        n = len(samples)
        if n >= args.max_iterations:
            stop = "max_iterations"
            break
        if args.max_time > 0 and elapsed >= args.max_time:
            stop = "time_budget"
            break
        if n < args.iterations or elapsed < args.min_time:
            continue
        if args.target_precision <= 0:
            stop = "min_time" if args.min_time > 0 else "iterations"
            break
        if n % 10 == 0 and _rel_halfwidth(samples) <= args.target_precision:
            stop = "precision"
            break
    out = np.asarray(forward(), dtype=np.float64).ravel()
    affinity = sorted(os.sched_getaffinity(0))
    return {
        "schema_version": SCHEMA_VERSION,
        "runner": {**runner, "executorch_version": ""},
        "artifact": {"sha256": sha256_file(Path(args.file)), "path": str(args.file)},
        "config": {
            "threads": 1,
            "cpu_mask": hex(sum(1 << c for c in affinity)),
            "warmup": args.warmup,
            "iterations": len(samples),
            "min_iterations": args.iterations,
            "min_time_s": args.min_time,
            "max_time_s": args.max_time,
            "target_precision": args.target_precision,
            "stop_reason": stop,
            "runtime": args.runtime,
            "input": f"file:{args.input_file}",
            "input_shape": list(shape),
        },
        "load_ms": load_ms,
        "first_inference_ms": first_ms,
        "warmup_ms": warmup_ms,
        "samples_ms": samples,
        "output": {
            "checksum": float(out.sum()),
            "abs_sum": float(np.abs(out).sum()),
            "top1": int(out.argmax()),
            "numel": int(out.size),
            "dtype": "float32",
        },
        "device": {
            "cpu_start": cpu_start,
            "cpu_end": os.sched_getcpu() if hasattr(os, "sched_getcpu") else -1,
            "affinity": affinity,
            "pid": os.getpid(),
        },
        "emulated": False,
    }


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.peers._measure")
    parser.add_argument("--runtime", required=True, choices=sorted(LOADERS))
    parser.add_argument("--file", required=True, help=".onnx, or the eager state dict (.pt)")
    parser.add_argument("--input-file", required=True, help="float32 raw bytes of the input")
    parser.add_argument("--shape", required=True, help="input shape, e.g. 1,3,224,224")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--iterations", type=int, default=50)
    parser.add_argument("--max-iterations", type=int, default=100000)
    parser.add_argument("--min-time", type=float, default=0.0)
    parser.add_argument("--max-time", type=float, default=0.0)
    parser.add_argument("--target-precision", type=float, default=0.0)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    try:
        result = measure(args)
    except Exception as exc:  # the parent reads the last stderr line as the reason
        print(f"error: {args.runtime} on {args.file}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
