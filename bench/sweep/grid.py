"""The papers' grid: every (width, resolution) of a family that a published table names.

V1: widths 0.25 / 0.5 / 0.75 / 1.0 at 128 / 160 / 192 / 224 (the V1 paper's Tables 6, 7 and 9
give top-1 for the width and resolution cross; the TF-Lite hosted models page gives latency for
the full grid). V2: the TF-slim README's widths 0.35 - 1.4 at 96 - 224. V3-Large and V3-Small:
the V3 paper's appendix, widths at 224 and resolutions at width 1.0. The list is read from
`deploy.models.paper`, so a point added there joins the sweep.

Grid geometry, per family, on the indices of its distinct widths and resolutions scaled to
[0, 1]: the corners and the diagonal (from the narrowest at the smallest resolution to the
widest at the largest), each taken as the nearest published point (all of them on a tie; a
diagonal step only where a point lies within one step of it), and a point's neighbours: the
next published width at its resolution and the next published resolution at its width, on
either side.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bench.sweep.errors import SweepError
from deploy.models import paper
from deploy.models.spec import FAMILIES, ModelSpec, format_width, parse_model_name

SHORT_FAMILIES = {
    "v1": "mobilenet_v1",
    "v2": "mobilenet_v2",
    "v3_large": "mobilenet_v3_large",
    "v3-large": "mobilenet_v3_large",
    "v3_small": "mobilenet_v3_small",
    "v3-small": "mobilenet_v3_small",
}


@dataclass(frozen=True, order=True)
class GridPoint:
    """One published configuration: a family at a width multiplier and an input resolution."""

    family: str
    width: float
    resolution: int

    @property
    def name(self) -> str:
        return f"{self.family}_{format_width(self.width)}_{self.resolution}"

    def spec(self, weights: str = "random") -> ModelSpec:
        return ModelSpec(self.family, self.width, self.resolution, weights)


def parse_families(values: Iterable[str] | None) -> list[str]:
    """--families: names or short names (v1, v2, v3_large, v3_small), comma-separated or
    repeated; all four when none are given."""
    given = [v.strip() for value in values or () for v in value.split(",") if v.strip()]
    if not given:
        return list(FAMILIES)
    out = []
    for name in given:
        family = SHORT_FAMILIES.get(name, name)
        if family not in FAMILIES:
            raise SweepError(
                f"--families {name!r} is not a MobileNet family; give some of "
                f"{', '.join(FAMILIES)} (or v1, v2, v3_large, v3_small)"
            )
        out.append(family)
    return list(dict.fromkeys(out))


def grid(families: Sequence[str] = FAMILIES) -> list[GridPoint]:
    """Every published point of `families`, in family order, narrowest and smallest first."""
    points = []
    for family in families:
        for name in paper.published_models(family):
            spec = parse_model_name(name)
            points.append(GridPoint(spec.family, spec.width, spec.resolution))
    return points


def _axes(points: Sequence[GridPoint]) -> tuple[dict[float, float], dict[int, float]]:
    """Each distinct width and resolution's index, scaled to [0, 1]."""
    widths = sorted({p.width for p in points})
    resolutions = sorted({p.resolution for p in points})

    def scaled(values: Sequence[float]) -> dict:
        span = max(len(values) - 1, 1)
        return {v: i / span for i, v in enumerate(values)}

    return scaled(widths), scaled(resolutions)


def _nearest(
    points: Sequence[GridPoint], target: tuple[float, float], within: float = math.inf
) -> list[GridPoint]:
    """The points nearest to `target` in the scaled index plane (every one on a tie), if they
    lie closer than `within`."""
    wx, rx = _axes(points)
    distance = {p: math.dist((wx[p.width], rx[p.resolution]), target) for p in points}
    best = min(distance.values())
    if best >= within - 1e-9:
        return []
    return [p for p in points if math.isclose(distance[p], best, abs_tol=1e-9)]


def corners_and_diagonal(points: Sequence[GridPoint]) -> list[GridPoint]:
    """The quick sweep's first points, per family: the four corners of its width x resolution
    grid (the nearest published points: the ends of the arms of a cross like V3's) and its
    diagonal, as many steps as the longer axis, where a published point lies within one step."""
    chosen: list[GridPoint] = []
    for family in dict.fromkeys(p.family for p in points):
        members = [p for p in points if p.family == family]
        steps = max(len({p.width for p in members}), len({p.resolution for p in members}))
        step = 1.0 / max(steps - 1, 1)
        for corner in ((0.0, 0.0), (0.0, 1.0), (1.0, 0.0), (1.0, 1.0)):
            chosen += _nearest(members, corner)
        for k in range(steps):
            chosen += _nearest(members, (k * step, k * step), within=step)
    return sorted(dict.fromkeys(chosen), key=points.index)


def neighbours(point: GridPoint, points: Sequence[GridPoint]) -> list[GridPoint]:
    """The next published width at `point`'s resolution and the next published resolution at
    its width, on either side (same family)."""
    same_res = sorted(
        p for p in points if p.family == point.family and p.resolution == point.resolution
    )
    same_width = sorted(
        (p for p in points if p.family == point.family and p.width == point.width),
        key=lambda p: p.resolution,
    )
    found = []
    for line in (same_res, same_width):
        if point in line:
            i = line.index(point)
            found += [line[j] for j in (i - 1, i + 1) if 0 <= j < len(line)]
    return found
