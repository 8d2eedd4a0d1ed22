from __future__ import annotations

import pytest

from deploy.errors import ModelNameError
from deploy.models.spec import VALID_FORMS, ModelSpec, parse_model_name, parse_model_names


@pytest.mark.parametrize(
    ("text", "name", "family", "width", "resolution"),
    [
        ("mobilenet_v2_1.0_224", "mobilenet_v2_1.0_224", "mobilenet_v2", 1.0, 224),
        (
            "mobilenet_v3_small_0.75_224",
            "mobilenet_v3_small_0.75_224",
            "mobilenet_v3_small",
            0.75,
            224,
        ),
        ("mobilenet_v1_0.5_160", "mobilenet_v1_0.5_160", "mobilenet_v1", 0.5, 160),
        ("mobilenet_v3_large_1_96", "mobilenet_v3_large_1.0_96", "mobilenet_v3_large", 1.0, 96),
        ("mobilenet_v2_1.4_224", "mobilenet_v2_1.4_224", "mobilenet_v2", 1.4, 224),
    ],
)
def test_names_read_like_the_literature(text, name, family, width, resolution):
    spec = parse_model_name(text)
    assert (spec.name, spec.family, spec.width, spec.resolution) == (
        name,
        family,
        width,
        resolution,
    )
    assert spec.input_shape == (1, 3, resolution, resolution)


@pytest.mark.parametrize(
    ("text", "cause"),
    [
        ("resnet50", "cannot read model name"),
        ("mobilenet_v4_1.0_224", "unknown model family"),
        ("mobilenet_v2_0_224", "width multiplier 0 is out of range"),
        ("mobilenet_v2_-0.5_224", "width multiplier -0.5 is out of range"),
        ("mobilenet_v2_1.0_31", "resolution 31 is below 32"),
        ("mobilenet_v2_1.0", "cannot read model name"),
        ("mobilenet_v2_1.0_224_extra", "cannot read model name"),
    ],
)
def test_bad_names_are_rejected_with_the_valid_forms(text, cause):
    with pytest.raises(ModelNameError) as excinfo:
        parse_model_name(text)
    message = str(excinfo.value)
    assert cause in message
    assert VALID_FORMS in message
    assert "\n" not in message


def test_comma_lists_and_weights_travel_beside_the_name():
    specs = parse_model_names(["mobilenet_v1_1.0_224,mobilenet_v2_1.0_224"], weights="imagenet")
    assert [s.name for s in specs] == ["mobilenet_v1_1.0_224", "mobilenet_v2_1.0_224"]
    assert all(s.weights == "imagenet" for s in specs)
    assert ModelSpec("mobilenet_v1", 1.0, 224).with_weights("x.pth").weights == "x.pth"
