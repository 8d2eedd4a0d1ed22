"""Fidelity figures and thresholds, on synthetic logits."""

from __future__ import annotations

import math

import torch

from deploy.export.validation import Thresholds, compare, judge


def test_identical_outputs():
    ref = torch.randn(4, 1000)
    metrics = compare(ref, ref.clone())
    assert metrics["max_rel_error"] == 0
    assert metrics["sqnr_db"] == 999.0
    assert math.isclose(metrics["cosine"], 1.0, abs_tol=1e-12)
    assert metrics["top1_agreement"] == 1.0
    assert judge(metrics, "fp32", Thresholds()) == []


def test_known_noise_level():
    torch.manual_seed(0)
    ref = torch.randn(8, 1000)
    noisy = ref + 0.1 * torch.randn(8, 1000)  # SQNR ~ 20 dB
    metrics = compare(ref, noisy)
    assert 19 < metrics["sqnr_db"] < 21
    assert 0.99 < metrics["cosine"] < 1.0
    assert judge(metrics, "int8", Thresholds()) == []
    failures = judge(metrics, "fp32", Thresholds())
    assert failures and "max_rel_error" in failures[0]


def test_garbage_fails_int8_and_nan_never_passes():
    torch.manual_seed(0)
    ref = torch.randn(5, 1000)
    failures = judge(compare(ref, torch.randn(5, 1000)), "int8", Thresholds())
    assert any("sqnr_db" in f for f in failures)
    assert any("cosine" in f for f in failures)
    nan = compare(ref, torch.full((5, 1000), float("nan")))
    assert judge(nan, "int8", Thresholds())
    assert judge(nan, "fp32", Thresholds())


def test_thresholds_are_configurable():
    metrics = {"max_rel_error": 0.0, "sqnr_db": 10.0, "cosine": 0.95, "top1_agreement": 0.5}
    assert judge(metrics, "int8", Thresholds()) == []
    assert judge(metrics, "int8", Thresholds(int8_min_sqnr_db=12)) == [
        "sqnr_db 10 is below the minimum 12"
    ]
    assert judge(metrics, "int8", Thresholds(int8_min_top1=0.8))
