"""End to end on a small model: both recipes exported, validated, recorded, cached.

MobileNetV1 0.25 at 224 px: narrow, so quick, but at full resolution, because int8 fidelity
of a randomly initialised network collapses at low resolutions (measured: ~4 dB SQNR at 64 px
against ~10 dB at 224 px), and the default thresholds are meant for 224 px.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import time

import pytest
import torch

import deploy.models
from deploy.artifacts.manifest import MANIFEST_NAME, Manifest, verify_artifact
from deploy.artifacts.preprocessing import imagenet
from deploy.errors import ArtifactIntegrityError, OutputFolderError
from deploy.export import pipeline
from deploy.export.recipes import get_recipe, parse_recipes
from deploy.export.validation import outputs_digest, run_pte
from deploy.models import parse_model_name

MODEL = "mobilenet_v1_0.25_224"


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    out = tmp_path_factory.mktemp("artifacts")
    outcomes = pipeline.export_many([parse_model_name(MODEL)], parse_recipes(None), out)
    return out, outcomes


def test_both_recipes_export_and_validate(exported):
    out, outcomes = exported
    assert [o.recipe.name for o in outcomes] == ["xnnpack-fp32", "xnnpack-int8"]
    assert all(o.valid and not o.cached for o in outcomes), [o.entry.fidelity for o in outcomes]
    manifest = Manifest.load(out / MANIFEST_NAME)
    assert len(manifest.valid_entries()) == 2
    fp32, int8 = (
        manifest.find(recipe_name="xnnpack-fp32")[0],
        manifest.find(recipe_name="xnnpack-int8")[0],
    )
    for entry in (fp32, int8):
        assert verify_artifact(manifest, entry).suffix == ".pte"
        assert entry.model == {
            "name": MODEL,
            "family": "mobilenet_v1",
            "width": 0.25,
            "resolution": 224,
            "num_classes": 1000,
        }
        assert entry.input_shape == [1, 3, 224, 224]
        assert entry.input_preprocessing == imagenet(224)  # random weights: ImageNet's
        assert entry.weights["source"] == "random"
        assert entry.params > 0 and entry.madds > 0
        assert entry.delegation["coverage"] == 1.0 and entry.delegation["non_delegated"] == {}
        assert entry.fidelity["passed"] and entry.fidelity["images"]["count"] == 5
        assert entry.toolchain["executorch"] and entry.toolchain["torch"]
        assert entry.exported_at.endswith("+00:00") and entry.export_s > 0
    assert fp32.calibration is None
    assert int8.calibration is not None and int8.calibration["count"] == 15
    assert fp32.fidelity["max_rel_error"] < 1e-3
    assert int8.size_bytes < fp32.size_bytes / 2
    assert not list(out.glob(".*tmp*")), "temp files left behind"


def test_stock_runtime_reproduces_the_recorded_outputs(exported):
    out, _ = exported
    manifest = Manifest.load(out / MANIFEST_NAME)
    _, held_out = pipeline.prepare_images(None, 224)
    for entry in manifest.valid_entries():
        outputs = run_pte(manifest.path_of(entry), held_out.tensor)
        assert outputs.shape == (5, 1000)
        assert outputs_digest(outputs) == entry.fidelity["outputs_sha256"]


def test_unchanged_re_export_does_no_work(exported, monkeypatch):
    out, first = exported

    def no_build(spec):
        raise AssertionError("the cache should not build the model")

    monkeypatch.setattr(deploy.models, "build_model", no_build)
    start = time.perf_counter()
    again = pipeline.export_many([parse_model_name(MODEL)], parse_recipes(None), out)
    assert time.perf_counter() - start < 10
    assert all(o.cached for o in again)
    assert [o.entry for o in again] == [o.entry for o in first]


def test_tampered_artifact_is_caught_and_not_served_from_cache(exported, tmp_path):
    out, _ = exported
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    manifest = Manifest.load(copy / MANIFEST_NAME)
    entry = manifest.find(recipe_name="xnnpack-int8")[0]
    path = manifest.path_of(entry)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ArtifactIntegrityError, match="tampered"):
        verify_artifact(manifest, entry)
    assert pipeline.find_cached(manifest, entry.cache_key) is None


def test_wrong_calibration_fails_validation(tmp_path, monkeypatch):
    """Calibrating on blank images gives scales that saturate real ones: caught, not valid."""
    real = pipeline.prepare_images

    def blank_calibration(folder, resolution):
        calibration, held_out = real(folder, resolution)
        blank = dataclasses.replace(calibration, tensor=torch.zeros_like(calibration.tensor))
        return blank, held_out

    monkeypatch.setattr(pipeline, "prepare_images", blank_calibration)
    with pytest.raises(pipeline.ArtifactInvalidError, match="not valid") as info:
        pipeline.export_artifact(parse_model_name(MODEL), get_recipe("xnnpack-int8"), tmp_path)
    entry = info.value.entry
    assert not entry.valid and entry.fidelity["failures"]
    manifest = Manifest.load(tmp_path / MANIFEST_NAME)
    assert manifest.valid_entries() == [] and len(manifest.entries) == 1
    assert manifest.path_of(entry).is_file()  # kept for inspection, marked invalid


def test_full_disk_is_one_line_and_leaves_no_entry(tmp_path):
    """The artifact's temp file points at /dev/full: a real ENOSPC from the kernel."""
    recipe = get_recipe("xnnpack-fp32")
    temp = tmp_path / f".{MODEL}_{recipe.name}.{os.getpid()}.tmp{recipe.format}"
    temp.symlink_to("/dev/full")
    with pytest.raises(OutputFolderError) as info:
        pipeline.export_many([parse_model_name(MODEL)], [recipe], tmp_path)
    message = str(info.value)
    assert "disk is full" in message and "--out" in message and "\n" not in message
    assert not (tmp_path / MANIFEST_NAME).exists()
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith(".write-test")] == []
