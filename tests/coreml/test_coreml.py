"""Core ML export and its validation rules, on a tiny network at 32 px (seconds, not minutes).

The slow W8A8 preparation (PT2E with the Core ML quantizer, ~40 s per MobileNet) is exercised by
`nox -s export`, not here: the int8 package below is a float network with explicit
quantize/dequantize ops, which `ct.convert` turns into the same MIL ops a W8A8 conversion gives.
Predictions are compared with eager only on macOS; elsewhere the tests check that the skip and
its reason are recorded.
"""

from __future__ import annotations

import io
import json
import shutil
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from deploy.export import coreml
from deploy.export import coreml_validation as cv
from deploy.export.coreml_artifact import artifact_sha256, artifact_size
from deploy.export.recipes import get_recipe

RES = 32
CLASSES = 10
SHAPE = (1, 3, RES, RES)


class Tiny(nn.Module):
    """conv-bn-relu6, depthwise, pointwise, pool, linear: the shapes of a MobileNet, tiny."""

    def __init__(self, qdq: bool = False) -> None:
        super().__init__()
        self.qdq = qdq
        self.features = nn.Sequential(
            nn.Conv2d(3, 32, 3, 2, 1, bias=False),
            nn.BatchNorm2d(32),
            nn.ReLU6(),
            nn.Conv2d(32, 32, 3, 1, 1, groups=32),
            nn.ReLU6(),
            nn.Conv2d(32, 64, 1),
            nn.ReLU6(),
        )
        # wide enough that coreml-w8 quantizes some weights (it leaves < 512-element ones)
        self.classifier = nn.Linear(64, CLASSES)

    @staticmethod
    def fake_quant(x: torch.Tensor, scale: float, zero: int) -> torch.Tensor:
        qd = torch.ops.quantized_decomposed
        q = qd.quantize_per_tensor.default(x, scale, zero, 0, 255, torch.uint8)
        return qd.dequantize_per_tensor.default(q, scale, zero, 0, 255, torch.uint8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.qdq:
            x = self.fake_quant(x, 0.02, 128)
        x = self.features(x)
        if self.qdq:
            x = self.fake_quant(x, 0.03, 0)
        return self.classifier(x.mean((2, 3)))


@pytest.fixture(scope="module")
def tiny() -> nn.Module:
    torch.manual_seed(0)
    return Tiny().eval()


@pytest.fixture(scope="module")
def packages(tmp_path_factory: pytest.TempPathFactory, tiny: nn.Module) -> dict[str, Path]:
    """fp16 and w8 through the recipes' own lowering, int8 from explicit q/dq ops, and the
    ExecuTorch program delegated to Core ML."""
    import torchao.quantization.pt2e  # noqa: F401  (registers quantized_decomposed ops)

    out = tmp_path_factory.mktemp("coreml")
    example = torch.randn(SHAPE)
    made = {}
    for name in ("coreml-fp16", "coreml-w8", "et-coreml-fp16"):
        recipe = get_recipe(name)
        lowered = coreml.lower(tiny, recipe, example)
        made[name] = lowered.write(out / f"tiny_{name}{recipe.format}")
    torch.manual_seed(0)
    qdq = Tiny(qdq=True).eval()
    mlmodel = coreml.convert(coreml.export_program(qdq, example), example, fp16=True)
    made["coreml-int8"] = coreml.LoweredCoreML(".mlpackage", mlmodel=mlmodel).write(
        out / "tiny_coreml-int8.mlpackage"
    )
    return made


def validate(path: Path, precision: str, **kwargs) -> cv.CoreMLValidation:
    return cv.validate_package(path, precision, SHAPE, CLASSES, **kwargs)


# -- the recipes --------------------------------------------------------------------------------


def test_coreml_recipes_are_data() -> None:
    fp16, int8, w8, et = (
        get_recipe(n) for n in ("coreml-fp16", "coreml-int8", "coreml-w8", "et-coreml-fp16")
    )
    assert {r.backend for r in (fp16, int8, w8, et)} == {"coreml"}
    assert (fp16.precision, fp16.format, fp16.quantization) == ("fp16", ".mlpackage", None)
    assert int8.needs_calibration and int8.quantization is not None
    assert int8.quantization.scheme == "pt2e-static"
    assert w8.quantization is not None and w8.quantization.scheme == "weight-only"
    assert not w8.needs_calibration and w8.quantization.activation_bits is None
    assert (et.format, et.precision) == (".pte", "fp16")


def test_w8a8_quantizer_config_follows_the_recipe() -> None:
    config = coreml.quantizer_config(get_recipe("coreml-int8")).global_config
    assert config.weight_dtype == torch.qint8 and config.activation_dtype == torch.quint8
    assert config.weight_per_channel
    with pytest.raises(Exception, match="W8A8"):
        coreml.quantizer_config(get_recipe("coreml-w8"))


# -- what each package is -----------------------------------------------------------------------


def test_fp16_package_is_a_float16_ml_program(packages: dict[str, Path]) -> None:
    result = validate(packages["coreml-fp16"], "fp16")
    assert result.failures == []
    report = result.report
    assert report is not None
    assert report.model_type == "mlProgram" and report.spec_version >= cv.MIN_SPEC_VERSION
    assert report.inputs == [
        {"name": "input", "type": "multiArrayType", "shape": list(SHAPE), "dtype": "float32"}
    ]
    assert report.outputs[0]["name"] == "logits" and report.outputs[0]["shape"] == [1, CLASSES]
    assert report.op_histogram["conv"] == 3 and report.op_histogram["linear"] == 1
    assert report.activation_quant_ops == 0 and report.constexpr_ops == 0
    assert report.dtype_histogram["float16"] > 0
    assert report.size_bytes == artifact_size(packages["coreml-fp16"]) > 0


def test_int8_package_holds_quantize_and_dequantize(packages: dict[str, Path]) -> None:
    result = validate(packages["coreml-int8"], "int8")
    assert result.failures == []
    assert result.report is not None
    assert result.report.op_histogram["quantize"] >= 2
    assert result.report.op_histogram["dequantize"] >= 2


def test_w8_package_holds_constexpr_dequantize(packages: dict[str, Path]) -> None:
    result = validate(packages["coreml-w8"], "w8")
    assert result.failures == []
    assert result.report is not None and result.report.constexpr_ops >= 1
    assert result.report.op_histogram.get("quantize", 0) == 0


# -- mislabelled packages are caught ------------------------------------------------------------


def test_fp16_package_mislabelled_int8_is_caught(packages: dict[str, Path]) -> None:
    result = validate(packages["coreml-fp16"], "int8")
    assert not result.passed
    assert any("mislabelled int8" in f for f in result.failures)


def test_fp16_package_mislabelled_w8_is_caught(packages: dict[str, Path]) -> None:
    assert any("mislabelled w8" in f for f in validate(packages["coreml-fp16"], "w8").failures)


def test_quantized_packages_mislabelled_fp16_are_caught(packages: dict[str, Path]) -> None:
    for name in ("coreml-int8", "coreml-w8"):
        failures = validate(packages[name], "fp16").failures
        assert any("must hold no quantization ops" in f for f in failures), name


def test_weight_only_package_mislabelled_w8a8_is_caught(packages: dict[str, Path]) -> None:
    failures = validate(packages["coreml-w8"], "int8").failures
    assert any("quantize and dequantize" in f for f in failures)


def test_wrong_input_shape_or_classes_are_caught(packages: dict[str, Path]) -> None:
    result = cv.validate_package(packages["coreml-fp16"], "fp16", (1, 3, 64, 64), 1000)
    assert any(f.startswith("inputs are") for f in result.failures)
    assert any(f.startswith("outputs are") for f in result.failures)


def test_a_folder_that_is_not_a_package_is_caught(tmp_path: Path) -> None:
    fake = tmp_path / "broken.mlpackage"
    fake.mkdir()
    (fake / "Manifest.json").write_text("{}")
    result = validate(fake, "fp16")
    assert result.report is None and "does not reload" in result.failures[0]


# -- predictions: compared on macOS, skipped with a reason elsewhere ---------------------------


@pytest.mark.skipif(sys.platform == "darwin", reason="checks the off-macOS skip record")
def test_predictions_are_skipped_with_the_reason_off_macos(
    packages: dict[str, Path], tiny: nn.Module
) -> None:
    images = torch.randn(2, *SHAPE[1:])
    result = validate(
        packages["coreml-fp16"], "fp16", compare=lambda out: {"passed": True}, images=images
    )
    assert result.fidelity["passed"] is None
    assert "cannot predict on linux" in result.fidelity["skipped"].lower()
    with pytest.raises(RuntimeError, match="macOS only"):
        coreml.run(packages["coreml-fp16"], images)


@pytest.mark.skipif(sys.platform != "darwin", reason="Core ML predicts on macOS only")
def test_predictions_match_eager_on_macos(packages: dict[str, Path], tiny: nn.Module) -> None:
    from deploy.export.validation import compare

    images = torch.randn(4, *SHAPE[1:])
    with torch.no_grad():
        eager = torch.cat([tiny(images[i : i + 1]) for i in range(len(images))])
    metrics = compare(eager, cv.predict_package(packages["coreml-fp16"], images))
    assert metrics["cosine"] > 0.99 and metrics["top1_agreement"] == 1.0


# -- the ExecuTorch program delegated to Core ML ----------------------------------------------


def test_et_coreml_program_delegates_everything_to_an_fp16_ml_program(
    packages: dict[str, Path],
) -> None:
    result = cv.validate_executorch_program(
        packages["et-coreml-fp16"], "fp16", {"coverage": 1.0, "non_delegated": {}}
    )
    assert result.failures == [] and len(result.extracted) == 1
    histogram = result.extracted[0]["op_histogram"]
    assert histogram["conv"] == 3 and not any(op.startswith("constexpr_") for op in histogram)
    assert "Apple platforms only" in result.fidelity["skipped"]
    assert any(
        "mislabelled int8" in f
        for f in cv.validate_executorch_program(packages["et-coreml-fp16"], "int8").failures
    )
    partial = cv.validate_executorch_program(
        packages["et-coreml-fp16"], "fp16", {"coverage": 0.5, "non_delegated": {"x": 1}}
    )
    assert any("50%" in f for f in partial.failures)


# -- manifest entries -------------------------------------------------------------------------


class Entry:
    def __init__(self, path: Path, **changes: object) -> None:
        self.sha256 = artifact_sha256(path)
        self.size_bytes = artifact_size(path)
        self.recipe = {"format": path.suffix}
        self.__dict__.update(changes)


def test_manifest_entry_must_describe_the_package(
    packages: dict[str, Path], tmp_path: Path
) -> None:
    copy = tmp_path / "copy.mlpackage"
    shutil.copytree(packages["coreml-fp16"], copy)
    assert cv.entry_failures(Entry(copy), copy) == []
    entry = Entry(copy)
    (copy / "Manifest.json").write_text(json.dumps({"tampered": True}))
    failures = cv.entry_failures(entry, copy)
    assert any("sha256" in f for f in failures) and any("size" in f for f in failures)
    assert cv.entry_failures(Entry(copy, recipe={"format": ".pte"}), copy) == [
        "manifest format .pte is not .mlpackage"
    ]


# -- through the export pipeline (one cheap recipe, then the cache) ----------------------------


def test_pipeline_exports_validates_records_and_caches(tmp_path: Path) -> None:
    from deploy.artifacts.manifest import verify_artifact
    from deploy.export import Manifest, export_many, parse_recipes
    from deploy.models import parse_model_name

    spec = parse_model_name("mobilenet_v3_small_0.35_64")
    outcomes = export_many([spec], parse_recipes("coreml-w8"), out_dir=tmp_path)
    entry = outcomes[0].entry
    assert entry.valid and not outcomes[0].cached
    assert entry.file.endswith(".mlpackage") and entry.recipe["precision"] == "w8"
    assert entry.fidelity["skipped"] or sys.platform == "darwin"
    assert entry.fidelity["coreml"]["op_histogram"]["constexpr_affine_dequantize"] > 0
    assert entry.delegation["coverage"] == 1.0
    # the same keys as an ExecuTorch delegation report, so the export table renders both
    assert {"delegated_ops", "non_delegated_ops", "coverage", "non_delegated"} <= set(
        entry.delegation
    )
    from rich.console import Console

    from deploy.export.cli import _fidelity_text, summary_table

    Console(file=io.StringIO(), width=200).print(summary_table(outcomes))
    assert _fidelity_text(outcomes[0]) == "structure checked; no predictions here" or (
        sys.platform == "darwin"
    )
    manifest = Manifest.load(tmp_path / "manifest.json")
    path = verify_artifact(manifest, manifest.entries[0])
    assert cv.entry_failures(entry, path) == []
    again = export_many([spec], parse_recipes("coreml-w8"), out_dir=tmp_path)
    assert again[0].cached and again[0].entry.sha256 == entry.sha256
