"""Recipes are data; unknown names list the valid ones."""

from __future__ import annotations

import pytest

from deploy.errors import RecipeError
from deploy.export.recipes import RECIPES, Recipe, get_recipe, parse_recipes


def test_registered_recipes():
    fp32, int8 = get_recipe("xnnpack-fp32"), get_recipe("xnnpack-int8")
    assert (fp32.backend, fp32.precision, fp32.format, fp32.quantization) == (
        "xnnpack",
        "fp32",
        ".pte",
        None,
    )
    assert not fp32.needs_calibration
    assert int8.needs_calibration
    assert int8.quantization is not None
    assert int8.quantization.weight_granularity == "per-channel"
    assert int8.quantization.weight_symmetric
    assert int8.as_dict()["quantization"]["activation_mode"] == "static"
    assert set(int8.as_dict()) >= {"name", "backend", "precision", "format"}


def test_unknown_recipe_lists_valid_ones():
    with pytest.raises(RecipeError) as info:
        get_recipe("xnnpack-int4")
    for name in RECIPES:
        assert name in str(info.value)


def test_parse_recipes():
    assert [r.name for r in parse_recipes(None)] == ["xnnpack-fp32", "xnnpack-int8"]
    assert [r.name for r in parse_recipes("xnnpack-int8, xnnpack-int8")] == ["xnnpack-int8"]
    with pytest.raises(RecipeError):
        parse_recipes(",")


def test_recipe_fields_are_checked():
    with pytest.raises(RecipeError, match="backend"):
        Recipe("x", backend="tpu", precision="fp32", format=".pte")
    with pytest.raises(RecipeError, match="precision"):
        Recipe("x", backend="coreml", precision="int3", format=".mlpackage")


def test_coreml_int8_calibrates_with_min_max_and_xnnpack_keeps_its_key():
    import dataclasses

    import torch

    from deploy.errors import ExportError
    from deploy.export import coreml, xnnpack

    coreml_int8 = get_recipe("coreml-int8")
    assert coreml_int8.as_dict()["quantization"]["activation_observer"] == "min-max"
    config = coreml.quantizer_config(coreml_int8).global_config
    assert str(config.activation_observer.value) == "min_max"
    # a recipe without an observer serialises as before: its cache key does not change
    assert "activation_observer" not in get_recipe("xnnpack-int8").as_dict()["quantization"]
    assert (
        dataclasses.asdict(get_recipe("xnnpack-int8").quantization)["activation_observer"] is None
    )
    odd = dataclasses.replace(
        coreml_int8,
        quantization=dataclasses.replace(coreml_int8.quantization, activation_observer="median"),
    )
    with pytest.raises(ExportError, match="activation observer 'median'"):
        coreml.quantizer_config(odd)
    xnn = get_recipe("xnnpack-int8")
    with_observer = dataclasses.replace(
        xnn, quantization=dataclasses.replace(xnn.quantization, activation_observer="min-max")
    )
    with pytest.raises(ExportError, match="picks its own activation observers"):
        xnnpack.quantize_pt2e(torch.nn.Identity(), with_observer, torch.zeros(1), torch.zeros(1, 1))


def _tiny_depthwise_net():
    import torch

    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1),
        torch.nn.BatchNorm2d(8),
        torch.nn.ReLU(),
        torch.nn.Conv2d(8, 8, 3, padding=1, groups=8),  # depthwise
        torch.nn.BatchNorm2d(8),
        torch.nn.ReLU(),
        torch.nn.Conv2d(8, 16, 1),
        torch.nn.Conv2d(16, 16, 5, padding=2, groups=16),  # depthwise 5x5
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(16, 4),
    ).eval()


def _conv_weight_kinds(graph_module) -> list[tuple[int, bool]]:
    """(groups, weight comes from a dequantize node) of every conv2d, in graph order."""
    import torch

    kinds = []
    for node in graph_module.graph.nodes:
        if node.op == "call_function" and node.target == torch.ops.aten.conv2d.default:
            groups = node.args[6] if len(node.args) > 6 else 1
            kinds.append((groups, "dequantize" in str(node.args[1].target)))
    return kinds


def test_dwfp32_keeps_depthwise_convs_float_and_quantizes_the_rest():
    import dataclasses

    import torch

    from deploy.export import xnnpack

    recipe = get_recipe("xnnpack-int8-dwfp32")
    assert recipe.quantization is not None
    assert recipe.quantization.float_ops == ("depthwise-conv",)
    assert recipe.as_dict()["quantization"]["float_ops"] == ["depthwise-conv"]
    assert "float_ops" not in get_recipe("xnnpack-int8").as_dict()["quantization"]
    with pytest.raises(RecipeError, match="float_ops"):
        dataclasses.replace(recipe.quantization, float_ops=("pointwise-conv",))

    torch.manual_seed(0)
    net, example = _tiny_depthwise_net(), torch.rand(1, 3, 16, 16)
    calibration = torch.rand(4, 3, 16, 16)
    mixed = xnnpack.quantize_pt2e(net, recipe, example, calibration)
    assert _conv_weight_kinds(mixed) == [(1, True), (8, False), (1, True), (16, False)]
    plain = xnnpack.quantize_pt2e(net, get_recipe("xnnpack-int8"), example, calibration)
    assert _conv_weight_kinds(plain) == [(1, True), (8, True), (1, True), (16, True)]
    large = xnnpack.quantize_pt2e(net, get_recipe("xnnpack-int8-dw5fp32"), example, calibration)
    assert _conv_weight_kinds(large) == [(1, True), (8, True), (1, True), (16, False)]
    linears = [n for n in mixed.graph.nodes if n.target == torch.ops.aten.linear.default]
    assert linears and all("dequantize" in str(n.args[1].target) for n in linears)

    lowered = xnnpack.lower(net, recipe, example, calibration)
    assert lowered.delegation["non_delegated_ops"] == 0
    assert lowered.delegation["coverage"] == 1.0
