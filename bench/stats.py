"""Statistics on raw latency samples (measured iterations only: warmups never come in here).

The unit of replication is the ROUND: one runner process. Iterations inside one process are
autocorrelated (the clock, the caches and the scheduler drift under them: the median of
consecutive blocks of one process can jump by 40%), so a spread or a test computed on them
says nothing about a second process. Everything that compares or headlines a measurement works
on rounds:

- `round_estimate(rounds)` -> `RoundEstimate`: the headline, named `HEADLINE` wherever it is
  shown: the median of the per-round medians, with a confidence interval from the rounds
  (`ROUND_CI_METHOD`: order statistics of the round medians, distribution-free; its exact
  coverage is `confidence`, 95% from 6 rounds on, less below: 75% at 3 rounds, 94% at 5), the
  p10 (median of the per-round 10th percentiles), and the rounds and samples it comes from.
- `ratio_ci(a, b)` -> `RatioCI`: median(b) / median(a) of two sides' per-round values with a
  95% CI from the rounds (`RATIO_CI_METHOD`): a percentile bootstrap over rounds, each side
  resampled independently, `BOOTSTRAP_RESAMPLES` resamples from the fixed `BOOTSTRAP_SEED` (the
  same rounds always give the same interval), widened to hold the distribution-free
  Hodges-Lehmann interval of the log ratio (`rank_ratio_ci`, exact Mann-Whitney on the rounds)
  wherever that one exists (from 4 rounds a side at 95%). The bootstrap alone is too sure of
  itself with few rounds whose medians fall in two clusters (a process that drifted, one that
  did not): about 3% of identical pairs came out "different" in simulation, none with the union.

Per-iteration statistics stay, for one round at a time ("within one process", `WITHIN_PROCESS`):

- `summarize(samples)`: median, mean, stdev, min, max, p10, p90, 10% trimmed mean, and a
  distribution-free confidence interval of the median (exact binomial order statistics).
- `stability_warnings(samples)`: pyperf-style warnings when the spread is too high to trust.
- `rel_ci_halfwidth(samples)`: the precision reached, the relative half-width of the median's
  CI (the C++ runner stops on the same measure, normal approximation to the ranks, when given
  `--target-precision`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Union

import numpy as np
from scipy import stats as sps

Samples = Union[Sequence[float], "np.ndarray"]
CONFIDENCE = 0.95
TRIM = 0.10
# pyperf's thresholds: stdev above 10% of the mean, or a raw value far from the mean.
STDEV_WARN = 0.10
MIN_WARN = 0.50
MAX_WARN = 0.50

# The headline of a measurement, named wherever it is shown (tables, plots, JSON).
HEADLINE = "median of round medians"
# What per-iteration figures are, wherever they are shown.
WITHIN_PROCESS = "within one process"
ROUND_CI_METHOD = "order statistics of the round medians (distribution-free, exact binomial)"
RATIO_CI_METHOD = (
    "percentile bootstrap over rounds, each side resampled independently (4000 resamples, "
    "fixed seed), widened to the Hodges-Lehmann interval of the log round medians (exact "
    "Mann-Whitney) where one exists"
)
# Above this many (a rounds x b rounds) the Mann-Whitney null distribution is approximated.
EXACT_RANKS = 400
BOOTSTRAP_RESAMPLES = 4000
BOOTSTRAP_SEED = 20250611


def _array(samples: Samples) -> np.ndarray:
    arr = np.asarray(samples, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError("need a non-empty 1-D sequence of samples")
    if not np.all(np.isfinite(arr)):
        raise ValueError("samples must be finite")
    return arr


def _order_statistic(n: int, confidence: float) -> tuple[int, float]:
    """(j, coverage): the largest j (1-based) whose interval [x(j), x(n-j+1)] still covers the
    median with probability >= confidence, and that coverage, P(j <= B <= n-j) for
    B ~ Binom(n, 1/2). When no j reaches it (n < 6 at 95%), j = 1: (min, max), whose coverage
    1 - 2 * 0.5**n is below the confidence asked for."""
    j = np.arange(1, n // 2 + 1)
    coverage = sps.binom.cdf(n - j, n, 0.5) - sps.binom.cdf(j - 1, n, 0.5)
    ok = j[coverage >= confidence]
    if ok.size == 0:
        return 1, max(0.0, 1.0 - 2.0 * 0.5**n)
    best = int(ok.max())
    return best, float(coverage[best - 1])


def median_ci(samples: Samples, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Distribution-free CI of the median: order statistics x(j) and x(n-j+1) with the largest
    j whose binomial(n, 1/2) coverage is still >= confidence. Below n = 6 (at 95%) no pair of
    order statistics has that coverage, and (min, max) is returned."""
    arr = np.sort(_array(samples))
    n = arr.size
    best, _ = _order_statistic(n, confidence)
    return float(arr[best - 1]), float(arr[n - best])


