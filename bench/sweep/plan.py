"""What a sweep exports and measures, in which order, and about how long that takes.

Full sweep: every published point of the chosen families under every recipe, in one session.

Quick sweep (`--quick`): only points with a top-1 (a point without one cannot be on a latency /
top-1 frontier), first the corners and the diagonal of each family's grid
(`grid.corners_and_diagonal`), then, round after round, the neighbours of the current frontier
points (`grid.neighbours`) that could still change it, until none is left. A point could change
the frontier unless a measured point is at least as accurate and no slower than the point's
LATENCY FLOOR: the slowest measured point of its family that is no wider and no larger (a model
never runs faster than a narrower one at a smaller resolution). Heuristic: a point that is not
a neighbour of the frontier is not tried; the full sweep measures every point.

The time estimate is a plain model, printed before anything starts: export time per recipe is
the median of the earlier exports in the artifact folder's manifest (else a default), and an
already exported point costs nothing; a round costs ROUND_OVERHEAD_S plus its warmups and
iterations at a latency proportional to MAdds (the device's GMAC/s from its stored runs, else
DEFAULT_GMACS), at least --min-time and at most --max-time; stored rounds cost nothing.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bench.runner.run import RunnerConfig
from bench.sweep.frontier import Result, pareto
from bench.sweep.grid import GridPoint, neighbours

# Rounds per point of a quick sweep unless --rounds says otherwise (the full sweep: 5, like every
# benchmark). 3 rounds give the headline's CI 75% coverage, not 95%: the tables say so.
QUICK_ROUNDS = 3
FULL_ROUNDS = 5
# Seconds of export per recipe precision when the manifest has no earlier export to go by.
DEFAULT_EXPORT_S = {"fp32": 15.0, "int8": 30.0}
DEFAULT_GMACS = 5.0  # assumed MAC rate (1e9 / s) when the store has no run of the device
ROUND_OVERHEAD_S = 1.0  # starting a runner process and loading the program


def latency_floor(point: GridPoint, measured: Sequence[Result]) -> float:
    """The slowest measured latency of `point`'s family at a width and a resolution no larger
    than its own (0 when none is measured): `point` runs no faster than that."""
    below = [
        r.latency_ms
        for r in measured
        if r.latency_ms is not None
        and r.point.family == point.family
        and r.point.width <= point.width
        and r.point.resolution <= point.resolution
        and r.point != point
    ]
    return max(below, default=0.0)


def could_change(point: GridPoint, top1: float, measured: Sequence[Result]) -> bool:
    """Could `point`, at `top1`, enter the frontier of `measured`? Not when a measured point is
    at least as accurate and no slower than `point`'s latency floor."""
    floor = latency_floor(point, measured)
    return not any(
        r.placed and (r.latency_ms or 0.0) <= floor and (r.top1 or 0.0) >= top1 for r in measured
    )


def refinement(
    candidates: Sequence[GridPoint], top1: Mapping[GridPoint, float], results: Sequence[Result]
) -> list[GridPoint]:
    """The next points of a quick sweep for one recipe: unmeasured neighbours of the frontier of
    `results` that could change it (`could_change`). `candidates` are the points with a top-1."""
    tried = {r.point for r in results}
    out: list[GridPoint] = []
    for front in pareto(results):
        for near in neighbours(front.point, candidates):
            if near in tried or near in out or near not in top1:
                continue
            if could_change(near, top1[near], results):
                out.append(near)
    return out


# -- the time estimate ------------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    """One (point, recipe) to bring to `rounds` rounds: what is already done, what it costs."""

    point: GridPoint
    recipe: str
    precision: str
    madds_m: float
    exported: bool  # the export cache has it: costs nothing
    rounds_stored: int = 0


@dataclass(frozen=True)
class TimeEstimate:
    jobs: int
    exports: int  # to export (the others are cached)
    export_s: float
    rounds: int  # to measure (stored ones are skipped)
    measure_s: float
    basis: tuple[str, ...]  # how each figure was estimated

    @property
    def total_s(self) -> float:
        return self.export_s + self.measure_s

    def line(self) -> str:
        return (
            f"estimate: {duration(self.total_s)} for {self.jobs} point(s) x recipe: "
            f"{self.exports} export(s) ({self.jobs - self.exports} cached) ~"
            f"{duration(self.export_s)}, {self.rounds} round(s) to measure ~"
            f"{duration(self.measure_s)}"
        )


def duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min"


def round_s(latency_ms: float, config: RunnerConfig) -> float:
    """Wall time of one round at `latency_ms` per inference under `config`."""
    warm = config.warmup * latency_ms / 1000.0
    timed = max(config.iterations * latency_ms / 1000.0, config.min_time_s)
    if config.max_time_s > 0:
        timed = min(timed, max(config.max_time_s, config.min_time_s))
    return ROUND_OVERHEAD_S + warm + timed


def estimate(
    jobs: Sequence[Job],
    rounds: int,
    config: RunnerConfig,
    export_s: Mapping[str, float],
    gmacs: Mapping[str, float],
    basis: Sequence[str] = (),
) -> TimeEstimate:
    """The time `jobs` take: exports (recipe -> seconds, `export_s`; a cached one costs nothing)
    and the rounds still to measure at MAdds / GMAC/s per inference (recipe -> rate, `gmacs`)."""
    export_total, measure_total, exports, to_measure = 0.0, 0.0, 0, 0
    for job in jobs:
        if not job.exported:
            exports += 1
            export_total += export_s.get(job.recipe, DEFAULT_EXPORT_S.get(job.precision, 30.0))
        missing = max(0, rounds - job.rounds_stored)
        to_measure += missing
        latency_ms = job.madds_m / gmacs.get(job.recipe, DEFAULT_GMACS)  # MAdds(M)/GMAC/s = ms
        measure_total += missing * round_s(latency_ms, config)
    return TimeEstimate(len(jobs), exports, export_total, to_measure, measure_total, tuple(basis))


def median_export_s(entries: Sequence[object]) -> dict[str, float]:
    """recipe -> median export seconds of earlier exports (manifest entries with `export_s`)."""
    by_recipe: dict[str, list[float]] = {}
    for entry in entries:
        seconds = getattr(entry, "export_s", None)
        recipe = getattr(entry, "recipe_name", "")
        if isinstance(seconds, int | float) and seconds > 0 and recipe:
            by_recipe.setdefault(recipe, []).append(float(seconds))
    return {recipe: statistics.median(values) for recipe, values in by_recipe.items()}
