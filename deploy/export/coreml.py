"""Core ML lowering: torch.export -> coremltools (ML program, iOS 17) or ExecuTorch + Core ML.

Four recipes (deploy/export/recipes.py), one function each:

- `coreml-fp16`: `ct.convert` of the exported program to an ML program with float16 compute,
  minimum deployment target iOS 17, float32 input `input` and output `logits`;
- `coreml-int8` (W8A8): PT2E with the Core ML quantizer (per-channel symmetric int8 weights,
  activations calibrated on the real calibration images), then `ct.convert` of the quantized
  program: the ML program holds quantize/dequantize ops;
- `coreml-w8`: the fp16 program with weights linearly quantized to int8 per channel
  (`ct.optimize.coreml.linear_quantize_weights`): constexpr dequantize ops, float activations;
- `et-coreml-fp16`: an ExecuTorch program (.pte) whose graph is delegated to Core ML through
  `CoreMLPartitioner` (fp16, iOS 17).

The quantizer: coremltools 9.0's own `coremltools.optimize.torch.quantization.CoreMLQuantizer`
imports `torch.ao.quantization.quantizer`, which torch 2.13 no longer has. ExecuTorch ships the
same quantizer ported to torchao's PT2E (`executorch.backends.apple.coreml.quantizer`), driven by
coremltools' `LinearQuantizerConfig`; that is what runs here.

Heavy imports (coremltools, executorch, torchao) happen inside the functions.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from deploy.errors import ExportError
from deploy.export.recipes import Recipe
from deploy.export.validation import Fidelity

INPUT_NAME = "input"
OUTPUT_NAME = "logits"
MINIMUM_TARGET = "iOS17"
#: Weight tensors smaller than this stay fp16 in `coreml-w8` (coremltools' default is 2048; the
#: narrow depthwise kernels of small MobileNets would otherwise all stay float).
W8_WEIGHT_THRESHOLD = 512


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence coremltools' progress bars (tqdm on stderr) and its import-time chatter.

    Exceptions still propagate; nothing that explains a failure goes to these streams only.
    """
    sink = io.StringIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with contextlib.redirect_stderr(sink), contextlib.redirect_stdout(sink):
            yield


def import_coremltools() -> Any:
    with quiet():
        import coremltools as ct
    return ct


def _target(ct: Any) -> Any:
    return getattr(ct.target, MINIMUM_TARGET)


@dataclass(frozen=True)
class CoreMLFidelity(Fidelity):
    """Fidelity plus what only Core ML artifacts carry (skip reason, spec report, references)."""

    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {**super().as_dict(), **self.extra}


