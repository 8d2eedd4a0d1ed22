"""Does the artifact compute what the eager fp32 model computes? Figures and thresholds.

Every artifact is run in its runtime on this machine on held-out images (never the calibration
images) and compared with the eager float32 PyTorch model on the same images:

- `max_rel_error`: max |artifact - eager| / max |eager| over the logits of each image, worst image
  (a float artifact should be at rounding level);
- `sqnr_db`: 10 log10(sum eager^2 / sum (artifact - eager)^2) over all held-out logits;
- `cosine`: cosine similarity of the logits, worst image;
- `top1_agreement`: fraction of images whose arg-max class is the same.

Which figures gate an artifact depends on its precision (Thresholds.checks); all are recorded.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

# Defaults measured on this host (random weights with BN re-estimated, skimage photographs,
# 5 held-out images). fp32 artifacts: max relative error 4e-6..2e-5. int8 at 224 px: SQNR
# 9.0 (V3-Large) to 11.8 dB (V2), cosine 0.95-0.96, top-1 agreement 0.4-1.0 (near-flat random
# logits make top-1 noisy, so it does not gate by default). int8 calibrated on blank or noise
# images: SQNR 4.9-6.6 dB, cosine 0.76-0.81. SQNR >= 6 dB and cosine >= 0.85 separate the two.
DEFAULT_FP32_MAX_REL_ERROR = 1e-3
DEFAULT_INT8_MIN_SQNR_DB = 6.0
DEFAULT_INT8_MIN_COSINE = 0.85
DEFAULT_INT8_MIN_TOP1 = 0.0
DEFAULT_MIN_DELEGATION = 1.0

# Defaults for trained weights (a checkpoint, `imagenet`), measured on the trained digits model
# (deploy/training/digits.py: MobileNetV3-Small 0.5 at 64 px, 10 classes), int8 against eager
# fp32, printed by benchmarks/digits_accuracy.py. On the export's own held-out images: SQNR
# 20.3 (coreml-int8's PT2E graph) to 22.7 dB, worst-image cosine 0.990-0.999, top-1 agreement
# 1.0; on the 360 held-out digits: 17.7-22.4 dB, 0.987-0.989, 0.994-1.0, and xnnpack-int8's
# top-1 is 98.9-99.4% against fp32's 98.9%. Margins: 15 dB lets the noise be 3.6x the lowest
# power measured on the export's images (V3's hard-swish and SE quantize worse than this small
# model, and ImageNet could not be measured here); cosine 0.95 and agreement 0.9 (one miss in 10
# images) still fail a badly calibrated model (cosine 0.80 on the digits after calibrating on
# photographs; 0.89 with the Core ML quantizer's moving-average observer).
TRAINED_INT8_MIN_SQNR_DB = 15.0
TRAINED_INT8_MIN_COSINE = 0.95
TRAINED_INT8_MIN_TOP1 = 0.9


@dataclass(frozen=True)
class Thresholds:
    """What an artifact must meet to be marked valid."""

    fp32_max_rel_error: float = DEFAULT_FP32_MAX_REL_ERROR
    int8_min_sqnr_db: float = DEFAULT_INT8_MIN_SQNR_DB
    int8_min_cosine: float = DEFAULT_INT8_MIN_COSINE
    int8_min_top1: float = DEFAULT_INT8_MIN_TOP1
    min_delegation: float = DEFAULT_MIN_DELEGATION

    def as_dict(self) -> dict[str, float]:
        return asdict(self)

    def checks(self, precision: str) -> list[tuple[str, str, float]]:
        """(metric, "max"|"min", bound) that gate an artifact of `precision`."""
        if precision in ("fp32",):
            return [
                ("max_rel_error", "max", self.fp32_max_rel_error),
                ("top1_agreement", "min", 1.0),
            ]
        # fp16 and the quantized precisions are judged like int8.
        return [
            ("sqnr_db", "min", self.int8_min_sqnr_db),
            ("cosine", "min", self.int8_min_cosine),
            ("top1_agreement", "min", self.int8_min_top1),
        ]


def default_thresholds(weights: str) -> Thresholds:
    """The defaults for a model's weights: random ones (near-flat logits) or trained ones."""
    if weights == "random":
        return Thresholds()
    return Thresholds(
        int8_min_sqnr_db=TRAINED_INT8_MIN_SQNR_DB,
        int8_min_cosine=TRAINED_INT8_MIN_COSINE,
        int8_min_top1=TRAINED_INT8_MIN_TOP1,
    )


