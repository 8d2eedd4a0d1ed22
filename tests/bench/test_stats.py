"""bench.stats on samples whose answers are known."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bench import stats


def test_summary_of_known_samples():
    samples = [float(x) for x in range(1, 101)]  # 1..100
    s = stats.summarize(samples)
    assert s.n == 100
    assert s.median == 50.5
    assert s.mean == 50.5
    assert s.stdev == pytest.approx(np.std(samples, ddof=1))
    assert (s.min, s.max) == (1.0, 100.0)
    assert s.p10 == pytest.approx(10.9) and s.p90 == pytest.approx(90.1)
    assert s.trimmed_mean == 50.5  # symmetric
    # exact binomial CI of the median for n=100 at 95%: order statistics 40 and 61
    assert (s.ci_low, s.ci_high) == (40.0, 61.0)
    assert s.ci_low <= s.median <= s.ci_high


def test_median_ci_coverage_is_at_least_nominal():
    # Monte Carlo: the interval covers the true median of an exponential >= 95% of the time.
    rng = np.random.default_rng(0)
    true_median = math.log(2)
    hits = 0
    for _ in range(400):
        lo, hi = stats.median_ci(rng.exponential(size=31))
        hits += lo <= true_median <= hi
    assert hits / 400 >= 0.93


def test_small_samples_fall_back_to_range():
    assert stats.median_ci([3.0, 1.0, 2.0]) == (1.0, 3.0)
    assert math.isinf(stats.rel_ci_halfwidth([1.0]))


def test_trimmed_mean_ignores_outliers():
    samples = [10.0] * 18 + [1000.0, 0.001]
    s = stats.summarize(samples)
    assert s.trimmed_mean == 10.0 and s.median == 10.0 and s.mean > 50


def test_stability_warnings():
    assert stats.stability_warnings([10.0, 10.1, 9.9, 10.05, 9.95] * 4) == []
    noisy = [10.0] * 10 + [20.0] * 3
    warnings = stats.stability_warnings(noisy)
    assert any("standard deviation" in w for w in warnings)
    assert any("longest sample" in w for w in stats.stability_warnings([10.0] * 50 + [40.0]))
    assert not stats.summarize(noisy).stable


def test_precision_narrows_with_more_samples():
    # The median CI's relative half-width (what --target-precision stops on) narrows as
    # 1/sqrt(n): four times the samples, about half the width.
    rng = np.random.default_rng(1)
    pilot = list(10 + rng.normal(0, 0.5, size=20))
    now = stats.rel_ci_halfwidth(pilot)
    assert 0 < now < math.inf
    more = list(10 + rng.normal(0, 0.5, size=80))
    assert stats.rel_ci_halfwidth(more) < now


def test_bad_input():
    with pytest.raises(ValueError):
        stats.summarize([])
    with pytest.raises(ValueError):
        stats.summarize([1.0, float("nan")])
