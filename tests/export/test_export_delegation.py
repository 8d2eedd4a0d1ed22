"""Every compute op of every family lands in the XNNPACK delegate, fp32 and int8.

MobileNetV3's hard-sigmoid used to leave 16-18 `_to_dim_order_copy` casts of lifted 0-d
constants outside XNNPACK; this fails if any compute op falls outside the delegate again.
Narrow widths and 64 px keep it quick (lowering time follows the node count, not the size).
MobileNetV1 is covered both ways by test_export_pipeline.py.
"""

from __future__ import annotations

import pytest
import torch

from deploy.export.recipes import get_recipe
from deploy.export.xnnpack import lower
from deploy.models import build_model, parse_model_name

# One lowering per family keeps this file at a few minutes on a shared 2-core host: V3-Large
# fp32 is the graph that used to leave casts outside, V3-Small int8 adds quantize/dequantize
# around the same gates, and the SE-gate test below checks both precisions on a tiny graph.
# MobileNetV1 (both ways) is in test_export_pipeline.py; the 224 px default set is gated on
# min_delegation = 1.0 by every `nox -s export`.
CASES = [
    ("mobilenet_v2_0.35_64", "xnnpack-fp32"),
    ("mobilenet_v3_large_0.35_64", "xnnpack-fp32"),
    ("mobilenet_v3_small_0.35_64", "xnnpack-int8"),
]


@pytest.mark.parametrize(("model", "recipe"), CASES)
def test_every_compute_op_is_delegated(model, recipe):
    built = build_model(parse_model_name(model))
    torch.manual_seed(0)
    images = torch.randn(2, *built.spec.input_shape[1:])
    lowered = lower(built.module, get_recipe(recipe), images[:1], images)
    report = lowered.delegation
    assert report["non_delegated"] == {}, f"outside XNNPACK: {report['non_delegated']}"
    assert report["coverage"] == 1.0
    assert report["delegates"] >= 1 and report["delegated_ops"] > 0
    if recipe == "xnnpack-int8":
        assert any("quantize_per_tensor" in op for op in report["delegated"])
    if "v3" in model:
        assert report["delegated"].get("aten.hardswish.default", 0) > 0


def test_squeeze_excite_gate_alone_is_fully_delegated():
    """The smallest graph with a hard-sigmoid: the regression, quickly."""
    from deploy.models.layers import SqueezeExcitation

    block = SqueezeExcitation(16, 8).eval()
    example = torch.randn(1, 16, 8, 8)
    for recipe in ("xnnpack-fp32", "xnnpack-int8"):
        report = lower(block, get_recipe(recipe), example, example).delegation
        assert report["non_delegated"] == {} and report["coverage"] == 1.0, (recipe, report)
