"""The peer table from known samples: medians, ours / fastest peer, goals, GMAC/s, rendering."""

from __future__ import annotations

import pytest
from rich.console import Console

from bench.peers import GOALS, RUNTIMES
from bench.report.peers import build_rows, fastest_peer, render, render_details

MADDS = {"m": 300_000_000}


def _samples(**medians: float) -> dict[tuple[str, str], list[float]]:
    # three samples around each median: the median is exact, the spread irrelevant
    return {("m", k.replace("_", "-")): [v * 0.9, v, v * 1.3] for k, v in medians.items()}


def test_ratios_are_ours_over_the_fastest_peer_of_the_same_precision():
    rows = build_rows(
        _samples(ort_fp32=4.0, eager_fp32=10.0, et_fp32=5.0, ort_int8=2.0, et_int8=1.7), MADDS
    )
    (row,) = rows
    assert row.median("ort-fp32") == pytest.approx(4.0)
    fp32, int8 = row.ratios["fp32"], row.ratios["int8"]
    assert (fp32.ours, fp32.peer, fp32.value) == ("et-fp32", "ort-fp32", pytest.approx(1.25))
    assert not fp32.met and fp32.goal == GOALS["fp32"] == 1.0
    assert (int8.ours, int8.peer, int8.value) == ("et-int8", "ort-int8", pytest.approx(0.85))
    assert int8.met and int8.goal == GOALS["int8"] == 0.9
    # the same on p10 (samples are 0.9x, 1x, 1.3x the median: p10 = 0.92 x median)
    assert row.ratios_p10["int8"].value == pytest.approx(0.85)


def test_eager_is_the_fastest_fp32_peer_when_it_is_faster():
    (row,) = build_rows(_samples(ort_fp32=4.0, eager_fp32=3.0, et_fp32=3.0), MADDS)
    assert fastest_peer(row, "fp32") == "eager-fp32"
    assert row.ratios["fp32"].value == pytest.approx(1.0) and row.ratios["fp32"].met
    assert "int8" not in row.ratios  # no int8 measured: no ratio


def test_gmacs_is_madds_over_the_median():
    (row,) = build_rows(_samples(et_int8=3.0), MADDS)
    assert row.gmacs("et-int8") == pytest.approx(100.0)  # 300 MMAdds in 3 ms
    assert row.gmacs("ort-int8") is None


def test_a_failed_runtime_is_an_error_cell_and_no_ratio():
    errors = {("m", "ort-int8"): "onnxruntime quantize_static failed"}
    (row,) = build_rows(_samples(et_int8=1.0), MADDS, errors)
    assert row.errors == {"ort-int8": "onnxruntime quantize_static failed"}
    assert "int8" not in row.ratios


def test_render_prints_every_latency_and_the_ratios():
    rows = build_rows(
        _samples(ort_fp32=4.0, eager_fp32=10.0, et_fp32=5.0, ort_int8=2.0, et_int8=1.7), MADDS
    )
    console = Console(record=True, width=220)
    render(rows, {"cpu_model": "Test CPU", "core": 1}, console)
    runs = {("m", name): {"runner": "x 1", "run_ids": [7]} for name in RUNTIMES}
    render_details(rows, runs, console)
    text = console.export_text()
    for value in ("4.00", "5.00", "2.00", "1.70", "10.00", "1.25x NO", "0.85x ok", "300"):
        assert value in text
    assert "THIS HOST" in text and "Test CPU" in text
    assert "no int8 dot product" not in text  # nothing known about the CPU: no claim


def test_render_says_when_int8_figures_do_not_carry_over_to_phones():
    rows = build_rows(_samples(ort_int8=2.0, et_int8=3.0), MADDS)
    for int8_dot, expected in (([], True), (["avx_vnni"], False)):
        console = Console(record=True, width=220)
        render(rows, {"machine": "x86_64", "int8_dot": int8_dot}, console)
        assert ("no int8 dot product" in console.export_text()) is expected