def median_ci_coverage(n: int, confidence: float = CONFIDENCE) -> float:
    """The coverage `median_ci` reaches on n values: `confidence` or more from n = 6 on (at
    95%), 1 - 2 * 0.5**n below (0.75 at 3, 0.9375 at 5)."""
    if n < 1:
        return 0.0
    _, reached = _order_statistic(n, confidence)
    return confidence if reached >= confidence else reached


def rel_ci_halfwidth(samples: Samples, confidence: float = CONFIDENCE) -> float:
    """Half the width of the median's CI divided by the median (inf when undefined)."""
    arr = _array(samples)
    if arr.size < 2:
        return math.inf
    lo, hi = median_ci(arr, confidence)
    med = float(np.median(arr))
    return math.inf if med <= 0 else (hi - lo) / 2.0 / med


def stability_warnings(samples: Samples) -> list[str]:
    """pyperf-style: a warning per sign that the spread is too high to trust the numbers."""
    arr = _array(samples)
    warnings: list[str] = []
    if arr.size < 3:
        return [f"only {arr.size} samples: not enough to judge stability"]
    mean = float(arr.mean())
    stdev = float(arr.std(ddof=1))
    if mean > 0 and stdev > STDEV_WARN * mean:
        warnings.append(
            f"unstable: the standard deviation ({stdev:.3g} ms) is {stdev / mean:.0%} of the "
            f"mean ({mean:.3g} ms)"
        )
    if mean > 0 and float(arr.min()) < (1 - MIN_WARN) * mean:
        warnings.append(
            f"unstable: the shortest sample ({arr.min():.3g} ms) is "
            f"{1 - arr.min() / mean:.0%} below the mean ({mean:.3g} ms)"
        )
    if mean > 0 and float(arr.max()) > (1 + MAX_WARN) * mean:
        warnings.append(
            f"unstable: the longest sample ({arr.max():.3g} ms) is "
            f"{arr.max() / mean - 1:.0%} above the mean ({mean:.3g} ms)"
        )
    return warnings


@dataclass(frozen=True)
class Summary:
    n: int
    median: float
    mean: float
    stdev: float
    min: float
    max: float
    p10: float
    p90: float
    trimmed_mean: float
    ci_low: float
    ci_high: float
    confidence: float
    warnings: tuple[str, ...]

    @property
    def rel_ci_halfwidth(self) -> float:
        return math.inf if self.median <= 0 else (self.ci_high - self.ci_low) / 2 / self.median

    @property
    def stable(self) -> bool:
        return not self.warnings

    def as_dict(self) -> dict[str, object]:
        return {
            "n": self.n,
            "median": self.median,
            "mean": self.mean,
            "stdev": self.stdev,
            "min": self.min,
            "max": self.max,
            "p10": self.p10,
            "p90": self.p90,
            "trimmed_mean": self.trimmed_mean,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "confidence": self.confidence,
            "warnings": list(self.warnings),
        }


