"""The comparison rules on hand-made Measurements: units, comparability, the rule on rounds,
the gate. (Synthetic scenarios against the old iteration-level rule: test_rounds.py.)"""

from __future__ import annotations

import dataclasses

import pytest

from bench import compare
from bench.compare import Measurement, Round, Selection
from bench.errors import CompareError
from bench.report.cli import parse_threshold
from tests.compare.stores import round_samples


def sessions(base: float, seed: int = 0, **options) -> tuple[Round, ...]:
    """Five rounds whose medians are base * (1 + 0.005 j), j = -2..2: median exactly base."""
    return tuple(
        Round(tuple(values), index=i)
        for i, values in enumerate(round_samples(base, seed, **options))
    )


def medians(base: float, seed: int = 0, **options) -> list[float]:
    return [r.median_ms for r in sessions(base, seed, **options)]


def m(**changes) -> Measurement:
    base = Measurement(
        device="Pixel 3",
        device_id="SER-P3",
        provenance="phone",
        model="mobilenet_v2_1.0_224",
        recipe="xnnpack_fp32",
        precision="fp32",
        resolution=224,
        weights="random",
        threads=1,
        runner="bench_runner",
        runner_version="0.1.0",
        cpu_mask="0xf0",
        rounds=sessions(60.0),
        madds_m=300.0,
        started_at="2025-01-01T00:00:00",
    )
    return dataclasses.replace(base, **changes)


def test_gmacs_units():
    # 300 M multiply-adds in 75 ms: 300e6 / 0.075 s = 4e9 MAC/s = 4 GMAC/s.
    assert compare.gmacs(300, 75) == pytest.approx(4.0)
    assert compare.gmacs(56, 14) == pytest.approx(4.0)
    assert compare.gmacs(None, 10) is None and compare.gmacs(300, 0) is None


def test_median_is_exact():
    assert m().median_ms == pytest.approx(60.0)


@pytest.mark.parametrize(
    "changes, fragment",
    [
        ({"threads": 4}, "threads 1 vs 4"),
        ({"runner_version": "0.2.0"}, "runner version 0.1.0 vs 0.2.0"),
        ({"recipe": "xnnpack_fp16"}, "recipe xnnpack_fp32 vs xnnpack_fp16"),
        ({"resolution": 192}, "input size 224 vs 192"),
        ({"weights": "imagenet"}, "weights random vs imagenet"),
        ({"cpu_mask": "0x0f"}, "cpu mask 0xf0 vs 0x0f"),
        ({"provenance": "emulated", "rounds": (Round(()),)}, "emulated"),
    ],
)
def test_not_comparable(changes, fragment):
    reason = compare.comparability(m(), m(**changes))
    assert reason is not None and fragment in reason


def test_comparable():
    assert compare.comparability(m(), m(rounds=sessions(61.0))) is None
    # Another phone has another big-core mask: that is not a reason to refuse.
    other = m(device="Pixel 7", device_id="SER-P7", cpu_mask="0xc0")
    assert compare.comparability(m(), other) is None
    # A host against a phone may be compared; the label says which is which.
    host = m(device="ci", device_id="host:ci", provenance="host", cpu_mask="0x2")
    assert compare.comparability(m(), host) is None
    assert host.device_label == "ci (host, not a phone)"


def test_every_difference_is_named():
    reason = compare.comparability(m(), m(threads=2, weights="imagenet"))
    assert reason == "weights random vs imagenet; threads 1 vs 2"


def test_decide_clear_shift():
    found = compare.decide(medians(60.0, 1), medians(66.0, 2))
    assert found.verdict == "regression" and found.ratio is not None
    assert found.ratio.ratio == pytest.approx(1.1) and found.ratio.low > 1.05
    assert found.ratio.low <= found.ratio.ratio <= found.ratio.high
    assert "lies above 1.05" in found.reason
    # Between two devices the same CI reads "slower"; the mirror is "faster".
    assert compare.decide(medians(60.0, 1), medians(66.0, 2), slower="slower").verdict == "slower"
    assert compare.decide(medians(66.0, 1), medians(60.0, 2)).verdict == "faster"