@dataclass
class LoweredCoreML:
    """A Core ML artifact in memory: an MLModel (.mlpackage) or ExecuTorch program bytes (.pte)."""

    format: str  # ".mlpackage" | ".pte"
    mlmodel: Any = None
    data: bytes = b""
    delegation: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    #: the PT2E-quantized torch graph (coreml-int8 only): what the Core ML program should
    #: compute up to fp16 rounding, runnable here where Core ML is not.
    reference: torch.nn.Module | None = None

    def write(self, path: Path) -> Path:
        """Save atomically: a temp sibling, then a rename (a directory for .mlpackage)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
        try:
            if self.format == ".mlpackage":
                staged = temp / path.name
                with quiet():
                    self.mlmodel.save(str(staged))
            else:
                staged = temp / path.name
                staged.write_bytes(self.data)
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
            os.replace(staged, path)
        finally:
            shutil.rmtree(temp, ignore_errors=True)
        return path


def export_program(module: torch.nn.Module, example: torch.Tensor) -> torch.export.ExportedProgram:
    """torch.export in the ATen dialect coremltools converts (decompositions run)."""
    with torch.no_grad():
        return torch.export.export(module, (example.contiguous(),)).run_decompositions({})


def convert(program: torch.export.ExportedProgram, example: torch.Tensor, *, fp16: bool) -> Any:
    """ct.convert to an ML program for iOS 17 with float32 I/O named input/logits."""
    import numpy as np

    ct = import_coremltools()
    with quiet():
        return ct.convert(
            program,
            inputs=[ct.TensorType(name=INPUT_NAME, shape=tuple(example.shape), dtype=np.float32)],
            outputs=[ct.TensorType(name=OUTPUT_NAME, dtype=np.float32)],
            convert_to="mlprogram",
            compute_precision=ct.precision.FLOAT16 if fp16 else ct.precision.FLOAT32,
            minimum_deployment_target=_target(ct),
        )


def quantizer_config(recipe: Recipe) -> Any:
    """coremltools' LinearQuantizerConfig for a W8A8 recipe (PT2E, calibrated activations)."""
    from coremltools.optimize.torch.quantization.quantization_config import (
        LinearQuantizerConfig,
        QuantizationScheme,
    )

    config = recipe.quantization
    if config is None or config.weight_bits != 8 or config.activation_bits != 8:
        raise ExportError(f"recipe {recipe.name}: the Core ML quantizer here does W8A8 only")
    scheme = QuantizationScheme.symmetric if config.weight_symmetric else QuantizationScheme.affine
    settings: dict[str, Any] = {
        "quantization_scheme": scheme,
        # milestones only matter for QAT; PTQ observes then converts.
        "milestones": [0, 0, 10, 10],
        "activation_dtype": torch.quint8,
        "weight_dtype": torch.qint8,
        "weight_per_channel": config.weight_granularity == "per-channel",
    }
    if config.activation_observer is not None:
        observer = _OBSERVERS.get(config.activation_observer)
        if observer is None:
            raise ExportError(
                f"recipe {recipe.name}: activation observer {config.activation_observer!r} is "
                f"not one of {', '.join(_OBSERVERS)}"
            )
        settings["activation_observer"] = observer
    return LinearQuantizerConfig.from_dict({"global_config": settings})


#: QuantizationConfig.activation_observer -> coremltools' ObserverType value
_OBSERVERS = {"min-max": "min_max", "moving-average-min-max": "moving_average_min_max"}


def quantize_w8a8(
    module: torch.nn.Module, recipe: Recipe, example: torch.Tensor, calibration: torch.Tensor
) -> torch.nn.Module:
    """PT2E with the Core ML quantizer: observe `calibration` one image at a time, convert."""
    with quiet():
        from executorch.backends.apple.coreml.quantizer import CoreMLQuantizer
        from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    if len(calibration) == 0:
        raise ExportError(f"recipe {recipe.name} needs calibration images; none were given")
    quantizer = CoreMLQuantizer(quantizer_config(recipe))
    graph_module = torch.export.export(module, (example.contiguous(),)).module()
    prepared = prepare_pt2e(graph_module, quantizer)  # type: ignore[arg-type]
    with torch.no_grad():
        for i in range(len(calibration)):
            prepared(calibration[i : i + 1].contiguous())
    return convert_pt2e(prepared)


def quantize_weights(mlmodel: Any, recipe: Recipe) -> Any:
    """Weight-only linear int8 (per channel, symmetric) of an ML program."""
    import_coremltools()  # once, quietly
    from coremltools.optimize.coreml import (
        OpLinearQuantizerConfig,
        OptimizationConfig,
        linear_quantize_weights,
    )

    config = recipe.quantization
    if config is None or config.weight_bits != 8:
        raise ExportError(f"recipe {recipe.name}: weight-only Core ML quantization is int8 here")
    op_config = OpLinearQuantizerConfig(
        mode="linear_symmetric" if config.weight_symmetric else "linear",
        dtype="int8",
        granularity="per_channel" if config.weight_granularity == "per-channel" else "per_tensor",
        weight_threshold=W8_WEIGHT_THRESHOLD,
    )
    with quiet():
        return linear_quantize_weights(mlmodel, OptimizationConfig(global_config=op_config))


