"""What can be checked of a Core ML artifact on a machine where Core ML cannot predict.

coremltools predicts on macOS only. Everywhere, an artifact is checked structurally:

- the saved `.mlpackage` reloads as a spec, is an ML program, and targets iOS 17 or newer
  (specification version >= 8);
- one input `input` of the model's input shape (float32) and one output `logits` of
  [1, classes] (float32);
- an op histogram of the ML program (nested blocks included), and a histogram of the data types
  its ops produce; the precision rules:
    fp16  no quantize / dequantize / constexpr_* op, and float16 tensors present;
    int8  (W8A8) quantize and dequantize ops present: activations are quantized;
    w8    constexpr_* dequantize ops present (int8 weights), no activation quantize op;
  so a float package mislabelled int8 (or the reverse) is caught;
- its size, and that the manifest entry (sha256 = tree digest, size, format, input shape)
  describes this package.

On macOS the package also predicts on the held-out images and is compared with the eager model
(deploy.export.validation's figures and thresholds). Elsewhere that comparison is SKIPPED and the
reason recorded, never silently. An `et-coreml-fp16` program (.pte) has its Core ML model(s)
extracted from the delegate data and checked by the same rules.
"""

from __future__ import annotations

import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from deploy.export.coreml_artifact import artifact_sha256, artifact_size

INPUT_NAME = "input"
OUTPUT_NAME = "logits"
MIN_SPEC_VERSION = 8  # iOS 17 / macOS 14
ACTIVATION_QUANT_OPS = ("quantize", "dequantize")
CONSTEXPR_PREFIX = "constexpr_"
NO_PREDICTION_REASON = (
    "Core ML cannot predict on {platform}: coremltools runs models on macOS only; the package "
    "was checked structurally (spec, I/O, op histogram, size); compare predictions on a Mac"
)
ET_NO_PREDICTION_REASON = (
    "the ExecuTorch Core ML delegate runs on Apple platforms only; the embedded Core ML model "
    "was checked structurally; run the .pte on a Mac or iPhone to compare predictions"
)


def _dtype_names() -> dict[int, str]:
    from coremltools.proto import MIL_pb2

    return {value: name.lower() for name, value in MIL_pb2.DataType.items()}


def load_spec(path: Path) -> Any:
    """The Model protobuf of a saved .mlpackage (no prediction, works on Linux)."""
    from deploy.export.coreml import quiet

    with quiet():
        import coremltools as ct

        return ct.utils.load_spec(str(path))


def _walk(operations: Any, ops: Counter[str], dtypes: Counter[str], names: dict[int, str]) -> None:
    for op in operations:
        ops[op.type] += 1
        for output in op.outputs:
            kind = output.type.WhichOneof("type")
            if kind == "tensorType":
                dtypes[names.get(output.type.tensorType.dataType, "other")] += 1
        for block in op.blocks:
            _walk(block.operations, ops, dtypes, names)


def histograms(spec: Any) -> tuple[dict[str, int], dict[str, int]]:
    """(op type -> count, produced data type -> count) over every function of the ML program."""
    ops: Counter[str] = Counter()
    dtypes: Counter[str] = Counter()
    names = _dtype_names()
    for function in spec.mlProgram.functions.values():
        for block in function.block_specializations.values():
            _walk(block.operations, ops, dtypes, names)
    return dict(sorted(ops.items())), dict(sorted(dtypes.items()))


def op_histogram(spec: Any) -> dict[str, int]:
    return histograms(spec)[0]


def _features(features: Any) -> list[dict[str, Any]]:
    from coremltools.proto import FeatureTypes_pb2

    out = []
    for feature in features:
        kind = feature.type.WhichOneof("Type")
        item: dict[str, Any] = {"name": feature.name, "type": kind}
        if kind == "multiArrayType":
            array = feature.type.multiArrayType
            item["shape"] = [int(d) for d in array.shape]
            item["dtype"] = FeatureTypes_pb2.ArrayFeatureType.ArrayDataType.Name(
                array.dataType
            ).lower()
        out.append(item)
    return out


