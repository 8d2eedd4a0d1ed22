"""Weights: torchvision checkpoints load strictly; random weights are seeded and BN-calibrated."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from deploy.errors import CheckpointError, WeightsUnavailableError
from deploy.images import load_images
from deploy.models import build_model, parse_model_name
from deploy.models.families import create_architecture

FIXTURE = json.loads(
    (Path(__file__).parent / "fixtures" / "torchvision_state_dicts.json").read_text()
)
TORCHVISION_MODELS = sorted(FIXTURE["models"])


def torchvision_like_state(family: str) -> dict[str, torch.Tensor]:
    """A state dict with exactly torchvision's keys and shapes, filled with seeded values."""
    generator = torch.Generator().manual_seed(1)
    state = {}
    for key, shape in FIXTURE["models"][family].items():
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(7)
        elif key.endswith("running_var"):
            state[key] = torch.rand(shape, generator=generator) + 0.5
        else:
            state[key] = torch.randn(shape, generator=generator) * 0.1
    return state


@pytest.mark.parametrize("family", TORCHVISION_MODELS)
def test_state_dict_names_and_shapes_are_torchvision_s(family):
    ours = {k: list(v.shape) for k, v in create_architecture(family, 1.0).state_dict().items()}
    assert ours == FIXTURE["models"][family]


@pytest.mark.parametrize("family", TORCHVISION_MODELS)
def test_a_torchvision_checkpoint_loads_strictly(family, tmp_path):
    state = torchvision_like_state(family)
    path = tmp_path / f"{family}.pth"
    torch.save(state, path)
    built = build_model(parse_model_name(f"{family}_1.0_64", weights=str(path)))
    assert built.weights.source == "checkpoint"
    for key, value in built.module.state_dict().items():
        assert torch.equal(value, state[key]), key


def test_checkpoint_of_another_family_is_refused(tmp_path):
    path = tmp_path / "small.pth"
    torch.save(torchvision_like_state("mobilenet_v3_small"), path)
    with pytest.raises(CheckpointError, match="does not match the model.*check the model name"):
        build_model(parse_model_name("mobilenet_v3_large_1.0_64", weights=str(path)))


def test_checkpoint_of_another_width_is_refused(tmp_path):
    path = tmp_path / "v2.pth"
    torch.save(torchvision_like_state("mobilenet_v2"), path)
    with pytest.raises(CheckpointError, match="mis-shaped"):
        build_model(parse_model_name("mobilenet_v2_0.5_64", weights=str(path)))


def test_missing_and_corrupt_checkpoints_are_one_line_errors(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        build_model(parse_model_name("mobilenet_v2_1.0_64", weights=str(tmp_path / "no.pth")))
    corrupt = tmp_path / "corrupt.pth"
    corrupt.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="cannot be read") as excinfo:
        build_model(parse_model_name("mobilenet_v2_1.0_64", weights=str(corrupt)))
    assert "\n" not in str(excinfo.value)


@pytest.mark.parametrize(
    ("bad", "kind"),
    [
        (3, "a value of type int"),
        (torch.empty(32, 3, 3, 3, device="meta"), "device meta"),
    ],
    ids=["int", "meta-tensor"],
)
def test_a_value_that_is_no_usable_tensor_is_one_line_naming_file_and_key(tmp_path, bad, kind):
    state = torchvision_like_state("mobilenet_v2")
    key = "features.0.0.weight"
    state[key] = bad
    path = tmp_path / "bad.pth"
    torch.save(state, path)
    with pytest.raises(CheckpointError) as excinfo:
        build_model(parse_model_name("mobilenet_v2_1.0_64", weights=str(path)))
    message = str(excinfo.value)
    assert str(path) in message and repr(key) in message and kind in message, message
    assert "\n" not in message


def test_imagenet_weights_come_from_the_hub_cache_and_are_never_downloaded(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    spec = parse_model_name("mobilenet_v3_small_1.0_64", weights="imagenet")
    with pytest.raises(
        WeightsUnavailableError, match="never downloaded.*mobilenet_v3_small-047dcff4"
    ):
        build_model(spec)
    folder = tmp_path / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    torch.save(
        torchvision_like_state("mobilenet_v3_small"), folder / "mobilenet_v3_small-047dcff4.pth"
    )
    built = build_model(spec)
    assert built.weights.source == "imagenet"
    assert built.weights.detail.endswith("mobilenet_v3_small-047dcff4.pth")


@pytest.mark.parametrize("name", ["mobilenet_v1_1.0_224", "mobilenet_v2_0.5_224"])
def test_imagenet_weights_that_torchvision_does_not_publish(name):
    with pytest.raises(WeightsUnavailableError, match="pass a checkpoint path"):
        build_model(parse_model_name(name, weights="imagenet"))


def test_random_weights_are_deterministic_and_labelled():
    first = build_model(parse_model_name("mobilenet_v3_small_0.5_64"))
    second = build_model(parse_model_name("mobilenet_v3_small_0.5_64"))
    assert first.weights.source == "random"
    for (key, a), b in zip(
        first.module.state_dict().items(), second.module.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b), key


def test_random_weights_have_batchnorm_statistics_of_real_photographs():
    built = build_model(parse_model_name("mobilenet_v2_0.5_64"))
    images = load_images(None, 64).tensor
    normalised: list[torch.Tensor] = []
    hooks = [
        m.register_forward_hook(lambda _m, _i, out: normalised.append(out.clone()))
        for m in built.module.modules()
        if isinstance(m, nn.BatchNorm2d)
    ]
    with torch.no_grad():
        built.module(images)
    for hook in hooks:
        hook.remove()
    # Outputs are cloned: an inplace activation after a BN overwrites them. In eval mode,
    # BN output is (x - running_mean) / running_std: ~N(0, 1) on the same photos.
    means = torch.stack([o.mean(dim=(0, 2, 3)).abs().mean() for o in normalised])
    variances = torch.stack([o.var(dim=(0, 2, 3)).mean() for o in normalised])
    assert means.max() < 0.25
    assert 0.7 < variances.min() and variances.max() < 1.3
    logits = built.module(images)
    assert torch.isfinite(logits).all() and logits.std() > 0
