"""Export wall time per artifact, by stage, with the cache bypassed; then the cached re-run.

    .nox/ml/bin/python benchmarks/export_time.py [--models m1,m2] [--recipes r1,r2] [--out DIR]

Each (model, recipe) is exported with `force=True` into a scratch folder (default: a temp
folder, deleted afterwards), so nothing in `artifacts/` changes. Stages: prepare (images, model
build with BN re-estimation, eager reference), quantize (PT2E prepare + calibration + convert),
lower (torch.export + edge + XNNPACK + serialisation), validate (runtime run + comparison).
The last line times an unchanged re-export of the whole set (the cache path). Figures are for
this host under its current load; not a test.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from deploy.export.pipeline import DEFAULT_MODELS, export_many  # noqa: E402
from deploy.export.recipes import DEFAULT_RECIPES, parse_recipes  # noqa: E402
from deploy.models import parse_model_names  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS))
    parser.add_argument("--recipes", default=",".join(DEFAULT_RECIPES))
    parser.add_argument("--out", type=Path, default=None, help="keep the artifacts here")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    specs, recipes = parse_model_names(args.models), parse_recipes(args.recipes)
    with tempfile.TemporaryDirectory(prefix="export-time-") as scratch:
        out = args.out or Path(scratch)
        header = f"{'model':28} {'recipe':14} {'total s':>8} {'prepare':>8} {'quantize':>8} "
        print(header + f"{'lower':>8} {'validate':>8}  valid")
        start = time.perf_counter()
        for outcome in export_many(specs, recipes, out, force=True):
            e, t = outcome.entry, outcome.entry.timings
            print(
                f"{e.model_name:28} {e.recipe_name:14} {e.export_s:8.1f} "
                f"{t.get('prepare_s', 0):8.1f} {t.get('quantize_s', 0):8.1f} "
                f"{t.get('lower_s', 0):8.1f} {t.get('validate_s', 0):8.2f}  {e.valid}",
                flush=True,
            )
        print(f"all artifacts: {time.perf_counter() - start:.1f} s")
        start = time.perf_counter()
        cached = export_many(specs, recipes, out)
        hits = sum(o.cached for o in cached)
        took = time.perf_counter() - start
        print(f"unchanged re-export: {took:.2f} s ({hits}/{len(cached)} cached)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