@dataclass(frozen=True)
class PackageReport:
    """What a saved Core ML package is, read from its spec."""

    spec_version: int
    model_type: str
    inputs: list[dict[str, Any]]
    outputs: list[dict[str, Any]]
    op_histogram: dict[str, int]
    dtype_histogram: dict[str, int]
    size_bytes: int

    @property
    def activation_quant_ops(self) -> int:
        return sum(self.op_histogram.get(op, 0) for op in ACTIVATION_QUANT_OPS)

    @property
    def constexpr_ops(self) -> int:
        return sum(n for op, n in self.op_histogram.items() if op.startswith(CONSTEXPR_PREFIX))

    def as_dict(self) -> dict[str, Any]:
        return {
            "spec_version": self.spec_version,
            "model_type": self.model_type,
            "inputs": self.inputs,
            "outputs": self.outputs,
            "op_histogram": self.op_histogram,
            "dtype_histogram": self.dtype_histogram,
            "size_bytes": self.size_bytes,
        }


def inspect_package(path: Path) -> PackageReport:
    """Reload `path` as a spec and describe it (raises if it does not load)."""
    spec = load_spec(path)
    model_type = spec.WhichOneof("Type") or "none"
    ops, dtypes = histograms(spec) if model_type == "mlProgram" else ({}, {})
    return PackageReport(
        spec_version=int(spec.specificationVersion),
        model_type=model_type,
        inputs=_features(spec.description.input),
        outputs=_features(spec.description.output),
        op_histogram=ops,
        dtype_histogram=dtypes,
        size_bytes=artifact_size(path),
    )


def precision_failures(report: PackageReport, precision: str) -> list[str]:
    """What contradicts the recipe's precision in the op histogram (empty: consistent)."""
    quant, constexpr = report.activation_quant_ops, report.constexpr_ops
    ops = report.op_histogram
    failures = []
    if precision in ("fp16", "fp32"):
        if quant or constexpr:
            failures.append(
                f"a {precision} package must hold no quantization ops, found "
                f"{quant} quantize/dequantize and {constexpr} constexpr_* ops (mislabelled?)"
            )
        if precision == "fp16" and not report.dtype_histogram.get("float16"):
            failures.append("an fp16 package computes no float16 tensor (converted as fp32?)")
    elif precision == "int8":
        if not ops.get("quantize") or not (ops.get("dequantize") or constexpr):
            failures.append(
                "an int8 (W8A8) package must hold quantize and dequantize ops, found "
                f"{ops.get('quantize', 0)} quantize, {ops.get('dequantize', 0)} dequantize, "
                f"{constexpr} constexpr_* (float package mislabelled int8?)"
            )
    elif precision == "w8":
        if not constexpr:
            failures.append(
                "a w8 (weight-only int8) package must hold constexpr_* dequantize ops, found "
                "none (float package mislabelled w8?)"
            )
        if ops.get("quantize"):
            failures.append(
                f"a w8 package keeps activations float, but holds {ops['quantize']} quantize ops"
            )
    else:
        failures.append(f"unknown precision {precision!r} for a Core ML package")
    return failures


def structure_failures(
    report: PackageReport, precision: str, input_shape: list[int] | tuple[int, ...], classes: int
) -> list[str]:
    """Every rule a package breaks: type, target, I/O names and shapes, precision, size."""
    failures = []
    if report.model_type != "mlProgram":
        failures.append(f"the package is a {report.model_type}, not an ML program")
    if report.spec_version < MIN_SPEC_VERSION:
        failures.append(
            f"specification version {report.spec_version} is below {MIN_SPEC_VERSION} (iOS 17)"
        )
    expected_in = {"name": INPUT_NAME, "shape": list(input_shape), "dtype": "float32"}
    expected_out = {"name": OUTPUT_NAME, "shape": [1, classes], "dtype": "float32"}
    for role, found, expected in (
        ("input", report.inputs, expected_in),
        ("output", report.outputs, expected_out),
    ):
        got = [{k: f.get(k) for k in ("name", "shape", "dtype")} for f in found]
        if got != [expected]:
            failures.append(f"{role}s are {got}, expected [{expected}]")
    failures += precision_failures(report, precision)
    if report.size_bytes <= 0:
        failures.append("the package holds no bytes")
    return failures


def entry_failures(entry: Any, path: Path) -> list[str]:
    """Does the manifest entry describe the package at `path`? (duck-typed ManifestEntry)"""
    failures = []
    if not Path(path).exists():
        return [f"{path} is missing"]
    digest = artifact_sha256(path)
    if entry.sha256 != digest:
        failures.append(f"manifest sha256 {entry.sha256[:12]}… is not the package's {digest[:12]}…")
    size = artifact_size(path)
    if entry.size_bytes != size:
        failures.append(f"manifest size {entry.size_bytes} is not the package's {size} bytes")
    if entry.recipe.get("format") != Path(path).suffix:
        failures.append(f"manifest format {entry.recipe.get('format')} is not {Path(path).suffix}")
    return failures


