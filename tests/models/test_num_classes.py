"""The zoo at any class count: params and MAdds of a 10-class head, checkpoints of any class
count loaded strictly (the count read from the file), and their sidecars checked in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from deploy.errors import CheckpointError
from deploy.models import build_model, parse_model_name
from deploy.models.counting import complexity
from deploy.models.families import classifier_outputs, create_architecture
from deploy.models.weights import read_checkpoint, sidecar_path

FAMILIES = ("mobilenet_v1", "mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small")


@pytest.mark.parametrize("family", FAMILIES)
def test_ten_classes_change_only_the_last_layer(family: str) -> None:
    full = create_architecture(family, 0.5)
    ten = create_architecture(family, 0.5, num_classes=10)
    last = [m for m in full.modules() if isinstance(m, nn.Linear)][-1]
    features = last.in_features
    big, small = complexity(full, 64), complexity(ten, 64)
    # The last Linear: (classes x features) weights + classes biases; features MAdds per class.
    assert big.params - small.params == 990 * (features + 1)
    assert big.madds - small.madds == 990 * features
    assert classifier_outputs(ten) == 10 and classifier_outputs(full) == 1000
    with torch.no_grad():
        assert ten(torch.zeros(1, 3, 64, 64)).shape == (1, 10)


@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_a_bad_class_count_is_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="num_classes"):
        create_architecture("mobilenet_v2", 1.0, bad)  # type: ignore[arg-type]


def _save(tmp_path: Path, family: str, width: float, classes: int, sidecar: object = None) -> Path:
    path = tmp_path / f"{family}_{classes}.pth"
    torch.save(create_architecture(family, width, classes).state_dict(), path)
    if sidecar is not None:
        text = sidecar if isinstance(sidecar, str) else json.dumps(sidecar)
        sidecar_path(path).write_text(text)
    return path


@pytest.mark.parametrize("classes", [10, 37, 1000])
def test_a_checkpoint_of_any_class_count_builds_its_model(tmp_path: Path, classes: int) -> None:
    path = _save(tmp_path, "mobilenet_v3_small", 0.5, classes)
    built = build_model(parse_model_name("mobilenet_v3_small_0.5_64", weights=str(path)))
    assert built.num_classes == classes
    assert read_checkpoint(path).num_classes == classes
    assert built.weights.source == "checkpoint" and built.weights.training is None
    assert (
        built.complexity().params
        == complexity(create_architecture("mobilenet_v3_small", 0.5, classes), 64).params
    )
    with torch.no_grad():
        assert built.module(torch.zeros(1, 3, 64, 64)).shape == (1, classes)


def test_a_sidecar_is_read_and_recorded(tmp_path: Path) -> None:
    recipe = {"name": "digits", "resize": 64, "crop": 64, "mean": [0.3] * 3, "std": [0.3] * 3}
    sidecar = {"preprocessing": recipe, "classes": [str(i) for i in range(10)], "num_classes": 10}
    path = _save(tmp_path, "mobilenet_v2", 0.35, 10, sidecar)
    built = build_model(parse_model_name("mobilenet_v2_0.35_64", weights=str(path)))
    assert built.weights.training == sidecar
    assert built.weights.as_dict()["sidecar_sha256"] == read_checkpoint(path).sidecar_sha256


BAD_SIDECARS = {
    "not-json": ("{oops", "not readable JSON"),
    "a-list": ("[1, 2]", "must hold a JSON object"),
    "wrong-count": (
        {"num_classes": 12},
        "says 12 classes but mobilenet_v2_10.pth's classifier has 10",
    ),
    "text-count": ({"num_classes": "10"}, "num_classes must be an integer"),
    "few-classes": ({"classes": ["a", "b"]}, "classes must be a list of 10 names"),
    "recipe-a-list": ({"preprocessing": [1]}, "preprocessing must be an object"),
}


@pytest.mark.parametrize(("sidecar", "needle"), BAD_SIDECARS.values(), ids=BAD_SIDECARS.keys())
def test_a_bad_sidecar_is_one_line_naming_it(tmp_path: Path, sidecar: object, needle: str) -> None:
    path = _save(tmp_path, "mobilenet_v2", 0.35, 10, sidecar)
    with pytest.raises(CheckpointError) as caught:
        build_model(parse_model_name("mobilenet_v2_0.35_64", weights=str(path)))
    message = str(caught.value)
    assert "\n" not in message and needle in message and "digits" not in message.lower()
    assert f"{path}.json" in message


def test_a_checkpoint_of_another_width_is_still_one_line(tmp_path: Path) -> None:
    path = _save(tmp_path, "mobilenet_v3_small", 0.75, 10)
    with pytest.raises(CheckpointError, match="does not match the model") as caught:
        build_model(parse_model_name("mobilenet_v3_small_0.5_64", weights=str(path)))
    assert "\n" not in str(caught.value)
