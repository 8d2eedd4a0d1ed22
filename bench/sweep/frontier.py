"""The latency / top-1 Pareto frontier of a recipe's points, and the pick for a budget.

A point is DOMINATED when another is no slower and no less accurate, and strictly better in one
of the two; points tied on both stay on the frontier together. Latency is the headline of the
point's rounds (`bench.stats.HEADLINE`, the median of the round medians); the recommendation is
the most accurate frontier point whose headline is within the budget, with its CI from the
rounds: when that CI reaches past the budget, the pick may not meet it, and the line says so
and names the most accurate point whose whole CI is within the budget.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bench.stats import CONFIDENCE, RoundEstimate
from bench.sweep.accuracy import Accuracy
from bench.sweep.grid import GridPoint

# Result.status
MEASURED = "measured"
NOT_MEASURED = "not measured"
INVALID = "invalid export"
FAILED = "failed"


@dataclass(frozen=True)
class Result:
    """One grid point under one recipe: its artifact, latency estimate and top-1."""

    point: GridPoint
    recipe: str
    precision: str
    sha256: str = ""
    estimate: RoundEstimate | None = None
    accuracy: Accuracy | None = None
    status: str = MEASURED
    note: str = ""
    madds_m: float | None = None

    @property
    def model(self) -> str:
        return self.point.name

    @property
    def latency_ms(self) -> float | None:
        return self.estimate.median if self.estimate is not None else None

    @property
    def top1(self) -> float | None:
        return self.accuracy.top1 if self.accuracy is not None else None

    @property
    def placed(self) -> bool:
        """Has both a latency and a top-1: can be on the frontier."""
        return self.latency_ms is not None and self.top1 is not None


def dominates(a: Result, b: Result) -> bool:
    """`a` is no slower and no less accurate than `b`, and strictly better in one."""
    la, lb, ta, tb = a.latency_ms, b.latency_ms, a.top1, b.top1
    assert la is not None and lb is not None and ta is not None and tb is not None
    return la <= lb and ta >= tb and (la < lb or ta > tb)


def pareto(results: Sequence[Result]) -> list[Result]:
    """The non-dominated placed results, fastest first (ties on both: all of them)."""
    placed = [r for r in results if r.placed]
    front = [r for r in placed if not any(dominates(o, r) for o in placed if o is not r)]
    return sorted(front, key=lambda r: (r.latency_ms, -(r.top1 or 0.0), r.model))


def dominator(result: Result, results: Sequence[Result]) -> Result | None:
    """A placed result that dominates `result` (the fastest such), or None."""
    if not result.placed:
        return None
    found = [o for o in results if o is not result and o.placed and dominates(o, result)]
    return min(found, key=lambda o: (o.latency_ms, -(o.top1 or 0.0))) if found else None


def _ms(estimate: RoundEstimate) -> str:
    coverage = "" if estimate.confidence >= CONFIDENCE else f", {estimate.confidence:.0%} CI"
    return (
        f"{estimate.median:.2f} ms (CI {estimate.ci_low:.2f}-{estimate.ci_high:.2f} ms, "
        f"{estimate.n_rounds} round(s){coverage})"
    )


def describe(result: Result) -> str:
    """`mobilenet_v3_small_1.0_224 xnnpack-fp32: 4.10 ms (CI ...), top-1 67.4% (paper)`."""
    assert result.estimate is not None and result.accuracy is not None
    return (
        f"{result.model} {result.recipe}: {_ms(result.estimate)}, top-1 "
        f"{result.accuracy.top1:.1f}% ({result.accuracy.marker})"
    )


@dataclass(frozen=True)
class Recommendation:
    """The most accurate frontier point within the budget (or why there is none)."""

    budget_ms: float
    chosen: Result | None
    ties: tuple[Result, ...] = ()  # other frontier points equal to `chosen` on both
    straddles: bool = False  # the chosen point's CI reaches past the budget
    safer: Result | None = None  # the most accurate point whose whole CI is within budget
    fastest: Result | None = None  # the fastest frontier point (for the "none fits" line)

    def lines(self, where: str = "this device") -> list[str]:
        """What to tell the user, one finding per line."""
        budget = f"{self.budget_ms:g} ms"
        if self.chosen is None:
            if self.fastest is None:
                return [f"no point has both a latency and a top-1 on {where}: nothing to recommend"]
            assert self.fastest.estimate is not None
            return [
                f"no model meets the {budget} budget on {where}: the fastest on the frontier, "
                f"{self.fastest.model} {self.fastest.recipe}, takes {_ms(self.fastest.estimate)}; "
                f"raise --budget-ms to at least {self.fastest.estimate.median:.1f} or use a "
                "faster device"
            ]
        lines = [f"recommended for {budget} on {where}: {describe(self.chosen)}"]
        for tie in self.ties:
            lines.append(f"  tied (same latency and top-1): {describe(tie)}")
        if self.straddles:
            assert self.chosen.estimate is not None
            lines.append(
                f"  its CI ({self.chosen.estimate.ci_high:.2f} ms at the top) straddles the "
                f"{budget} budget: it may not meet it; measure more rounds (--rounds) to tell"
            )
            if self.safer is not None:
                lines.append(f"  within the budget with its whole CI: {describe(self.safer)}")
            else:
                lines.append("  no frontier point lies within the budget with its whole CI")
        return lines


def recommend(frontier: Sequence[Result], budget_ms: float) -> Recommendation:
    """The most accurate point of `frontier` whose headline latency is within `budget_ms`
    (ties on top-1: the faster; tied on both: the first by name, the others listed)."""
    placed = [r for r in frontier if r.placed]
    fastest = min(placed, key=lambda r: (r.latency_ms, -(r.top1 or 0.0)), default=None)
    fits = [r for r in placed if (r.latency_ms or 0.0) <= budget_ms]
    if not fits:
        return Recommendation(budget_ms, None, fastest=fastest)
    chosen = min(fits, key=lambda r: (-(r.top1 or 0.0), r.latency_ms, r.model, r.recipe))
    ties = tuple(
        r
        for r in fits
        if r is not chosen and r.top1 == chosen.top1 and r.latency_ms == chosen.latency_ms
    )
    assert chosen.estimate is not None
    straddles = chosen.estimate.ci_high > budget_ms
    safer = None
    if straddles:
        whole = [r for r in fits if r.estimate is not None and r.estimate.ci_high <= budget_ms]
        safer = min(whole, key=lambda r: (-(r.top1 or 0.0), r.latency_ms), default=None)
    return Recommendation(budget_ms, chosen, ties, straddles, safer, fastest)