def predict_package(path: Path, images: torch.Tensor) -> torch.Tensor:
    """Core ML predictions (CPU only), one image at a time. macOS only."""
    import numpy as np

    from deploy.export.coreml import quiet

    with quiet():
        import coremltools as ct

        model = ct.models.MLModel(str(path), compute_units=ct.ComputeUnit.CPU_ONLY)
    outs = []
    for i in range(len(images)):
        feed = {INPUT_NAME: images[i : i + 1].contiguous().numpy().astype(np.float32)}
        outs.append(torch.from_numpy(np.asarray(model.predict(feed)[OUTPUT_NAME], np.float32)))
    return torch.cat([o.reshape(1, -1) for o in outs])


def can_predict(platform: str | None = None) -> bool:
    return (platform or sys.platform) == "darwin"


@dataclass
class CoreMLValidation:
    """The verdict on one Core ML artifact: structure always, predictions where possible."""

    report: PackageReport | None
    failures: list[str]
    fidelity: dict[str, Any]
    extracted: list[dict[str, Any]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures and self.fidelity.get("passed") is not False


def validate_package(
    path: Path,
    precision: str,
    input_shape: list[int] | tuple[int, ...],
    classes: int,
    *,
    compare: Callable[[torch.Tensor], dict[str, Any]] | None = None,
    images: torch.Tensor | None = None,
    platform: str | None = None,
) -> CoreMLValidation:
    """Structural checks; then, on macOS with `images` and `compare`, prediction fidelity.

    `compare(outputs)` turns the package's logits into a fidelity dict with a "passed" key
    (the pipeline binds the eager reference and thresholds); elsewhere the fidelity dict says
    `skipped` with the reason.
    """
    try:
        report = inspect_package(path)
    except Exception as exc:  # a package that does not reload is the finding itself
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        return CoreMLValidation(None, [f"{path.name} does not reload as a spec: {first}"], {})
    failures = structure_failures(report, precision, input_shape, classes)
    platform = platform or sys.platform
    if compare is None or images is None:
        fidelity: dict[str, Any] = {"skipped": "no held-out images were given", "passed": None}
    elif not can_predict(platform):
        fidelity = {"skipped": NO_PREDICTION_REASON.format(platform=platform), "passed": None}
    else:
        fidelity = compare(predict_package(path, images))
    return CoreMLValidation(report, failures, fidelity)


def extract_delegated_packages(pte: Path, out_dir: Path) -> list[Path]:
    """The Core ML model packages inside an ExecuTorch program's CoreMLBackend delegates."""
    from deploy.export.coreml import quiet

    with quiet():
        from executorch.examples.apple.coreml.scripts.extract_coreml_models import (
            extract_coreml_models,
        )

        folders = extract_coreml_models(Path(pte).read_bytes(), out_dir)
    packages = []
    for folder in folders:
        packages += sorted(p for p in Path(folder).rglob("*.mlpackage") if p.is_dir())
    return packages


def validate_executorch_program(
    pte: Path,
    precision: str,
    delegation: dict[str, Any] | None = None,
) -> CoreMLValidation:
    """An ExecuTorch program delegated to Core ML: its Core ML partitions checked structurally.

    The whole graph must be delegated (coverage 1 when `delegation` is given) and every
    embedded ML program must follow the precision rules; I/O names are the partition's own
    (ExecuTorch feeds them), so only precision, type and target are checked per partition.
    """
    failures = []
    if delegation is not None and delegation.get("coverage", 0) < 1.0:
        failures.append(
            f"only {delegation.get('coverage', 0):.0%} of the graph is delegated to Core ML; "
            f"left outside: {delegation.get('non_delegated')}"
        )
    extracted: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="coreml_extract_") as tmp:
        packages = extract_delegated_packages(pte, Path(tmp))
        if not packages:
            failures.append(f"{pte.name} holds no Core ML delegate (CoreMLBackend)")
        for package in packages:
            report = inspect_package(package)
            extracted.append(report.as_dict())
            if report.model_type != "mlProgram":
                failures.append(f"a delegate holds a {report.model_type}, not an ML program")
            if report.spec_version < MIN_SPEC_VERSION:
                failures.append(
                    f"a delegate's specification version {report.spec_version} is below "
                    f"{MIN_SPEC_VERSION} (iOS 17)"
                )
            failures += precision_failures(report, precision)
    fidelity = {"skipped": ET_NO_PREDICTION_REASON, "passed": None}
    return CoreMLValidation(None, failures, fidelity, extracted)