def summarize(samples: Samples, confidence: float = CONFIDENCE, trim: float = TRIM) -> Summary:
    arr = _array(samples)
    p10, p90 = np.percentile(arr, [10, 90])
    lo, hi = median_ci(arr, confidence)
    return Summary(
        n=int(arr.size),
        median=float(np.median(arr)),
        mean=float(arr.mean()),
        stdev=float(arr.std(ddof=1)) if arr.size > 1 else 0.0,
        min=float(arr.min()),
        max=float(arr.max()),
        p10=float(p10),
        p90=float(p90),
        trimmed_mean=float(sps.trim_mean(arr, trim)),
        ci_low=lo,
        ci_high=hi,
        confidence=confidence,
        warnings=tuple(stability_warnings(arr)),
    )


# ---------------------------------------------------------------------------------------------
# Rounds: one runner process each


@dataclass(frozen=True)
class RoundEstimate:
    """The headline of a measurement made of rounds (HEADLINE: the median of the per-round
    medians), its CI from the rounds, and the p10 (median of the per-round p10s)."""

    median: float
    ci_low: float
    ci_high: float
    confidence: float  # the coverage the interval reaches (see `median_ci_coverage`)
    p10: float
    n_rounds: int
    n_samples: int
    round_medians: tuple[float, ...]
    round_p10s: tuple[float, ...]

    estimator = HEADLINE
    method = ROUND_CI_METHOD

    @property
    def rel_ci_halfwidth(self) -> float:
        return math.inf if self.median <= 0 else (self.ci_high - self.ci_low) / 2 / self.median

    def as_dict(self) -> dict[str, object]:
        return {
            "estimator": self.estimator,
            "median": self.median,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "confidence": self.confidence,
            "method": self.method,
            "p10": self.p10,
            "n_rounds": self.n_rounds,
            "n_samples": self.n_samples,
        }


def ci_text(estimate: RoundEstimate) -> str:
    """The headline's CI for a table, e.g. `+-1.2%`, or `+-3.0% (75%)` when the rounds reach less
    than 95% coverage."""
    coverage = "" if estimate.confidence >= CONFIDENCE else f" ({estimate.confidence:.0%})"
    return f"±{estimate.rel_ci_halfwidth:.1%}{coverage}"


def round_estimate(rounds: Sequence[Samples], confidence: float = CONFIDENCE) -> RoundEstimate:
    """The headline of `rounds` (one sequence of samples per round, i.e. per runner process):
    median of the round medians, its order-statistic CI over the rounds, median of round p10s.
    Raises ValueError on no rounds, or on an empty or non-finite round."""
    arrays = [_array(r) for r in rounds]
    if not arrays:
        raise ValueError("need at least one round of samples")
    medians = np.array([float(np.median(a)) for a in arrays])
    p10s = np.array([float(np.percentile(a, 10)) for a in arrays])
    lo, hi = median_ci(medians, confidence)
    return RoundEstimate(
        median=float(np.median(medians)),
        ci_low=lo,
        ci_high=hi,
        confidence=median_ci_coverage(medians.size, confidence),
        p10=float(np.median(p10s)),
        n_rounds=int(medians.size),
        n_samples=int(sum(a.size for a in arrays)),
        round_medians=tuple(float(v) for v in medians),
        round_p10s=tuple(float(v) for v in p10s),
    )


@dataclass(frozen=True)
class RatioCI:
    """median(b) / median(a) of two sides' per-round values, with its CI from the rounds: the
    union of the bootstrap interval and, where it exists, the rank (Hodges-Lehmann) one."""

    ratio: float
    low: float
    high: float
    confidence: float
    n_a: int
    n_b: int
    bootstrap: tuple[float, float]
    rank: tuple[float, float] | None

    method = RATIO_CI_METHOD


