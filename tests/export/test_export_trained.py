"""Exporting a checkpoint of another class count, with its training recipe: the entry records
10 classes, the right params/MAdds and the sidecar's preprocessing, and its validation images
were made with it; thresholds default by weights. A small fp32 model keeps this quick."""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

import pytest
import torch

from deploy.artifacts.manifest import MANIFEST_NAME, Manifest
from deploy.artifacts.preprocessing import Preprocessing, imagenet
from deploy.errors import CheckpointError
from deploy.export import cli, pipeline, verify
from deploy.export.cache import cache_key
from deploy.export.recipes import get_recipe, parse_recipes
from deploy.export.validation import (
    TRAINED_INT8_MIN_SQNR_DB,
    Thresholds,
    default_thresholds,
)
from deploy.models import parse_model_name
from deploy.models.counting import complexity
from deploy.models.families import create_architecture
from deploy.models.weights import sidecar_path

MODEL = "mobilenet_v1_0.25_32"
GREY = Preprocessing("grey-test", 40, 32, (0.45, 0.45, 0.45), (0.27, 0.27, 0.27), "LLL")


def _checkpoint(folder: Path, recipe: Preprocessing | None, classes: int = 10) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "tiny.pth"
    torch.manual_seed(0)
    torch.save(create_architecture("mobilenet_v1", 0.25, classes).state_dict(), path)
    if recipe is not None:
        sidecar = {"preprocessing": recipe.to_dict(), "num_classes": classes}
        sidecar_path(path).write_text(json.dumps(sidecar))
    return path


def _export(checkpoint: Path, out: Path):  # type: ignore[no-untyped-def]
    spec = parse_model_name(MODEL, weights=str(checkpoint))
    (outcome,) = pipeline.export_many([spec], parse_recipes("xnnpack-fp32"), out)
    return outcome.entry


def test_a_ten_class_checkpoint_exports_with_its_recipe(tmp_path: Path) -> None:
    checkpoint = _checkpoint(tmp_path / "ck", GREY)
    entry = _export(checkpoint, tmp_path / "out")
    assert entry.valid, entry.fidelity
    assert entry.model["num_classes"] == 10 and entry.num_classes == 10
    expected = complexity(create_architecture("mobilenet_v1", 0.25, 10), 32)
    assert (entry.params, entry.madds) == (expected.params, expected.madds)
    assert entry.input_preprocessing == GREY
    assert entry.weights["sidecar_sha256"]
    manifest = Manifest.load(tmp_path / "out" / MANIFEST_NAME)
    # verify rebuilds the held-out images with the RECORDED preprocessing: the outputs match
    # only if the export validated on images made that way.
    assert verify.reproduce(manifest, manifest.entries[0]) == ""


def test_a_checkpoint_without_sidecar_gets_imagenet_and_a_warning(tmp_path: Path) -> None:
    checkpoint = _checkpoint(tmp_path / "ck", None)
    with pytest.warns(UserWarning, match="has no sidecar") as caught:
        entry = _export(checkpoint, tmp_path / "out")
    assert len(str(caught[0].message).splitlines()) == 1
    assert entry.input_preprocessing == imagenet(32)
    assert entry.num_classes == 10


def test_a_sidecar_trained_at_another_resolution_is_one_line(tmp_path: Path) -> None:
    other = Preprocessing("grey-test", 64, 64, (0.5,) * 3, (0.25,) * 3, "LLL")
    checkpoint = _checkpoint(tmp_path / "ck", other)
    with pytest.raises(CheckpointError, match="export it as mobilenet_v1_0.25_64") as caught:
        _export(checkpoint, tmp_path / "out")
    assert "\n" not in str(caught.value)


def test_a_sidecar_with_a_bad_recipe_is_one_line(tmp_path: Path) -> None:
    checkpoint = _checkpoint(tmp_path / "ck", None)
    bad = {**GREY.to_dict(), "channel_order": "YUV"}
    sidecar_path(checkpoint).write_text(json.dumps({"preprocessing": bad}))
    with pytest.raises(CheckpointError, match="channel_order 'YUV'") as caught:
        _export(checkpoint, tmp_path / "out")
    assert "\n" not in str(caught.value) and "sidecar" in str(caught.value)


def test_the_sidecar_is_part_of_the_cache_key(tmp_path: Path) -> None:
    checkpoint = _checkpoint(tmp_path / "ck", GREY)
    spec = parse_model_name(MODEL, weights=str(checkpoint))
    recipe, thresholds = get_recipe("xnnpack-fp32"), Thresholds().as_dict()
    before = cache_key(spec, recipe, None, thresholds)
    other = Preprocessing("grey-test", 40, 32, (0.5,) * 3, (0.27,) * 3, "LLL")
    sidecar_path(checkpoint).write_text(json.dumps({"preprocessing": other.to_dict()}))
    assert cache_key(spec, recipe, None, thresholds) != before


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_default_thresholds_follow_the_weights() -> None:
    assert cli.thresholds_from(_args()) == Thresholds() == default_thresholds("random")
    trained = cli.thresholds_from(_args("--weights", "digits.pth"))
    assert trained == default_thresholds("imagenet") == default_thresholds("x.pth")
    assert trained.int8_min_sqnr_db == TRAINED_INT8_MIN_SQNR_DB > Thresholds().int8_min_sqnr_db
    assert trained.int8_min_top1 > 0 and trained.int8_min_cosine > Thresholds().int8_min_cosine
    given = cli.thresholds_from(_args("--weights", "digits.pth", "--int8-min-sqnr", "3"))
    assert given.int8_min_sqnr_db == 3 and given.int8_min_cosine == trained.int8_min_cosine


def test_export_many_picks_the_defaults_per_spec(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = []

    def fake_export_one(spec, recipe, out, calibration, thresholds, *rest):  # type: ignore[no-untyped-def]
        seen.append((spec.weights, thresholds))
        raise StopIteration

    monkeypatch.setattr(pipeline, "_export_one", fake_export_one)
    with warnings.catch_warnings(), pytest.raises(StopIteration):
        pipeline.export_many(
            [parse_model_name(MODEL, weights="a.pth")], parse_recipes("xnnpack-int8"), "/tmp"
        )
    assert seen == [("a.pth", default_thresholds("a.pth"))]
