"""Preprocessing in the manifest: round trip, the v1 -> v2 migration (ImageNet's at the entry's
resolution), and a bad recipe as one line naming the entry and the field."""

from __future__ import annotations

import json

import pytest

from deploy.artifacts.manifest import MANIFEST_SCHEMA_VERSION, Manifest
from deploy.artifacts.preprocessing import Preprocessing, imagenet, of_entry
from deploy.errors import ManifestError
from tests.export.helpers import make_entry

DIGITS = Preprocessing(
    name="digits",
    resize=64,
    crop=64,
    mean=(0.3055, 0.3055, 0.3055),
    std=(0.3247, 0.3247, 0.3247),
    channel_order="LLL",
)


def test_preprocessing_round_trips_through_json() -> None:
    for recipe in (DIGITS, imagenet(224), imagenet(160)):
        again = Preprocessing.from_dict(json.loads(json.dumps(recipe.to_dict())))
        assert again == recipe and again.same_as(recipe.to_dict())
        assert Preprocessing.from_dict(json.loads(recipe.to_json())) == recipe
    assert (imagenet(224).resize, imagenet(224).crop) == (256, 224)
    assert imagenet(224).mean == (0.485, 0.456, 0.406)


def test_an_entry_carries_its_preprocessing_through_save_and_load(tmp_path) -> None:
    path = tmp_path / "manifest.json"
    entry = make_entry(tmp_path, input_shape=[1, 3, 64, 64], preprocessing=DIGITS.to_dict())
    Manifest(path, [entry]).save()
    document = json.loads(path.read_text())
    assert document["schema_version"] == MANIFEST_SCHEMA_VERSION == 2
    assert document["artifacts"][0]["preprocessing"]["channel_order"] == "LLL"
    loaded = Manifest.load(path).entries[0]
    assert loaded.input_preprocessing == DIGITS
    assert of_entry(loaded.to_dict()) == DIGITS and of_entry({}) is None


@pytest.mark.parametrize("resolution", [224, 160, 64])
def test_a_v1_manifest_gets_imagenet_at_the_entrys_resolution(tmp_path, resolution) -> None:
    entry = make_entry(tmp_path, input_shape=[1, 3, resolution, resolution]).to_dict()
    del entry["preprocessing"]  # version 1 had none
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps({"schema_version": 1, "artifacts": [entry]}))
    manager = Manifest.load(path)
    assert manager.entries[0].input_preprocessing == imagenet(resolution)
    manager.save()
    saved = json.loads(path.read_text())
    assert saved["schema_version"] == 2
    assert saved["artifacts"][0]["preprocessing"] == imagenet(resolution).to_dict()


def test_a_v1_entry_without_a_usable_shape_is_one_line(tmp_path) -> None:
    entry = make_entry(tmp_path).to_dict()
    del entry["preprocessing"]
    entry["input_shape"], entry["model"]["resolution"] = "x", "y"
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps({"schema_version": 1, "artifacts": [entry]}))
    with pytest.raises(ManifestError) as caught:
        Manifest.load(path)
    assert "\n" not in str(caught.value)


BAD = {
    "channel-order": ({"channel_order": "CMYK"}, "channel_order 'CMYK' is not one of"),
    "zero-std": ({"std": [0.2, 0.0, 0.2]}, "std must be positive"),
    "two-means": ({"mean": [0.5, 0.5]}, "mean must be 3 numbers"),
    "crop-above-resize": ({"resize": 100, "crop": 128}, "must be at least crop"),
    "crop-not-input": ({"resize": 256, "crop": 192}, "crop 192 does not match input_shape"),
    "text-resize": ({"resize": "256"}, "resize must be an integer"),
    "falling-range": ({"value_range": [1, 0]}, "value_range [1.0, 0.0] must increase"),
    "no-name": ({"name": None}, "name must be text"),
}


@pytest.mark.parametrize(("change", "needle"), BAD.values(), ids=BAD.keys())
def test_a_bad_preprocessing_is_one_line_naming_the_entry(tmp_path, change, needle) -> None:
    entry = make_entry(tmp_path).to_dict()
    entry["preprocessing"] = {**entry["preprocessing"], **change}
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps({"schema_version": 2, "artifacts": [entry]}))
    with pytest.raises(ManifestError) as caught:
        Manifest.load(path)
    message = str(caught.value)
    assert "\n" not in message and needle in message, message
    assert "artifacts[0].preprocessing" in message and "re-export" in message


def test_a_missing_preprocessing_in_a_v2_entry_is_one_line(tmp_path) -> None:
    entry = make_entry(tmp_path).to_dict()
    del entry["preprocessing"]
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps({"schema_version": 2, "artifacts": [entry]}))
    with pytest.raises(ManifestError, match="lacks preprocessing"):
        Manifest.load(path)