def program_delegation(mlmodel: Any) -> dict[str, Any]:
    """A whole ML program runs in Core ML: coverage 1, its compute ops listed by type.

    Same keys as deploy.export.delegation.delegation_report, so tables read both alike.
    """
    from deploy.export.coreml_validation import op_histogram

    ops = {k: v for k, v in op_histogram(mlmodel.get_spec()).items() if k != "const"}
    return {
        "backends": {"coreml": 1},
        "delegates": 1,
        "delegated_ops": sum(ops.values()),
        "non_delegated_ops": 0,
        "coverage": 1.0,
        "delegated": ops,
        "non_delegated": {},
    }


def lower_executorch(
    module: torch.nn.Module, recipe: Recipe, example: torch.Tensor
) -> tuple[bytes, dict[str, Any]]:
    """An ExecuTorch program delegated to Core ML (fp16, iOS 17): .pte bytes and delegation."""
    ct = import_coremltools()
    with quiet():
        from executorch.backends.apple.coreml.compiler import CoreMLBackend
        from executorch.backends.apple.coreml.partition import CoreMLPartitioner
        from executorch.exir import to_edge_transform_and_lower

    from deploy.export.delegation import delegation_report

    specs = CoreMLBackend.generate_compile_specs(
        compute_precision=ct.precision.FLOAT16
        if recipe.precision == "fp16"
        else ct.precision.FLOAT32,
        minimum_deployment_target=_target(ct),
    )
    with torch.no_grad():
        program = torch.export.export(module, (example.contiguous(),))
    with quiet():
        edge = to_edge_transform_and_lower(
            program, partitioner=[CoreMLPartitioner(compile_specs=specs)]
        )
        delegation = delegation_report(edge.exported_program())
        data = edge.to_executorch().buffer
    return data, delegation


def lower(
    module: torch.nn.Module,
    recipe: Recipe,
    example: torch.Tensor,
    calibration: torch.Tensor | None = None,
) -> LoweredCoreML:
    """The Core ML artifact of `module` (eval mode, fp32) under a `coreml` backend recipe."""
    if recipe.backend != "coreml":
        raise ExportError(f"recipe {recipe.name} is not a Core ML recipe")
    example = example.contiguous()
    timings: dict[str, float] = {}
    stage = "torch.export"
    start = time.perf_counter()
    try:
        if recipe.format == ".pte":
            stage = "Core ML delegation (CoreMLPartitioner)"
            data, delegation = lower_executorch(module, recipe, example)
            timings["lower_s"] = time.perf_counter() - start
            return LoweredCoreML(".pte", data=data, delegation=delegation, timings=timings)
        reference = None
        scheme = recipe.quantization.scheme if recipe.quantization else None
        if scheme == "pt2e-static":
            stage = "PT2E quantization (Core ML quantizer)"
            calibration = calibration if calibration is not None else torch.empty(0)
            reference = quantize_w8a8(module, recipe, example, calibration)
            timings["quantize_s"] = time.perf_counter() - start
            start = time.perf_counter()
            stage = "torch.export"
            program = export_program(reference, example)
            stage = "ct.convert"
            mlmodel = convert(program, example, fp16=True)
        else:
            program = export_program(module, example)
            stage = "ct.convert"
            mlmodel = convert(program, example, fp16=recipe.precision in ("fp16", "w8"))
            if scheme == "weight-only":
                timings["convert_s"] = time.perf_counter() - start
                start = time.perf_counter()
                stage = "linear_quantize_weights"
                mlmodel = quantize_weights(mlmodel, recipe)
                timings["quantize_s"] = time.perf_counter() - start
                start = time.perf_counter()
        timings["lower_s"] = time.perf_counter() - start
        return LoweredCoreML(
            ".mlpackage",
            mlmodel=mlmodel,
            delegation=program_delegation(mlmodel),
            timings=timings,
            reference=reference,
        )
    except ExportError:
        raise
    except Exception as exc:  # torch.export, coremltools and exir raise many types
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        raise ExportError(
            f"{stage} failed for recipe {recipe.name} ({type(exc).__name__}: {first}); "
            "check the model and the coremltools/executorch versions, or report the model name"
        ) from exc


