"""Per-inference CPU time of .pte artifacts and ONNX peers, robust to a shared, busy machine.

Wall-clock medians on a 2-core machine shared with other jobs stretch by however much the
scheduler takes away; CPU time does not. Each contender runs twice in its own pinned process,
with N1 and N2 measured iterations; (cpu(N2) - cpu(N1)) / (N2 - N1) is the CPU time of one
inference (load, warmup and start-up cancel out). Contenders are interleaved (ABAB...) over
--rounds, and the median over rounds is printed with its ratio to the first contender.

    python benchmarks/peers_cpu_time.py --pte a.pte b.pte --onnx int8.onnx \
        --input-file build/peers/<model>-<key>/input.bin --shape 1,3,224,224 --rounds 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def cpu_seconds(argv: list[str]) -> float:
    """User + system CPU seconds of one child process (and its threads)."""
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise SystemExit(f"{' '.join(argv[:6])}... failed (status {status})")
    return usage.ru_utime + usage.ru_stime


def argv_for(kind: str, path: str, n: int, args: argparse.Namespace, core: int) -> list[str]:
    pin = ["taskset", "-c", str(core)]
    if kind == "pte":
        from bench.runner import build

        runner = str(build.build_host())
        argv = [*pin, runner, "--model", path, "--threads", "1", "--warmup", "3"]
        argv += ["--iterations", str(n), "--max-iterations", str(n)]
        if args.input_file:
            argv += ["--input-file", args.input_file]
        return argv
    runtime = "ort-int8" if kind == "onnx" else "eager-fp32"
    argv = [*pin, sys.executable, "-m", "bench.peers._measure", "--runtime", runtime]
    argv += ["--file", path, "--input-file", args.input_file, "--shape", args.shape]
    return argv + ["--warmup", "3", "--iterations", str(n), "--max-iterations", str(n)]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pte", nargs="*", default=[])
    parser.add_argument("--onnx", nargs="*", default=[])
    parser.add_argument("--input-file", default="")
    parser.add_argument("--shape", default="1,3,224,224")
    parser.add_argument("--n1", type=int, default=10)
    parser.add_argument("--n2", type=int, default=110)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--core", type=int, default=sorted(os.sched_getaffinity(0))[-1])
    args = parser.parse_args()
    contenders = [("pte", p) for p in args.pte] + [("onnx", p) for p in args.onnx]
    per_iter: dict[str, list[float]] = {path: [] for _, path in contenders}
    for r in range(args.rounds):
        for kind, path in contenders:
            a = cpu_seconds(argv_for(kind, path, args.n1, args, args.core))
            b = cpu_seconds(argv_for(kind, path, args.n2, args, args.core))
            per_iter[path].append((b - a) / (args.n2 - args.n1) * 1e3)
        print(f"round {r + 1}: " + "  ".join(f"{v[-1]:.3f}" for v in per_iter.values()), flush=True)
    first = statistics.median(per_iter[contenders[0][1]])
    for _kind, path in contenders:
        med = statistics.median(per_iter[path])
        print(f"{med:8.3f} ms CPU/inference  x{med / first:.3f}  {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
