"""ExecuTorch + XNNPACK lowering: torch.export -> (PT2E int8) -> edge + XNNPACK -> .pte bytes.

torch-heavy imports (executorch, torchao) happen inside the functions, so that importing the
export package (e.g. for a cache check) stays cheap.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from deploy.errors import ExportError
from deploy.export.delegation import delegation_report
from deploy.export.recipes import Recipe

aten = torch.ops.aten


@dataclass
class LoweredProgram:
    """A serialised program and what the backend took of it."""

    data: bytes
    delegation: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)

    def write(self, path: Path) -> None:
        Path(path).write_bytes(self.data)


def _hardsigmoid_with_scalars(x: torch.Tensor) -> torch.Tensor:
    # clamp(x + 3, 0, 6) / 6 with *float* Python scalars. The stock decomposition uses integer
    # literals, which become 0-d int64 constants cast by `_to_dim_order_copy` outside XNNPACK
    # (16-18 such nodes in a MobileNetV3 with SE blocks); float scalars become float constants
    # that XNNPACK takes as static data, so the whole graph is delegated.
    return aten.div.Tensor(aten.clamp.default(aten.add.Tensor(x, 3.0), 0.0, 6.0), 6.0)


def fold_scalar_constants(program: torch.export.ExportedProgram) -> torch.export.ExportedProgram:
    """Decompose hardsigmoid ourselves so no cast of a lifted 0-d constant is left behind.

    hardswish needs nothing: XNNPACK has a hardswish op and the partitioner keeps it whole.
    """
    return program.run_decompositions({aten.hardsigmoid.default: _hardsigmoid_with_scalars})


def is_depthwise_conv(node: torch.fx.Node) -> bool:
    """An aten conv node whose groups equal its input channels (> 1)."""
    if node.op != "call_function" or node.target not in (aten.conv2d.default, aten.conv1d.default):
        return False
    groups = node.args[6] if len(node.args) > 6 else node.kwargs.get("groups", 1)
    source = node.args[0]
    value = source.meta.get("val") if isinstance(source, torch.fx.Node) else None
    return isinstance(groups, int) and groups > 1 and value is not None and value.shape[1] == groups


def is_depthwise_conv_5x5(node: torch.fx.Node) -> bool:
    """A depthwise conv whose kernel has 25 or more taps (5x5, 7x7, ...)."""
    if not is_depthwise_conv(node):
        return False
    weight = node.args[1]
    value = weight.meta.get("val") if isinstance(weight, torch.fx.Node) else None
    return value is not None and value.shape[2:].numel() >= 25


FLOAT_OP_TESTS = {
    "depthwise-conv": is_depthwise_conv,
    "depthwise-conv-5x5": is_depthwise_conv_5x5,
}


def quantize_pt2e(
    module: torch.nn.Module, recipe: Recipe, example: torch.Tensor, calibration: torch.Tensor
) -> torch.nn.Module:
    """PT2E with the XNNPACK quantizer: observe `calibration` (N images, one at a time), convert."""
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer,
        get_symmetric_quantization_config,
    )
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    config = recipe.quantization
    assert config is not None
    if config.weight_bits != 8 or not config.weight_symmetric:
        raise ExportError(f"recipe {recipe.name}: XNNPACK PT2E supports symmetric 8-bit weights")
    if config.activation_observer is not None:
        raise ExportError(
            f"recipe {recipe.name}: the XNNPACK quantizer picks its own activation observers; "
            "drop activation_observer from the recipe"
        )
    if len(calibration) == 0:
        raise ExportError(f"recipe {recipe.name} needs calibration images; none were given")
    quantizer = XNNPACKQuantizer().set_global(
        get_symmetric_quantization_config(
            is_per_channel=config.weight_granularity == "per-channel",
            is_dynamic=config.activation_mode == "dynamic",
        )
    )
    if config.float_ops:
        # the quantizer skips a pattern (conv + bn + act) if the filter rejects any of its nodes
        tests = [FLOAT_OP_TESTS[kind] for kind in config.float_ops]
        quantizer.set_filter_function(lambda node: not any(test(node) for test in tests))
    graph_module = torch.export.export(module, (example,)).module()
    prepared = prepare_pt2e(graph_module, quantizer)  # type: ignore[arg-type]
    with torch.no_grad():
        for i in range(len(calibration)):
            prepared(calibration[i : i + 1].contiguous())
    return convert_pt2e(prepared)


def lower(
    module: torch.nn.Module,
    recipe: Recipe,
    example: torch.Tensor,
    calibration: torch.Tensor | None = None,
) -> LoweredProgram:
    """The .pte bytes of `module` (eval mode, fp32) under an XNNPACK `recipe`."""
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    example = example.contiguous()  # a channels-last example would bake layout copies in
    timings: dict[str, float] = {}
    stage = "torch.export"
    try:
        with torch.no_grad():
            start = time.perf_counter()
            if recipe.quantization is not None:
                stage = "PT2E quantization"
                module = quantize_pt2e(
                    module,
                    recipe,
                    example,
                    calibration if calibration is not None else torch.empty(0),
                )
                timings["quantize_s"] = time.perf_counter() - start
                start = time.perf_counter()
            stage = "torch.export"
            program = fold_scalar_constants(torch.export.export(module, (example,)))
            stage = "XNNPACK lowering"
            edge = to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()])
            delegation = delegation_report(edge.exported_program())
            stage = "serialisation"
            data = edge.to_executorch().buffer
            timings["lower_s"] = time.perf_counter() - start
    except ExportError:
        raise
    except Exception as exc:  # torch.export and exir raise many types
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        raise ExportError(
            f"{stage} failed for recipe {recipe.name} ({type(exc).__name__}: {first}); "
            "check the model and toolchain versions, or report the model name"
        ) from exc
    return LoweredProgram(data, delegation, timings)


def run(path: Path, images: torch.Tensor) -> torch.Tensor:
    """Outputs of the .pte at `path` in the stock ExecuTorch runtime."""
    from deploy.export.validation import run_pte

    return run_pte(path, images)
