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
