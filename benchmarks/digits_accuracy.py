"""What int8 costs in accuracy, for real: the trained digits model, fp32 and int8, on held-out data.

    .nox/ml/bin/python benchmarks/digits_accuracy.py [--out build/digits_accuracy] [--per-class 10]

Trains MobileNetV3-Small 0.5 at 64 px on scikit-learn's digits (cached, deploy.training.digits),
writes the held-out split as an ImageNet-val-like folder and a calibration folder of
`--per-class` training pictures per class, exports xnnpack-fp32, xnnpack-int8 and coreml-int8
with the project's pipeline (default thresholds for trained weights), and prints:

- top-1 on the 360 held-out digits: eager fp32, and each .pte in ExecuTorch's Python runtime,
  the drop in points against eager;
- SQNR, worst-image cosine and top-1 agreement of each artifact's logits against eager fp32 on
  those 360 digits, beside the export's own figures (on its held-out calibration images);
- Core ML: the structural validation (Core ML predicts on macOS only) and, for W8A8, the
  PT2E-quantized torch graph's figures.

These are the figures behind the trained-weights default thresholds (deploy/export/validation.py).
Timings are not the point; the machine may be busy. Exit 0 when fp32 >= 95% and xnnpack-int8 is
within 1.0 point of it, 1 otherwise.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
import torch

from deploy.artifacts.manifest import MANIFEST_NAME, Manifest
from deploy.export.pipeline import export_many
from deploy.export.recipes import parse_recipes
from deploy.export.validation import compare, run_pte
from deploy.images import image_files, preprocess
from deploy.models import build_model, parse_model_name
from deploy.training import digits

RECIPES = "xnnpack-fp32,xnnpack-int8,coreml-int8"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("build/digits_accuracy"))
    parser.add_argument("--per-class", type=int, default=10, help="calibration pictures per class")
    parser.add_argument("--recipes", default=RECIPES)
    args = parser.parse_args(argv)

    checkpoint = digits.cached_checkpoint()
    training, held_out = digits.load_split()
    val = digits.write_image_folder(held_out, args.out / "val")
    calibration = digits.write_image_folder(
        training.per_class(args.per_class), args.out / f"calibration-{args.per_class}", flat=True
    )
    spec = parse_model_name(digits.MODEL, weights=str(checkpoint))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        outcomes = export_many(
            [spec], parse_recipes(args.recipes), args.out / "artifacts", calibration_dir=calibration
        )
    manifest = Manifest.load(args.out / "artifacts" / MANIFEST_NAME)

    classes = sorted(p.name for p in val.iterdir())
    files = [(p, classes.index(c)) for c in classes for p in image_files(val / c)]
    preprocessing = outcomes[0].entry.input_preprocessing
    images = torch.from_numpy(np.stack([preprocess(p, preprocessing) for p, _ in files]))
    labels = np.array([label for _, label in files])
    with torch.no_grad():
        eager = build_model(spec).module(images)
    fp32 = float((eager.argmax(1).numpy() == labels).mean())
    print(f"model {digits.MODEL}, checkpoint {checkpoint}")
    print(f"preprocessing: {preprocessing.describe()}")
    print(f"held-out digits: {len(labels)} images in {val} (class-per-folder)")
    print(f"calibration: {args.per_class} training pictures per class in {calibration}")
    print(
        f"{'artifact':22} {'valid':5} {'top-1':>7} {'drop':>7}  on held-out digits vs eager fp32"
        "             | export's own figures"
    )
    print(f"{'eager fp32':22} {'':5} {fp32:7.2%} {'':>7}")
    int8_drop = None
    for outcome in outcomes:
        entry, fidelity = outcome.entry, outcome.entry.fidelity
        own = (
            f"SQNR {fidelity['sqnr_db']:.1f} dB cos {fidelity['cosine']:.3f} "
            f"agree {fidelity['top1_agreement']:.3f}"
            if "sqnr_db" in fidelity
            else "structure checked (no Core ML predictions off macOS)"
        )
        if entry.recipe["format"] != ".pte":
            ref = fidelity.get("torch_reference", {})
            detail = (
                f"PT2E graph in torch: SQNR {ref['sqnr_db']:.1f} dB cos {ref['cosine']:.3f} "
                f"agree {ref['top1_agreement']:.3f}"
                if ref
                else ""
            )
            head = f"{entry.recipe_name:22} {str(entry.valid):5} {'-':>7} {'-':>7}"
            print(f"{head}  {detail:42} | {own}")
            for failure in fidelity.get("failures", []):
                print(f"{'':29}failure: {failure}")
            continue
        outputs = run_pte(manifest.path_of(entry), images)
        top1 = float((outputs.argmax(1).numpy() == labels).mean())
        drop = 100 * (fp32 - top1)
        if entry.recipe_name == "xnnpack-int8":
            int8_drop = drop
        m = compare(eager, outputs)
        figures = (
            f"SQNR {m['sqnr_db']:.1f} dB cos {m['cosine']:.3f} agree {m['top1_agreement']:.3f}"
        )
        head = f"{entry.recipe_name:22} {str(entry.valid):5} {top1:7.2%} {drop:+6.2f}p"
        print(f"{head}  {figures:42} | {own}")
    ok = fp32 >= 0.95 and int8_drop is not None and int8_drop <= 1.0
    print("acceptance (fp32 >= 95%, xnnpack-int8 within 1.0 point):", "met" if ok else "NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
