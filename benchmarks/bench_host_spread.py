"""Run `bench-host` several times back to back and print the spread of the headline estimates.

    .nox/ml/bin/python benchmarks/bench_host_spread.py [--repeats 3] [--tolerance 0.03] \
        [-- <bench-host arguments, e.g. --models mobilenet_v2_1.0_224 --store /tmp/s.sqlite>]

Each invocation measures every artifact in rounds (fresh runner processes); its headline estimate
is the median of its round medians. Spread = (max - min) / median of the per-invocation
estimates, per artifact; the aim is 3%. Each invocation is a fresh `python -m bench bench-host`
process, so the spread covers invocation-to-invocation variation, not only iteration noise.
Exit 1 when an artifact's spread is above the tolerance, 2 when a bench-host invocation failed.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

from bench.store import Store


def _store_arg(args: list[str]) -> Path | None:
    for i, arg in enumerate(args):
        if arg == "--store" and i + 1 < len(args):
            return Path(args[i + 1])
        if arg.startswith("--store="):
            return Path(arg.split("=", 1)[1])
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tolerance", type=float, default=0.03)
    parser.add_argument("bench_args", nargs="*", help="arguments for bench-host (after --)")
    args = parser.parse_args(argv)
    bench_args = list(args.bench_args)
    tmp = None
    store_path = _store_arg(bench_args)
    if store_path is None:
        tmp = tempfile.TemporaryDirectory(prefix="bench-spread-")
        store_path = Path(tmp.name) / "bench.sqlite"
        bench_args += ["--store", str(store_path)]

    first_id = 0
    if store_path.exists():
        with Store.open(store_path) as store:
            first_id = max((r.id for r in store.runs()), default=0)

    for i in range(args.repeats):
        print(f"== bench-host run {i + 1}/{args.repeats}", flush=True)
        rc = subprocess.run([sys.executable, "-m", "bench", "bench-host", *bench_args]).returncode
        if rc != 0:
            print(f"error: bench-host run {i + 1} exited {rc}", file=sys.stderr)
            return 2

    rounds: dict[tuple[str, str], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    with Store.open(store_path) as store:
        for run in store.runs(status="ok", provenance="host"):
            if run.id > first_id:
                median = statistics.median(store.samples(run.id))
                rounds[(run.model, run.recipe)][run.session_id].append(median)
    medians = {
        key: [statistics.median(values) for values in sessions.values()]
        for key, sessions in rounds.items()
    }

    worst = 0.0
    print(
        f"\nspread of medians (of round medians) over {args.repeats} bench-host runs "
        "(this host's CPU)"
    )
    print(f"{'model':32} {'recipe':22} {'medians ms':30} spread")
    for (model, recipe), values in sorted(medians.items()):
        centre = statistics.median(values)
        spread = (max(values) - min(values)) / centre if centre > 0 else float("inf")
        worst = max(worst, spread)
        shown = " ".join(f"{v:.3f}" for v in values)
        flag = "" if spread <= args.tolerance else f"  > {args.tolerance:.0%}"
        print(f"{model:32} {recipe:22} {shown:30} {spread:6.2%}{flag}")
    print(f"worst spread {worst:.2%} (aim: within {args.tolerance:.0%})")
    if tmp is not None:
        tmp.cleanup()
    return 0 if worst <= args.tolerance else 1


if __name__ == "__main__":
    sys.exit(main())
