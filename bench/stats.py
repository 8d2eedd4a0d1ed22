"""Statistics on raw latency samples (measured iterations only: warmups never come in here).

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


def _array(samples: Samples) -> np.ndarray:
    arr = np.asarray(samples, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError("need a non-empty 1-D sequence of samples")
    if not np.all(np.isfinite(arr)):
        raise ValueError("samples must be finite")
    return arr


def median_ci(samples: Samples, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Distribution-free CI of the median: order statistics x(j) and x(n-j+1) with the largest
    j whose binomial(n, 1/2) coverage is still >= confidence. Below n = 6 (at 95%) no pair of
    order statistics has that coverage, and (min, max) is returned."""
    arr = np.sort(_array(samples))
    n = arr.size
    # coverage of [x(j), x(n-j+1)] (1-based) = P(j <= B <= n-j), B ~ Binom(n, 1/2)
    j = np.arange(1, n // 2 + 1)
    coverage = sps.binom.cdf(n - j, n, 0.5) - sps.binom.cdf(j - 1, n, 0.5)
    ok = j[coverage >= confidence]
    if ok.size == 0:
        return float(arr[0]), float(arr[-1])
    best = int(ok.max())
    return float(arr[best - 1]), float(arr[n - best])


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