def _mann_whitney_cdf(n: int, m: int) -> np.ndarray:
    """P(U <= u), u = 0 .. n * m, for Mann-Whitney's U of samples of n and m values without
    ties under the null: exact (the recursion on the largest value) up to EXACT_RANKS, else
    the normal approximation with a continuity correction."""
    u = np.arange(n * m + 1)
    if n * m > EXACT_RANKS:
        mean, sd = n * m / 2.0, math.sqrt(n * m * (n + m + 1) / 12.0)
        return np.asarray(sps.norm.cdf((u + 0.5 - mean) / sd))
    # p[j] = distribution of U for (i, j); the largest of i + j values is from the first
    # sample (probability i / (i + j), adds j to U) or from the second (adds nothing).
    rows = [np.ones(1) for _ in range(m + 1)]  # i = 0: U = 0 whatever j
    for i in range(1, n + 1):
        current = [np.ones(1)]  # j = 0: U = 0
        for j in range(1, m + 1):
            dist = np.zeros(i * j + 1)
            first = rows[j]  # (i - 1, j), shifted by j
            dist[j : j + first.size] += i / (i + j) * first
            second = current[j - 1]  # (i, j - 1)
            dist[: second.size] += j / (i + j) * second
            current.append(dist)
        rows = current
    return np.cumsum(rows[m])


def rank_ratio_ci(
    a: Samples, b: Samples, confidence: float = CONFIDENCE
) -> tuple[float, float] | None:
    """The distribution-free CI of b / a under a multiplicative shift: the Hodges-Lehmann
    interval of the log values, order statistics k and n m - k + 1 of the n m differences
    log b_j - log a_i, k the largest with P(U <= k - 1) <= (1 - confidence) / 2 (exact Mann-
    Whitney). None when no k reaches the confidence (3 values against 3 or 4 at 95%)."""
    xa, xb = np.log(_array(a)), np.log(_array(b))
    n, m = xa.size, xb.size
    cdf = _mann_whitney_cdf(n, m)
    tail = (1.0 - confidence) / 2.0
    ok = np.nonzero(cdf <= tail + 1e-12)[0]  # u = k - 1
    if ok.size == 0:
        return None
    k = int(ok.max()) + 1
    diffs = np.sort((xb[None, :] - xa[:, None]).ravel())
    return float(np.exp(diffs[k - 1])), float(np.exp(diffs[n * m - k]))


def ratio_ci(
    a: Samples,
    b: Samples,
    confidence: float = CONFIDENCE,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> RatioCI:
    """median(b) / median(a), with a CI over the rounds: `a` and `b` hold one value per round
    (its median). A percentile bootstrap: each resample draws len(a) rounds of `a` and len(b)
    rounds of `b` with replacement, independently (one generator, seeded: deterministic), and
    takes the ratio of their medians; the interval is widened to hold the ratio itself and
    the rank interval (`rank_ratio_ci`) where that exists. Either interval has (about) the
    confidence, so their union has at least as much.

    At 3 rounds a side the bootstrap spans (nearly) the whole range of round ratios, min(b) /
    max(a) .. max(b) / min(a) (coverage about 90% under a shift); it narrows as rounds are
    added."""
    xa, xb = _array(a), _array(b)
    if np.any(xa <= 0) or np.any(xb <= 0):
        raise ValueError("values must be positive to take a ratio")
    ratio = float(np.median(xb) / np.median(xa))
    rng = np.random.default_rng(seed)
    ma = np.median(xa[rng.integers(0, xa.size, size=(resamples, xa.size))], axis=1)
    mb = np.median(xb[rng.integers(0, xb.size, size=(resamples, xb.size))], axis=1)
    tail = (1.0 - confidence) / 2.0
    lo, hi = (float(v) for v in np.quantile(mb / ma, [tail, 1.0 - tail]))
    rank = rank_ratio_ci(xa, xb, confidence)
    low, high = min(lo, ratio), max(hi, ratio)
    if rank is not None:
        low, high = min(low, rank[0]), max(high, rank[1])
    return RatioCI(
        ratio=ratio,
        low=low,
        high=high,
        confidence=confidence,
        n_a=int(xa.size),
        n_b=int(xb.size),
        bootstrap=(lo, hi),
        rank=rank,
    )
