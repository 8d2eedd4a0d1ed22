"""The rule on rounds against synthetic round data: drift inside a process, bimodal samples, a
loaded side, too few rounds, a real slowdown and its mirror, and the instructions gate.

A round is one runner process. Each scenario is decided twice: by the product's rule
(`bench.compare`: the ratio of the medians of round medians, with a 95% CI from a seeded
bootstrap over rounds, and the machine-state guard) and by `old_rule` below, the iteration-level
rule the product used before (a Mann-Whitney U test on the pooled per-iteration samples), kept
here only to show where it goes wrong: it treats autocorrelated iterations as independent, so
it proves "differences" that are only drift.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench import compare, stats
from bench.cli import main
from bench.compare import INSTRUCTIONS, Measurement, Round
from bench.errors import CompareError
from tests.compare.stores import FP32, PIXEL3, V2, add_run

Rounds = list[list[float]]


# -- the old rule, for contrast (removed from the product) ---------------------------------------


def old_rule(a: Rounds, b: Rounds, threshold: float = 0.05) -> str:
    """The rule before rounds: a two-sided Mann-Whitney U test on the pooled iterations, p < 0.01
    and medians differing by at least 2%; slower by more than the threshold was a regression."""
    from scipy.stats import mannwhitneyu

    pooled_a = [x for r in a for x in r]
    pooled_b = [x for r in b for x in r]
    if min(len(pooled_a), len(pooled_b)) < 5:
        return "same"
    effect = statistics.median(pooled_b) / statistics.median(pooled_a) - 1
    p_value = mannwhitneyu(pooled_a, pooled_b, alternative="two-sided").pvalue
    if p_value >= 0.01 or abs(effect) < 0.02:
        return "same"
    if effect < 0:
        return "faster"
    return "regression" if effect > threshold else "slower"


# -- synthetic rounds -----------------------------------------------------------------------------


def process(
    rng: np.random.Generator,
    n: int = 300,
    fast: float = 4.3,
    slow: float = 6.3,
    drift_at: float = 1.0,
    noise: float = 0.02,
    rho: float = 0.95,
) -> list[float]:
    """One runner process: `n` iterations at `fast` ms that jump to `slow` ms after the fraction
    `drift_at` of the run (1.0: never), with AR(1) multiplicative noise (autocorrelated, as
    consecutive iterations are)."""
    e = np.empty(n)
    x = 0.0
    for i in range(n):
        x = rho * x + rng.normal(0.0, noise * math.sqrt(1 - rho**2))
        e[i] = x
    level = np.where(np.arange(n) < drift_at * n, fast, slow)
    return [float(v) for v in level * np.exp(e)]


def quiet(seed: int, base: float, rounds: int = 6, spread: float = 0.01) -> Rounds:
    """`rounds` processes at `base` ms, process to process within about +-spread."""
    rng = np.random.default_rng(seed)
    return [
        process(rng, fast=base * math.exp(rng.normal(0, spread)), drift_at=1.0)
        for _ in range(rounds)
    ]


def measurement(rounds: Rounds, machine: dict[str, Any] | None = None, **changes: Any):
    base = Measurement(
        device="bench-host",
        device_id="host:bench",
        provenance="host",
        model=V2,
        recipe=FP32,
        precision="fp32",
        resolution=224,
        weights="random",
        threads=1,
        runner="bench_runner",
        runner_version="0.1.0",
        cpu_mask="0x2",
        rounds=tuple(
            Round(tuple(values), index=i, machine=machine or {}) for i, values in enumerate(rounds)
        ),
    )
    return dataclasses.replace(base, **changes)


def gate_verdict(a: Measurement, b: Measurement, **options: Any) -> compare.PairResult:
    return compare.compare_pair(a, b, gate=True, **options)


def new_rule(a: Rounds, b: Rounds) -> str:
    return gate_verdict(measurement(a), measurement(b)).status


# -- drift inside a process ------------------------------------------------------------------------


def test_drift_inside_processes_is_no_regression():
    """One program, both sides: every process jumps from 4.3 to 6.3 ms at some point of its run
    (the machine got busier, a frequency step). Where it jumps differs from process to process;
    the baseline's happened to jump late, the candidate's early. Per iteration, the candidate
    is 46% slower with p ~ 0; per process, nothing tells the sides apart."""
    rng = np.random.default_rng(1)
    baseline = [process(rng, drift_at=f) for f in (0.9, 0.3, 0.7, 0.55, 0.8, 0.6)]
    candidate = [process(rng, drift_at=f) for f in (0.2, 0.6, 0.4, 0.7, 0.3, 0.45)]
    assert old_rule(baseline, candidate) == "regression"
    result = gate_verdict(measurement(baseline), measurement(candidate))
    assert result.status in ("same", "inconclusive")
    assert result.status == "inconclusive" and "would be needed" in result.reason
    found = result.ratio_ci
    assert found is not None and found.low < 1.0 < found.high  # the CI holds "no change"


def test_drift_over_many_sessions():
    """The same program measured 40 times a side, each process jumping at a random point: the
    old rule finds regressions (and speedups) that are not there; the rule on rounds never
    does, and says inconclusive instead (round medians of about 4.3 or 6.3 ms cannot be told
    apart with 6 rounds). The bootstrap alone would have called 1 of these 40 a regression:
    the rank interval it is widened to keeps that from happening."""
    old, new = [], []
    for seed in range(40):
        rng = np.random.default_rng(100 + seed)
        a = [process(rng, n=200, drift_at=rng.uniform()) for _ in range(6)]
        b = [process(rng, n=200, drift_at=rng.uniform()) for _ in range(6)]
        old.append(old_rule(a, b))
        new.append(new_rule(a, b))
    assert old.count("regression") >= 8, old
    assert set(new) == {"inconclusive"}, new


# -- bimodal samples -------------------------------------------------------------------------------


def test_bimodal_iterations_identical_sides_are_the_same():
    """Every iteration is either fast (10 ms) or slow (14 ms, 30% of them): the median of each
    round is the fast mode, on both sides alike."""

    def bimodal(seed: int) -> Rounds:
        rng = np.random.default_rng(seed)
        rounds = []
        for _ in range(6):
            modes = np.where(rng.uniform(size=200) < 0.3, 14.0, 10.0)
            rounds.append([float(v) for v in modes * rng.normal(1.0, 0.003, size=200)])
        return rounds

    result = gate_verdict(measurement(bimodal(1)), measurement(bimodal(2)))
    assert result.status == "same", result.reason
    assert result.ratio == pytest.approx(1.0, abs=0.01)


def test_bimodal_processes_are_inconclusive_not_a_regression():
    """Each process lands in a fast (10 ms) or a slow (13 ms) mode for its whole life (code
    layout, page alignment): the baseline drew 2 slow processes of 6, the candidate 4."""
    rng = np.random.default_rng(3)
    modes_a, modes_b = (10, 10, 13, 10, 10, 13), (13, 10, 13, 13, 10, 13)
    a = [process(rng, fast=m, noise=0.005) for m in modes_a]
    b = [process(rng, fast=m, noise=0.005) for m in modes_b]
    assert old_rule(a, b) == "regression"
    result = gate_verdict(measurement(a), measurement(b))
    assert result.status == "inconclusive", result.reason
    assert result.ratio == pytest.approx(1.3, rel=0.02)  # the headlines do differ ...
    assert result.ratio_ci is not None and result.ratio_ci.low <= 1.0  # ... but not surely


# -- the machine-state guard -----------------------------------------------------------------------

QUIET = {"loadavg": [0.4, 0.5, 0.5], "loadavg_after": [0.4, 0.5, 0.5], "online_cpus": 2}
BUSY = {"loadavg": [3.1, 2.0, 1.0], "loadavg_after": [3.1, 2.5, 1.5], "online_cpus": 2}


def test_a_loaded_side_is_inconclusive_never_a_regression():
    """The candidate ran while the machine was busy (load 3.1 on 2 CPUs) and is 20% slower."""
    a = measurement(quiet(1, 10.0), QUIET)
    b = measurement(quiet(2, 12.0), BUSY)
    assert old_rule(
        [list(r.samples_ms) for r in a.rounds], [list(r.samples_ms) for r in b.rounds]
    ) == ("regression")
    result = gate_verdict(a, b)
    assert result.status == "inconclusive"
    assert result.reason.startswith("machine state differs (load 0.4 vs 3.1 (0.20 vs 1.55 per CPU")
    assert result.decision is not None and len(result.decision.machine_differs) == 1
    assert result.ratio_ci is not None and result.ratio_ci.low > 1.05  # the CI alone would fail
    # Every loaded round is flagged; the quiet side has none.
    assert result.machine_b is not None and len(result.machine_b.flagged) == 6
    assert result.machine_b.flagged[0] == "round 1: load 3.1 on 2 CPUs"
    assert result.machine_a is not None and result.machine_a.flagged == ()
    gate = compare.gate([b], [a])
    assert gate.passed and gate.inconclusive == [gate.entries[0]]


def test_steal_and_run_queue_wait_count_too():
    a = measurement(quiet(1, 10.0), {**QUIET, "steal_pct": 0.3, "core_wait_ms": 1.0})
    stolen = measurement(quiet(2, 11.0), {**QUIET, "steal_pct": 9.0, "core_wait_ms": 1.0})
    result = gate_verdict(a, stolen)
    assert result.status == "inconclusive"
    assert "steal 0.3% vs 9.0% (bound 2 points)" in result.reason
    assert result.machine_b is not None and "steal 9.0%" in result.machine_b.flagged[0]
    # ~3 s of samples a round (no timestamps here): 300 ms of run-queue wait is 10% of it.
    waited = measurement(quiet(2, 11.0), {**QUIET, "steal_pct": 0.3, "core_wait_ms": 300.0})
    result = gate_verdict(a, waited)
    assert result.status == "inconclusive" and "run-queue wait on the core" in result.reason


def test_equal_machine_state_still_finds_a_real_regression():
    """The guard compares the sides: both equally loaded, a real +12% is still a regression."""
    result = gate_verdict(measurement(quiet(1, 10.0), BUSY), measurement(quiet(2, 11.2), BUSY))
    assert result.status == "regression", result.reason


def test_old_runs_without_machine_facts_are_not_guarded():
    result = gate_verdict(measurement(quiet(1, 10.0), {}), measurement(quiet(2, 11.2), QUIET))
    assert result.status == "regression" and result.machine_a is not None
    assert result.machine_a.load is None and result.machine_a.steal_pct is None


def test_round_state_reads_host_and_phone_facts():
    host = compare.round_state(
        {
            **BUSY,
            "steal_pct": 1.5,
            "runnable_on_core": [0, 2],
            "governor": "performance\n",
            "freq_mhz": 2400.0,
        },
        duration_ms=1000.0,
    )
    assert host.load == pytest.approx(3.1) and host.load_per_cpu == pytest.approx(1.55)
    assert (host.steal_pct, host.runnable_on_core, host.governor) == (1.5, 2, "performance")
    assert host.core_wait_share is None and host.freq_mhz == 2400.0
    phone = compare.round_state(
        {
            "governor": "schedutil",
            "before": {"hottest_cpu_c": 41.0, "cap_khz": 2_800_000, "cur_khz": 2_400_000},
            "after": {"hottest_cpu_c": 47.0, "cap_khz": 2_000_000, "cur_khz": 2_000_000},
            "cooldown": {"reached": False},
        }
    )
    assert (phone.hottest_c, phone.freq_mhz, phone.cap_dropped, phone.cooled) == (
        41.0,
        2400.0,
        True,
        False,
    )
    assert phone.load is None and phone.load_per_cpu is None
    flags = compare.round_flags(phone)
    assert flags == ["frequency cap dropped (throttling)", "cooldown not reached"]
    junk = compare.round_state({"loadavg": "high", "online_cpus": None, "before": 3})
    assert junk == compare.RoundState()


def test_governor_and_temperature_differ_only_on_one_device():
    hot = {"governor": "powersave", "before": {"hottest_cpu_c": 60.0}}
    cool = {"governor": "performance", "before": {"hottest_cpu_c": 35.0}}
    a = measurement(quiet(1, 10.0), cool, provenance="phone", device="Pixel 3")
    b = measurement(quiet(2, 11.2), hot, provenance="phone", device="Pixel 3")
    result = gate_verdict(a, b)
    assert result.status == "inconclusive"
    assert "governor performance vs powersave" in result.reason
    assert "temperature before the rounds 35 vs 60 C" in result.reason
    other = dataclasses.replace(b, device="Pixel 7", device_id="SER-P7", cpu_mask="0xc0")
    assert compare.compare_pair(a, other).status == "slower"  # two phones: not compared


# -- too few rounds --------------------------------------------------------------------------------


def test_too_few_rounds():
    """One program; the baseline is one process that happened to drift late (fast), the
    candidate five processes."""
    rng = np.random.default_rng(4)
    baseline = [process(rng, drift_at=0.9)]
    candidate = [process(rng, drift_at=f) for f in (0.2, 0.4, 0.6, 0.3, 0.5)]
    assert old_rule(baseline, candidate) == "regression"
    result = gate_verdict(measurement(baseline), measurement(candidate))
    assert result.status == "inconclusive"
    assert result.reason == "too few rounds: 1 and 5; measure --rounds 5"
    assert result.ratio is not None and result.ratio_ci is None  # a ratio, but no CI
    two = gate_verdict(measurement(quiet(1, 10.0, rounds=2)), measurement(quiet(2, 13.0, rounds=2)))
    assert two.status == "inconclusive" and two.reason.startswith("too few rounds: 2 and 2")


# -- real changes ----------------------------------------------------------------------------------


def test_a_real_slowdown_is_a_regression():
    """+12% in every process, 6 quiet rounds a side."""
    result = gate_verdict(measurement(quiet(1, 10.0)), measurement(quiet(2, 11.2)))
    assert result.status == "regression", result.reason
    found = result.ratio_ci
    assert found is not None and 1.05 < found.low <= found.ratio <= found.high
    assert found.ratio == pytest.approx(1.12, abs=0.02) and (found.n_a, found.n_b) == (6, 6)
    assert "lies above 1.05" in result.reason
    gate = compare.gate([measurement(quiet(2, 11.2))], [measurement(quiet(1, 10.0))])
    assert not gate.passed and gate.result == "regression"


def test_a_real_speedup_is_faster():
    result = gate_verdict(measurement(quiet(1, 11.2)), measurement(quiet(2, 10.0)))
    assert result.status == "faster", result.reason
    assert result.ratio_ci is not None and result.ratio_ci.high < 0.95
    assert compare.gate([measurement(quiet(2, 10.0))], [measurement(quiet(1, 11.2))]).passed


def test_inconclusive_says_how_many_rounds_would_decide():
    """+8%, 3 rounds a side that spread +-3%: the CI crosses 1.05."""
    rng = np.random.default_rng(5)
    a = [process(rng, fast=v, noise=0.002) for v in (10.0, 10.3, 9.7)]
    b = [process(rng, fast=v, noise=0.002) for v in (10.8, 10.2, 11.4)]
    result = gate_verdict(measurement(a), measurement(b))
    assert result.status == "inconclusive", result.reason
    assert result.ratio == pytest.approx(1.08, abs=0.005)
    assert result.rounds_needed is not None and result.rounds_needed > 3
    assert f"crosses 1.05; about {result.rounds_needed} rounds a side would be needed" in (
        result.reason
    )


def test_rounds_needed_scales_the_ci_by_sqrt_n_over_n():
    # CI 1.02..1.18 around 1.10 with 3 rounds a side: the lower half (0.08) must shrink below
    # 0.05, s = sqrt(3 / N) < 0.625, N > 7.68: 8 rounds.
    assert compare.rounds_needed(1.10, 1.02, 1.18, 3, 3, 0.05) == 8
    # Inside the band: both halves must fit; 0.99..1.07 around 1.03, the upper half 0.04 must
    # shrink to 0.02: s = 0.5, N = 4 * 5 = 20.
    assert compare.rounds_needed(1.03, 0.99, 1.07, 5, 5, 0.05) == 20
    # Unequal sides: the variance goes as 1/n_a + 1/n_b.
    # s = sqrt((2 / N) / (1 / 3 + 1 / 12)) < 0.625: N > 12.3, 13 rounds a side.
    assert compare.rounds_needed(1.10, 1.02, 1.18, 3, 12, 0.05) == 13
    # On the threshold itself no number of rounds decides it.
    assert compare.rounds_needed(1.05, 1.0, 1.1, 5, 5, 0.05) is None


def test_the_ratio_ci_is_deterministic():
    a = [statistics.median(r) for r in quiet(7, 10.0, spread=0.05)]
    b = [statistics.median(r) for r in quiet(8, 10.5, spread=0.05)]
    assert stats.ratio_ci(a, b) == stats.ratio_ci(a, b)
    assert stats.ratio_ci(a, b, seed=1) != stats.ratio_ci(a, b)


# -- the instructions gate -------------------------------------------------------------------------


def with_instructions(m: Measurement, count: float) -> Measurement:
    rounds = tuple(dataclasses.replace(r, metrics={INSTRUCTIONS: count}) for r in m.rounds)
    return dataclasses.replace(m, rounds=rounds)


@pytest.mark.parametrize(
    ("change", "verdict"), [(0.003, "same"), (0.01, "regression"), (-0.01, "faster")]
)
def test_instructions_gate(change, verdict):
    # Latency says nothing here (same program); instructions per inference are deterministic.
    a = with_instructions(measurement(quiet(1, 10.0)), 1.0e9)
    b = with_instructions(measurement(quiet(2, 10.0)), 1.0e9 * (1 + change))
    result = gate_verdict(a, b, metric="instructions")
    assert result.status == verdict, result.reason
    assert result.metric == "instructions" and result.ratio == pytest.approx(1 + change)
    assert result.ratio_ci is None and "deterministic: no CI" in result.reason
    # One round a side is enough for a deterministic count.
    one = gate_verdict(
        dataclasses.replace(a, rounds=a.rounds[:1]),
        dataclasses.replace(b, rounds=b.rounds[:1]),
        metric="instructions",
    )
    assert one.status == verdict


def test_instructions_gate_falls_back_to_latency_and_refuses_noisy_counts():
    a = with_instructions(measurement(quiet(1, 10.0)), 1.0e9)
    b = measurement(quiet(2, 11.2))  # no instruction counts
    result = gate_verdict(a, b, metric="instructions")
    assert result.status == "regression" and result.metric == "latency"
    assert result.reason.startswith(f"no {INSTRUCTIONS} on the candidate: decided on latency; ")
    noisy = dataclasses.replace(
        b,
        rounds=tuple(
            dataclasses.replace(r, metrics={INSTRUCTIONS: 1.0e9 * (1 + 0.002 * i)})
            for i, r in enumerate(b.rounds)
        ),
    )
    result = gate_verdict(a, noisy, metric="instructions")
    assert result.status == "inconclusive" and "not deterministic here" in result.reason
    with pytest.raises(CompareError, match="metric 'cycles' is not one of latency, instructions"):
        gate_verdict(a, b, metric="cycles")


def _instructions_store(path: Path, base: float, count: float, seed: int) -> Path:
    from bench.store import Store

    rng = np.random.default_rng(seed)
    with Store.open(path) as store:
        for i in range(3):
            values = process(rng, n=50, fast=base, drift_at=1.0)
            add_run(
                store,
                PIXEL3,
                V2,
                FP32,
                values,
                session_id="s1",
                round_index=i,
                metrics={INSTRUCTIONS: count},
            )
    return path


def test_instructions_gate_on_the_command_line(tmp_path, capsys):
    import json

    base = _instructions_store(tmp_path / "a.sqlite", 10.0, 1.0e9, 1)
    up = _instructions_store(tmp_path / "b.sqlite", 10.0, 1.01e9, 2)
    near = _instructions_store(tmp_path / "c.sqlite", 10.0, 1.003e9, 3)
    args = ["compare", "--baseline", str(base), "--metric", "instructions"]
    out = tmp_path / "cmp.json"
    assert main([*args, "--store", str(up), "--json", str(out)]) == 1
    item = json.loads(out.read_text())["gate"]["items"][0]
    assert (item["decision"], item["metric"], item["ratio_ci"]) == (
        "regression",
        "instructions",
        None,
    )
    assert item["ratio"] == pytest.approx(1.01)
    assert main([*args, "--store", str(near)]) == 0
    assert main([*args, "--store", str(up), "--threshold", "2%"]) == 0
    assert "1.0100x" in capsys.readouterr().out  # the ratio, not a latency
    # Decided on latency (the default), the same stores are the same program.
    assert main(["compare", "--baseline", str(base), "--store", str(up)]) == 0


# -- sessions from the store -----------------------------------------------------------------------


def test_sessions_group_rounds_and_count_failed_ones(tmp_path):
    from bench.store import RunRecord, Store
    from tests.compare.stores import samples

    path = tmp_path / "s.sqlite"
    with Store.open(path) as store:
        legacy = add_run(store, PIXEL3, V2, FP32, samples(60.0, 1))
        for i, base in enumerate((50.0, 51.0, 49.0)):
            add_run(
                store,
                PIXEL3,
                V2,
                FP32,
                samples(base, i),
                session_id="abc",
                round_index=i,
                started_at=f"2025-02-0{i + 1}T00:00:00",
                machine={"loadavg": [0.5, 0.5, 0.5], "online_cpus": 4},
            )
        store.record_run(
            RunRecord(
                device_id=PIXEL3[0],
                artifact_sha256=store.runs()[0].artifact_sha256,
                provenance="phone",
                config_key="threads=1",
                status="failed",
                error="device unreachable",
                session_id="abc",
                round=3,
            )
        )
    found = {m.session_id: m for m in compare.measurements_from_store(path)}
    assert set(found) == {f"run-{legacy}", "abc"}
    old = found[f"run-{legacy}"]
    assert (old.n_rounds, old.rounds_failed, old.median_ms) == (1, 0, 60.0)
    session = found["abc"]
    assert (session.n_rounds, session.rounds_failed, session.n) == (3, 1, 93)
    assert session.median_ms == 50.0 and [r.index for r in session.rounds] == [0, 1, 2]
    assert session.started_at == "2025-02-01T00:00:00"
    assert session.rounds[0].state.load_per_cpu == pytest.approx(0.125)
    assert compare.latest(found.values()) == [session]
    est = session.estimate
    assert est is not None and est.estimator == stats.HEADLINE
    assert (est.n_rounds, est.n_samples, est.median) == (3, 93, 50.0)
