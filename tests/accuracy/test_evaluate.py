"""Acceptance: `python -m bench evaluate` on the held-out digits laid out like ImageNet-val (the
real command line, ExecuTorch runtime and SQLite store) gives exactly the figures of a direct
evaluation written here from other parts: the checkpoint loaded by hand, the input tensors made
from the split's pixels (not from the PNGs), and the .pte run by `executorch.runtime` itself."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from bench.cli import main
from bench.store import EAGER_RECIPE, Store
from deploy.artifacts.manifest import Manifest
from deploy.models.families import create_architecture
from deploy.models.weights import sidecar_path
from deploy.training.digits import CLASSES, MODEL, tensors

ROOT = Path(__file__).resolve().parents[2]


def _counts(logits: np.ndarray, labels: np.ndarray) -> tuple[int, int]:
    """(top-1, top-5) correct: argmax, and the five best of a stable descending sort."""
    top1 = int((logits.argmax(axis=1) == labels).sum())
    best5 = np.argsort(-logits, axis=1, kind="stable")[:, :5]
    return top1, int((best5 == labels[:, None]).any(axis=1).sum())


def _eager_logits(checkpoint: Path, images: torch.Tensor) -> np.ndarray:
    module = create_architecture("mobilenet_v3_small", 0.5, len(CLASSES))
    module.load_state_dict(torch.load(checkpoint, map_location="cpu", weights_only=True))
    module.eval()
    with torch.no_grad():
        return torch.cat([module(images[i : i + 1]) for i in range(len(images))]).numpy()


def _pte_logits(path: Path, images: torch.Tensor) -> np.ndarray:
    from executorch.runtime import Runtime

    method = Runtime.get().load_program(path).load_method("forward")
    return np.concatenate(
        [
            np.asarray(method.execute([images[i : i + 1].contiguous()])[0])
            for i in range(len(images))
        ]
    )


@pytest.fixture(scope="module")
def evaluated(digits) -> dict[str, object]:
    """One run of the real command line; the stored evaluations by recipe."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "evaluate",
            "--data",
            str(digits.folder),
            "--artifacts",
            str(digits.artifacts),
            "--store",
            str(digits.store),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with Store.open(digits.store) as store:
        found = {e.recipe: e for e in store.evaluations(model=MODEL)}
    return {"proc": proc, "records": found}


def test_evaluate_equals_a_direct_evaluation(digits, evaluated):
    records = evaluated["records"]
    assert set(records) == {EAGER_RECIPE, "xnnpack-fp32", "xnnpack-int8"}
    manifest = Manifest.load(digits.artifacts / "manifest.json")
    entries = {e.recipe_name: e for e in manifest.valid_entries()}
    preprocessing = entries["xnnpack-fp32"].input_preprocessing
    assert preprocessing.name == "digits"
    images = tensors(digits.held_out, preprocessing)
    labels = digits.held_out.labels
    n = len(labels)

    eager = _counts(_eager_logits(digits.checkpoint, images), labels)
    int8 = _counts(_pte_logits(manifest.path_of(entries["xnnpack-int8"]), images), labels)
    expected = {EAGER_RECIPE: eager, "xnnpack-fp32": eager, "xnnpack-int8": int8}
    for recipe, (top1, top5) in expected.items():
        record = records[recipe]
        assert record.images == n and record.skipped == 0, recipe
        assert (round(record.top1 * n), round(record.top5 * n)) == (top1, top5), recipe
        if recipe != EAGER_RECIPE:
            assert record.artifact_sha256 == entries[recipe].sha256
            assert (record.reference_top1, record.reference_top5) == (eager[0] / n, eager[1] / n)
    # the training's own figure on the same split (batched there, one image at a time here)
    trained = json.loads(sidecar_path(digits.checkpoint).read_text())["held_out_top1"]
    assert abs(records[EAGER_RECIPE].top1 - trained) <= 1 / n
    print(
        f"\ndigits held-out ({n} images): eager fp32 top-1 {eager[0] / n:.2%}, "
        f"xnnpack-int8 top-1 {int8[0] / n:.2%} ({100 * (int8[0] - eager[0]) / n:+.2f} points)"
    )


def test_evaluate_records_what_it_used(digits, evaluated):
    record = evaluated["records"]["xnnpack-int8"]
    detail = record.detail
    assert detail["provenance"] == "host" and detail["classes"] == len(CLASSES)
    assert detail["limit"] is None and detail["skipped_files"] == 0
    assert detail["preprocessing"]["name"] == "digits"
    assert detail["preprocessing"]["channel_order"] == "LLL"
    assert record.data_folder == str(digits.folder.resolve())
    assert record.device_id.startswith("host:")
    assert len({r.data_sha256 for r in evaluated["records"].values()}) == 1
    out = evaluated["proc"].stdout
    assert "vs eager" in out and f"sha256 {record.data_sha256[:12]}" in out
    assert f"{100 * record.top1:.2f}" in out and "paper (ImageNet)" in out


def test_compare_shows_the_top1_beside_the_latency(digits, evaluated, host_runner, capsys):
    manifest = str(digits.artifacts / "manifest.json")
    quick = ["--rounds", "1", "--warmup", "1", "--iterations", "3", "--min-time", "0"]
    store = str(digits.store)
    assert main(["bench-host", "--manifest", manifest, "--store", store, *quick]) == 0
    capsys.readouterr()
    assert main(["compare", "--store", store]) == 0
    out = capsys.readouterr().out
    for recipe in ("xnnpack-fp32", "xnnpack-int8"):
        record = evaluated["records"][recipe]
        drop = 100 * (record.top1 - record.reference_top1)
        row = next(
            line
            for line in out.splitlines()
            if MODEL in line and f"{100 * record.top1:.2f}" in line
        )
        assert f"{drop:+.2f}" in row, (recipe, row)
    assert f"digits-val (sha256 {record.data_sha256[:12]}, {record.images} images)" in out