@dataclass(frozen=True)
class Fidelity:
    """The figures of one artifact against the eager model, and the verdict."""

    metrics: dict[str, float]
    thresholds: dict[str, float]
    failures: list[str]  # human-readable, one per missed threshold
    images: dict[str, Any]  # sha256 and count of the held-out images
    outputs_sha256: str  # of the artifact's float32 outputs, to compare other runtimes

    @property
    def passed(self) -> bool:
        return not self.failures

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.metrics,
            "thresholds": self.thresholds,
            "passed": self.passed,
            "failures": self.failures,
            "images": self.images,
            "outputs_sha256": self.outputs_sha256,
        }


def compare(reference: torch.Tensor, candidate: torch.Tensor) -> dict[str, float]:
    """The fidelity figures of `candidate` logits (N x classes) against `reference`."""
    ref = reference.detach().double().reshape(reference.shape[0], -1)
    out = candidate.detach().double().reshape(candidate.shape[0], -1)
    if ref.shape != out.shape:
        raise ValueError(f"output shape {tuple(out.shape)} differs from {tuple(ref.shape)}")
    error = out - ref
    scale = ref.abs().amax(dim=1).clamp_min(1e-12)
    noise = float(error.pow(2).sum())
    signal = float(ref.pow(2).sum())
    sqnr = math.inf if noise == 0 else 10 * math.log10(max(signal, 1e-300) / noise)
    cosine = torch.nn.functional.cosine_similarity(ref, out, dim=1, eps=1e-12)
    return {
        "max_rel_error": float((error.abs().amax(dim=1) / scale).max()),
        "sqnr_db": min(sqnr, 999.0),
        "cosine": float(cosine.min()),
        "top1_agreement": float((ref.argmax(dim=1) == out.argmax(dim=1)).double().mean()),
    }


def judge(metrics: dict[str, float], precision: str, thresholds: Thresholds) -> list[str]:
    """One message per gating figure outside its bound (empty: passed)."""
    failures = []
    for metric, kind, bound in thresholds.checks(precision):
        value = metrics[metric]
        if (kind == "max" and not value <= bound) or (kind == "min" and not value >= bound):
            relation = "above the maximum" if kind == "max" else "below the minimum"
            failures.append(f"{metric} {value:.4g} is {relation} {bound:g}")
    return failures


def eager_outputs(module: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
    """The eager model's logits, one image at a time (batch 1, as the artifact runs)."""
    with torch.no_grad():
        return torch.cat([module(images[i : i + 1].contiguous()) for i in range(len(images))])


def run_pte(path: Path, images: torch.Tensor) -> torch.Tensor:
    """Outputs of a .pte in the stock ExecuTorch runtime, one image at a time."""
    from executorch.runtime import Runtime

    program = Runtime.get().load_program(Path(path))
    method = program.load_method("forward")
    if method is None:
        raise RuntimeError(f"{path} has no forward method")
    outputs = [method.execute([images[i : i + 1].contiguous()])[0] for i in range(len(images))]
    return torch.cat([torch.as_tensor(o).clone() for o in outputs])


def outputs_digest(outputs: torch.Tensor) -> str:
    return hashlib.sha256(outputs.detach().float().contiguous().numpy().tobytes()).hexdigest()


def validate(
    run: Callable[[torch.Tensor], torch.Tensor],
    reference: torch.Tensor,
    images: torch.Tensor,
    image_sha256: str,
    precision: str,
    thresholds: Thresholds,
) -> Fidelity:
    """Run the artifact (`run`) on `images`, compare with the eager `reference` logits."""
    outputs = run(images)
    metrics = compare(reference, outputs)
    return Fidelity(
        metrics=metrics,
        thresholds={m: b for m, _, b in thresholds.checks(precision)},
        failures=judge(metrics, precision, thresholds),
        images={"sha256": image_sha256, "count": len(images)},
        outputs_sha256=outputs_digest(outputs),
    )
