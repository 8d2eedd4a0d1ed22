"""Per-op XNNPACK time of two .pte files of one model (say fp32 vs int8), side by side.

Each file runs in bench_runner with `--etdump` (pinned, one thread), alternating A, B, A, B for
--rounds, read with `bench.profile.etdump` (the library behind `--profile`; `python -m bench
profile` shows the mapped layers); the per-op p50 of each run is taken and the median over
rounds printed, op by op (aligned in execution order, Convert/Reshape left out of the
pairing) and summed per op kind.

    python benchmarks/etdump_ops.py A.pte B.pte --input-file input.bin --rounds 3
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def profile(runner: str, pte: str, args: argparse.Namespace, out: Path) -> list[tuple[str, float]]:
    """(XNNPACK op name, median ms over the warm iterations) of one ETDump profiling round."""
    from bench.profile.etdump import read_etdump
    from bench.profile.record import profiling_config
    from bench.runner.run import RunnerConfig, run_host

    config = profiling_config(RunnerConfig(warmup=3), args.iterations)
    input_file = Path(args.input_file) if args.input_file else None
    run_host(
        Path(runner), Path(pte), config, core=args.core, input_file=input_file, etdump_file=out
    )
    dump = read_etdump(out, skip=1 + config.warmup)
    return [(op.name, statistics.median(op.samples_ms)) for op in dump.ops]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("a")
    parser.add_argument("b")
    parser.add_argument("--input-file", default="")
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--core", type=int, default=sorted(os.sched_getaffinity(0))[-1])
    args = parser.parse_args()
    from bench.runner import build

    runner = str(build.build_host())
    runs: dict[str, list[list[tuple[str, float]]]] = {args.a: [], args.b: []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for i, pte in enumerate((args.a, args.b)):
                runs[pte].append(profile(runner, pte, args, Path(tmp) / f"{r}-{i}.etdp"))
    med = {
        pte: [
            (name, statistics.median(run[k][1] for run in rs)) for k, (name, _) in enumerate(rs[0])
        ]
        for pte, rs in runs.items()
    }
    for pte, ops in med.items():
        kinds: dict[str, float] = collections.defaultdict(float)
        for name, t in ops:
            kinds[re.sub(r" #\d+$", "", name)] += t
        total = sum(kinds.values())
        print(f"{pte}: {total:.3f} ms in ops (p50 per op, median of {args.rounds} runs)")
        for kind, t in sorted(kinds.items(), key=lambda kv: -kv[1]):
            print(f"  {kind:44s} {t:8.3f} {t / total:6.1%}")
    pair = [
        [(n, t) for n, t in med[p] if not n.startswith(("Convert", "Static Reshape"))] for p in med
    ]
    print(f"\n{'A op':44s} {'A ms':>7s}   {'B op':40s} {'B ms':>7s}  A/B")
    for (na, ta), (nb, tb) in zip(*pair, strict=False):
        print(f"{na[:44]:44s} {ta:7.3f}   {nb[:40]:40s} {tb:7.3f}  {ta / tb if tb else 0:4.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