def test_decide_noise_is_same():
    found = compare.decide(medians(44.0, 1), medians(44.2, 2))
    assert found.verdict == "same" and "within +-5.0%" in found.reason
    assert found.ratio is not None and 0.95 <= found.ratio.low <= found.ratio.high <= 1.05


def test_decide_a_small_shift_against_the_threshold():
    # Tight rounds, a 1% shift: inside a 5% band ("same"), beyond a 0.5% one ("regression").
    a, b = medians(50.0, 1, jitter=0.0005), medians(50.5, 2, jitter=0.0005)
    assert compare.decide(a, b, 0.05).verdict == "same"
    assert compare.decide(a, b, 0.005).verdict == "regression"


def test_decide_identical_and_too_few():
    same = compare.decide([5.0] * 5, [5.0] * 5)
    assert same.verdict == "same" and same.ratio is not None and same.ratio.ratio == 1.0
    few = compare.decide([1.0], [2.0, 2.1, 2.2, 2.0, 2.1])
    assert few.verdict == "inconclusive"
    assert few.reason == "too few rounds: 1 and 5; measure --rounds 5"
    assert few.ratio is not None and few.ratio.ratio == 2.1 and not few.ratio.has_ci


def test_pair_decisions():
    base = m()
    assert compare.compare_pair(base, m(rounds=sessions(66.0, 3))).status == "slower"
    assert compare.compare_pair(base, m(rounds=sessions(50.0, 3))).status == "faster"
    gate = compare.compare_pair(base, m(rounds=sessions(66.0, 3)), gate=True)
    assert gate.status == "regression" and gate.ratio == pytest.approx(1.1)
    assert gate.ratio_ci is not None and gate.ratio_ci.low > 1.05
    # +5% is inside a 10% band: "same" (the old rule said "slower, within the threshold").
    within = compare.compare_pair(base, m(rounds=sessions(63.0, 3)), threshold=0.10, gate=True)
    assert within.status == "same" and within.ratio == pytest.approx(1.05)
    same = compare.compare_pair(base, m(rounds=sessions(60.2, 3)))
    assert same.status == "same" and same.ratio == pytest.approx(60.2 / 60)
    apart = compare.compare_pair(base, m(threads=2, rounds=sessions(90.0, 3)))
    assert apart.status == "not comparable" and apart.ratio is None and apart.decision is None


def test_gate_passes_fails_and_strict():
    base = [m(), m(model="mobilenet_v3_small_1.0_224", rounds=sessions(15.0))]
    slower = [
        m(rounds=sessions(66.0, 5)),
        m(model="mobilenet_v3_small_1.0_224", rounds=sessions(15.0, 6)),
    ]
    result = compare.gate(slower, base, threshold=0.05)
    assert not result.passed and [e.model for e in result.regressions] == ["mobilenet_v2_1.0_224"]
    assert compare.gate(slower, base, threshold=0.15).passed
    bumped = [m(runner_version="0.2.0", rounds=sessions(90.0, 5))]
    assert compare.gate(bumped, base[:1]).passed
    assert not compare.gate(bumped, base[:1], strict=True).passed
    new_only = compare.gate([m(device="Pixel 7", device_id="SER-P7")], base[:1])
    assert {e.status for e in new_only.entries} == {"new", "missing"} and new_only.passed


def test_latest_run_wins():
    old = m(started_at="2024-01-01", rounds=sessions(90.0))
    new = m(started_at="2025-01-01")
    assert compare.latest([new, old]) == [new]


def test_paper_reference_prefers_the_same_pixel():
    ref = compare.paper_reference("mobilenet_v2_1.0_224", "fp32", "Pixel 3")
    assert ref is not None and (ref.device, ref.latency_ms) == ("Pixel 3", 56)
    other = compare.paper_reference("mobilenet_v2_1.0_224", "fp32", "Galaxy S21")
    assert other is not None and (other.device, other.latency_ms) == ("Pixel 1", 64)
    only_p2 = compare.paper_reference("mobilenet_v1_0.5_160", "int8", "ci-host")
    assert only_p2 is not None and (only_p2.device, only_p2.latency_ms) == ("Pixel 2", 13.0)
    assert compare.paper_device_for("Google Pixel 3 XL") == "Pixel 3"
    assert compare.paper_device_for("Pixel 7") is None


