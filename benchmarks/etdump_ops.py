"""Per-op XNNPACK time of two .pte files of one model (say fp32 vs int8), side by side.

Each file runs in bench_runner with `--etdump` (pinned, one thread), alternating A, B, A, B for
--rounds; the per-op p50 of each run is taken and the median over rounds printed, op by op
(aligned in execution order, Convert/Reshape left out of the pairing) and summed per op kind.

    python benchmarks/etdump_ops.py A.pte B.pte --input-file input.bin --rounds 3
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SKIP = ("Method::execute", "DELEGATE_CALL")


def profile(runner: str, pte: str, args: argparse.Namespace, out: Path) -> list[tuple[str, float]]:
    argv = ["taskset", "-c", str(args.core), runner, "--model", pte, "--threads", "1"]
    argv += ["--warmup", "3", "--iterations", str(args.iterations), "--etdump", str(out)]
    if args.input_file:
        argv += ["--input-file", args.input_file]
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    from executorch.devtools import Inspector

    inspector = Inspector(etdump_path=str(out))
    for block in inspector.event_blocks:
        if block.name == "Execute":
            return [
                (e.name, e.perf_data.p50)
                for e in block.events
                if e.perf_data and e.name not in SKIP
            ]
    raise SystemExit(f"no Execute block in the ETDump of {pte}")


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
        kinds: collections.Counter[str] = collections.Counter()
        for name, t in ops:
            kinds[re.sub(r" #\d+$", "", name)] += t
        total = sum(kinds.values())
        print(f"{pte}: {total:.3f} ms in ops (p50 per op, median of {args.rounds} runs)")
        for kind, t in kinds.most_common():
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