# -- the pipeline's backend interface (deploy/export/pipeline.py) ------------------------------


def run(path: Path, images: torch.Tensor) -> torch.Tensor:
    """Outputs of a Core ML package (macOS only); raises elsewhere with the reason."""
    from deploy.export.coreml_validation import NO_PREDICTION_REASON, can_predict, predict_package

    if Path(path).suffix != ".mlpackage" or not can_predict():
        raise RuntimeError(NO_PREDICTION_REASON.format(platform=sys.platform))
    return predict_package(Path(path), images)


def validate_artifact(
    path: Path,
    reference: torch.Tensor,
    validation: Any,
    recipe: Recipe,
    thresholds: Any,
    lowered: LoweredCoreML,
) -> Any:
    """The pipeline's fidelity for a Core ML artifact: structure always, predictions on macOS.

    Returns a deploy.export.validation.Fidelity whose failures are the structural ones (and the
    prediction ones on macOS); `as_dict()` adds `skipped` (why predictions were not compared),
    `coreml` (spec version, I/O, op and dtype histograms, size) and, for W8A8, `torch_reference`:
    the PT2E-quantized torch graph against the eager model on the same held-out images - a
    check of the calibration, not of the Core ML program.
    """
    from deploy.export.coreml_validation import validate_executorch_program, validate_package
    from deploy.export.validation import compare, judge, outputs_digest

    images = validation.tensor
    checks = {m: b for m, _, b in thresholds.checks(recipe.precision)}

    def fidelity_of(outputs: torch.Tensor) -> dict[str, Any]:
        metrics = compare(reference, outputs)
        failures = judge(metrics, recipe.precision, thresholds)
        return {
            **metrics,
            "failures": failures,
            "passed": not failures,
            "outputs_sha256": outputs_digest(outputs),
        }

    if recipe.format == ".pte":
        result = validate_executorch_program(Path(path), recipe.precision, lowered.delegation)
    else:
        classes = int(reference.shape[-1])
        result = validate_package(
            Path(path),
            recipe.precision,
            tuple(images[:1].shape),
            classes,
            compare=fidelity_of,
            images=images,
        )
    predicted = {k: v for k, v in result.fidelity.items() if k not in ("failures", "passed")}
    metrics = {k: float(v) for k, v in predicted.items() if isinstance(v, int | float)}
    extra: dict[str, Any] = {"skipped": result.fidelity.get("skipped")}
    if result.report is not None:
        extra["coreml"] = result.report.as_dict()
    if result.extracted:
        extra["coreml_delegates"] = result.extracted
    if lowered.reference is not None:
        with torch.no_grad():
            outs = torch.cat([lowered.reference(images[i : i + 1]) for i in range(len(images))])
        metrics_ref = compare(reference, outs)
        ref_failures = judge(metrics_ref, recipe.precision, thresholds)
        extra["torch_reference"] = {
            **metrics_ref,
            "what": "the PT2E-quantized torch graph before ct.convert, not the Core ML program",
            "failures": ref_failures,
        }
    failures = list(result.failures) + list(result.fidelity.get("failures", []))
    # Where Core ML cannot predict, a quantized graph that already misses the thresholds in
    # torch (bad calibration) is reason enough to refuse the artifact.
    failures += [
        f"torch reference: {f}" for f in extra.get("torch_reference", {}).get("failures", [])
    ]
    return CoreMLFidelity(
        metrics=metrics,
        thresholds=checks,
        failures=failures,
        images={"sha256": validation.sha256, "count": len(images)},
        outputs_sha256=str(predicted.get("outputs_sha256", "")),
        extra=extra,
    )