def test_selection_errors():
    runs = [m(), m(device="Pixel 7", device_id="SER-P7")]
    with pytest.raises(
        CompareError, match="unknown device 'Pixel 9'; known devices: Pixel 3, Pixel 7"
    ):
        compare.select(runs, Selection.parse(devices="Pixel 9"))
    with pytest.raises(CompareError, match="no runs in the store match models=nope"):
        compare.select(runs, Selection.parse(models="nope"))
    with pytest.raises(CompareError, match="holds no benchmark runs"):
        compare.select([], Selection())
    assert len(compare.select(runs, Selection.parse(devices="pixel 3"))) == 1
    assert len(compare.select(runs, Selection.parse(devices="SER-P7"))) == 1


def test_emulated_only_is_an_error():
    emulated = m(provenance="emulated", rounds=(Round(()),))
    with pytest.raises(CompareError, match="no latency"):
        compare.build_comparison([emulated])


def test_unknown_provenance_is_refused():
    with pytest.raises(CompareError, match="unknown provenance"):
        m(provenance="cloud")


@pytest.mark.parametrize("text, value", [("5%", 0.05), ("0.05", 0.05), ("12.5%", 0.125)])
def test_threshold(text, value):
    assert parse_threshold(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["5", "abc", "-1%"])
def test_bad_threshold(text):
    with pytest.raises(CompareError):
        parse_threshold(text)


def test_speedups_pair_fp32_with_int8():
    fp = m()
    q = m(recipe="xnnpack_int8", precision="int8", rounds=sessions(40.0))
    found = compare.speedups([fp, q])
    assert len(found) == 1 and found[0].speedup == pytest.approx(1.5)
    ci = found[0].ci  # from the rounds: 5 a side
    assert ci is not None and ci.low <= 1.5 <= ci.high and ci.high - ci.low < 0.1
    # An int8 run with another thread count is no partner for a 1-thread fp32 run.
    other_threads = m(recipe="xnnpack_int8", precision="int8", threads=4)
    assert compare.speedups([fp, other_threads]) == []
    assert compare.paper_speedups("mobilenet_v2_1.0_224")["Pixel 1"] == pytest.approx(64 / 52)


def test_differences_name_each_field():
    found = compare.differences(m(), m(threads=2, weights="imagenet", cpu_mask="0x0f"))
    assert [(d.field, d.a, d.b) for d in found] == [
        ("weights", "random", "imagenet"),
        ("threads", 1, 2),
        ("cpu_mask", "0xf0", "0x0f"),
    ]
    apart = compare.compare_pair(m(), m(runner_version="0.2.0"))
    assert [d.describe() for d in apart.differences] == ["runner version 0.1.0 vs 0.2.0"]
    assert compare.compare_pair(m(), m(rounds=sessions(66.0, 3))).differences == ()


def test_model_order_reads_names_with_the_zoo_parser():
    names = [
        "unlisted:x.pte",
        "mobilenet_v3_small_1.0_224",
        "mobilenet_v1_0.5_160",
        "mobilenet_v9_1.0_224",
        "mobilenet_v2_1.0_192",
        "mobilenet_v1_1.0_224",
        "mobilenet_v2_1.4_224",
    ]
    assert sorted(names, key=compare.model_sort_key) == [
        "mobilenet_v1_1.0_224",
        "mobilenet_v1_0.5_160",
        "mobilenet_v2_1.4_224",
        "mobilenet_v2_1.0_192",
        "mobilenet_v3_small_1.0_224",
        "mobilenet_v9_1.0_224",  # no such family: after every family, by name
        "unlisted:x.pte",
    ]
