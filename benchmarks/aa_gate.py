"""Does the gate cry wolf? A/A and A/B pairs on this host, decided by the rule on rounds.

    .nox/ml/bin/python benchmarks/aa_gate.py [--pairs 6] [--rounds 5] [--hogged 2]

Every pair is two sides measured back to back, each side a fresh bench session of `--rounds`
rounds (fresh runner processes) on the last CPU, stored in its own SQLite file, then decided
by the rule `nox -s compare -- --baseline` uses (`bench.compare.decisions`: the CI of the ratio of
round medians against the threshold, and the machine-state guard):

- A/A: the same artifact on both sides. In `--hogged` of them a CPU hog runs pinned to the
  measured core during side B. The target: no "regression" (the loaded ones come out "same" or
  "inconclusive").
- A/B: MobileNetV3-Small at 224 on side A and at 240 on side B (about 15% more multiply-adds),
  fp32 XNNPACK, exported by the project's pipeline into build/aa_gate/ (cached). The target: at
  least 5 of 6 detected as "regression" on a quiet machine.

Figures are THIS HOST's CPU (provenance host, not a phone): the header names the CPU and its int8
features. Exit 0 when both targets are met, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from bench.compare.decisions import decide_ab
from bench.compare.measurements import measurements_from_store
from bench.runner import build
from bench.runner.run import RunnerConfig
from bench.session import run_session
from bench.store import ArtifactRecord
from bench.targets.base import Artifact
from bench.targets.host import HostTarget, cpu_model, default_core, int8_dot_features

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("mobilenet_v3_small_1.0_224", "mobilenet_v3_small_1.0_240")
RECIPE = "xnnpack-fp32"


def export_pair(out: Path) -> list[Artifact]:
    """The two artifacts (224, 240), through the project's own export pipeline (cached)."""
    from deploy.artifacts.manifest import Manifest
    from deploy.export import export_many, parse_recipes
    from deploy.models import parse_model_name

    specs = [parse_model_name(name) for name in MODELS]
    export_many(specs, parse_recipes([RECIPE]), out_dir=out)
    manifest = Manifest.load(out / "manifest.json")
    found = {e.model_name: e for e in manifest.valid_entries() if e.recipe_name == RECIPE}
    return [
        Artifact(ArtifactRecord.from_manifest_entry(found[name]), manifest.path_of(found[name]))
        for name in MODELS
    ]


def side(
    artifact: Artifact, store: Path, config: RunnerConfig, rounds: int, runner: Path, core: int
) -> None:
    target = HostTarget(core, runner)
    (outcome,) = run_session([target], [artifact], config, store, rounds=rounds, skip_stored=False)
    if outcome.failed:
        raise SystemExit(f"error: {artifact.record.model}: {outcome.error or outcome.rows}")


def hog(core: int) -> subprocess.Popen[bytes]:
    """A busy loop pinned to `core` (what a neighbour's job does to the measured core)."""
    code = f"import os\nos.sched_setaffinity(0, {{{core}}})\nwhile True:\n    pass\n"
    return subprocess.Popen([sys.executable, "-c", code])


def decide(store_a: Path, store_b: Path) -> tuple[str, str]:
    (a,) = measurements_from_store(store_a)
    (b,) = measurements_from_store(store_b)
    found = decide_ab(a, b)
    return found.verdict, found.reason


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=6, help="A/A pairs, and A/B pairs")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--hogged", type=int, default=2, help="A/A pairs with a hog on side B")
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--min-time", type=float, default=1.0)
    args = parser.parse_args(argv)

    core = default_core()
    features = ", ".join(int8_dot_features()) or "none"
    print(f"aa_gate on THIS HOST (provenance host, not a phone): {cpu_model()}, core {core}, ")
    print(f"int8 dot-product features: {features}; {os.cpu_count()} CPUs; rounds {args.rounds}")
    runner = build.build_host()
    artifacts = export_pair(ROOT / "build" / "aa_gate")
    config = RunnerConfig(
        warmup=5, iterations=args.iterations, min_time_s=args.min_time, max_time_s=10.0
    )
    verdicts: dict[str, Counter[str]] = {"A/A quiet": Counter(), "A/A hogged": Counter()}
    verdicts["A/B"] = Counter()
    with tempfile.TemporaryDirectory(prefix="aa-gate-") as tmp:
        for index in range(args.pairs * 2):
            ab = index % 2 == 1  # alternate A/A and A/B, so drift over time hits both kinds
            number = index // 2
            hogged = not ab and number < args.hogged
            kind = "A/B" if ab else "A/A hogged" if hogged else "A/A quiet"
            store_a, store_b = Path(tmp) / f"{index}a.sqlite", Path(tmp) / f"{index}b.sqlite"
            side(artifacts[0], store_a, config, args.rounds, runner, core)
            busy = hog(core) if hogged else None
            try:
                side(artifacts[1 if ab else 0], store_b, config, args.rounds, runner, core)
            finally:
                if busy is not None:
                    busy.kill()
                    busy.wait()
            verdict, reason = decide(store_a, store_b)
            verdicts[kind][verdict] += 1
            print(f"pair {index + 1:2d} {kind:10s} {verdict:13s} {reason}", flush=True)
    print("\ntotals")
    for kind, counts in verdicts.items():
        print(f"  {kind:10s} " + ", ".join(f"{v} {n}" for v, n in sorted(counts.items())))
    false_alarms = verdicts["A/A quiet"]["regression"] + verdicts["A/A hogged"]["regression"]
    detected = verdicts["A/B"]["regression"]
    print(f"false regressions among A/A: {false_alarms} (target 0)")
    print(f"A/B slowdowns detected: {detected} of {args.pairs} (target >= {args.pairs - 1})")
    return 0 if false_alarms == 0 and detected >= args.pairs - 1 else 1


if __name__ == "__main__":
    from deploy import quiet

    with quiet.installed():  # torch/torchao start-up chatter off, as in the CLIs
        sys.exit(main())
