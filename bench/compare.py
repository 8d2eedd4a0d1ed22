"""Cross-device comparison, significance, and the regression gate.

Works on a small in-memory model (`Measurement`: one stored run with its raw samples), so the
rules below do not depend on how the results store lays out its tables; `measurements_from_store`
is the one adapter between the two.

Rules (also printed by every report):

- **Which run a cell shows**: the latest run (by `started_at`) per device, model and recipe.
  `emulated` runs (qemu) carry no meaningful time and never enter a latency table.
- **Comparable**: two runs are compared only when model, recipe, precision, input resolution,
  weights, thread count, runner name and runner version agree; on the same device id the CPU
  mask must agree too (different phones have different big-core masks by design). Otherwise
  the pair is reported as *not comparable* with every differing field, never compared.
  Provenance may differ between two devices (a phone against this host is a fair question),
  but every label carries it: host and simulator figures read "not a phone". The gate only
  ever pairs runs of one provenance.
- **Significant**: a two-sided Mann-Whitney U test on the raw samples with p < ALPHA (0.01)
  AND a relative difference of medians of at least MIN_EFFECT (2%). Only then is a ratio given.
- **Gate**: a candidate regresses when it is significantly slower and its median is more than
  `threshold` (default 5%) above the baseline's. Regressions fail the gate (exit 1). Pairs that
  are not comparable are listed and do not fail it unless `strict` is set; a model present on
  one side only is listed as new / missing and never fails it.
- **GMAC/s** = MAdds (millions) / median latency (ms): 1e6 MAC / 1e-3 s = 1e9 MAC/s.
"""

from __future__ import annotations

import math
import re
import sqlite3
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from bench.errors import CompareError, StoreError
from deploy.models import paper

PROVENANCES = ("phone", "host", "simulator", "emulated", "peer")
# Figures from these are never presented as phone numbers.
NOT_A_PHONE = ("host", "simulator", "emulated")
ALPHA = 0.01
MIN_EFFECT = 0.02
DEFAULT_THRESHOLD = 0.05
# Below this many samples per side a rank test at ALPHA cannot succeed: say so instead.
MIN_SAMPLES = 5


@dataclass(frozen=True)
class Measurement:
    """One benchmark run as the comparison sees it: identity, configuration, raw samples."""

    device: str  # the device's display name ("Pixel 7", "host x86_64 ...")
    device_id: str  # serial / stable id: tells two units of one phone model apart
    provenance: str  # phone / host / simulator / emulated / peer
    model: str  # mobilenet_v2_1.0_224
    recipe: str  # the export recipe's name
    precision: str  # fp32 / int8
    resolution: int
    weights: str  # random / imagenet / checkpoint
    threads: int
    runner: str
    runner_version: str
    cpu_mask: str
    samples_ms: tuple[float, ...]
    madds_m: float | None = None
    started_at: str = ""  # ISO 8601, sorts chronologically
    label: str = ""  # commit or user label
    run_id: int | None = None
    artifact_sha256: str = ""
    source: str = ""  # where it was read from (store path)

    def __post_init__(self) -> None:
        if self.provenance not in PROVENANCES:
            raise CompareError(
                f"run of {self.model} on {self.device}: unknown provenance {self.provenance!r} "
                f"(expected one of {', '.join(PROVENANCES)})"
            )

    @property
    def median_ms(self) -> float:
        return statistics.median(self.samples_ms) if self.samples_ms else math.nan

    @property
    def n(self) -> int:
        return len(self.samples_ms)

    @property
    def has_latency(self) -> bool:
        return self.provenance != "emulated" and bool(self.samples_ms)

    @property
    def runner_text(self) -> str:
        return f"{self.runner} {self.runner_version}".strip()

    @property
    def device_label(self) -> str:
        """The device's name with its provenance, spelled out when it is not a phone."""
        return device_label(self.device, self.provenance)


def device_label(device: str, provenance: str) -> str:
    if provenance == "phone":
        return device
    if provenance in NOT_A_PHONE:
        return f"{device} ({provenance}, not a phone)"
    return f"{device} ({provenance})"


def gmacs(madds_m: float | None, latency_ms: float | None) -> float | None:
    """Achieved GMAC/s: MAdds in millions over latency in ms (1e6 MAC / 1e-3 s = 1e9 MAC/s)."""
    if madds_m is None or latency_ms is None or not latency_ms > 0:
        return None
    return madds_m / latency_ms


# ---------------------------------------------------------------------------------------------
# Comparability and significance


# (field, what a report calls it); cpu_mask is only compared on the same device id.
COMPARABILITY_FIELDS = (
    ("model", "model"),
    ("recipe", "recipe"),
    ("precision", "precision"),
    ("resolution", "input size"),
    ("weights", "weights"),
    ("threads", "threads"),
    ("runner", "runner"),
    ("runner_version", "runner version"),
)


def comparability(a: Measurement, b: Measurement) -> str | None:
    """None when the two runs may be compared, else every reason they may not."""
    reasons = []
    for side in (a, b):
        if side.provenance == "emulated":
            reasons.append(f"{side.device} run is emulated (no meaningful time)")
        elif not side.samples_ms:
            reasons.append(f"{side.device} run has no samples")
    for name, title in COMPARABILITY_FIELDS:
        left, right = getattr(a, name), getattr(b, name)
        if left != right:
            reasons.append(f"{title} {left} vs {right}")
    if a.device_id == b.device_id and a.cpu_mask != b.cpu_mask:
        reasons.append(f"cpu mask {a.cpu_mask} vs {b.cpu_mask}")
    return "; ".join(dict.fromkeys(reasons)) or None


@dataclass(frozen=True)
class Significance:
    """B against A: ratio of medians, the rank test's p-value, and the decision."""

    median_a: float
    median_b: float
    p_value: float
    significant: bool
    reason: str  # why not significant ("" when significant)

    @property
    def ratio(self) -> float:
        """median(B) / median(A): above 1 means B is slower."""
        return self.median_b / self.median_a

    @property
    def effect(self) -> float:
        return self.ratio - 1.0


def significance(
    a: Sequence[float],
    b: Sequence[float],
    alpha: float = ALPHA,
    min_effect: float = MIN_EFFECT,
) -> Significance:
    """Two-sided Mann-Whitney U on the raw samples, plus a minimum relative effect."""
    from scipy.stats import mannwhitneyu  # scipy is slow to import: only when comparing

    median_a, median_b = statistics.median(a), statistics.median(b)
    if min(len(a), len(b)) < MIN_SAMPLES:
        return Significance(
            median_a, median_b, math.nan, False, f"fewer than {MIN_SAMPLES} samples on a side"
        )
    if len(set(a) | set(b)) == 1:
        p_value = 1.0  # every sample identical: no evidence of any difference
    else:
        p_value = float(mannwhitneyu(a, b, alternative="two-sided").pvalue)
        if math.isnan(p_value):
            p_value = 1.0
    effect = median_b / median_a - 1.0
    if p_value >= alpha:
        reason = f"p = {p_value:.2g} >= {alpha:g}"
    elif abs(effect) < min_effect:
        reason = f"|difference| {abs(effect):.1%} < {min_effect:.0%}"
    else:
        reason = ""
    return Significance(median_a, median_b, p_value, not reason, reason)


@dataclass(frozen=True)
class PairResult:
    """One (model, recipe) compared between A (reference / baseline) and B (candidate)."""

    model: str
    recipe: str
    a: Measurement | None
    b: Measurement | None
    status: str  # faster / slower / regression / same / not comparable / missing / new
    reason: str = ""
    significance: Significance | None = None

    @property
    def ratio(self) -> float | None:
        """median(B) / median(A), only when the difference is significant."""
        if self.significance is None or not self.significance.significant:
            return None
        return self.significance.ratio

    @property
    def device(self) -> str:
        side = self.b or self.a
        return side.device_label if side else ""


def compare_pair(
    a: Measurement | None,
    b: Measurement | None,
    *,
    alpha: float = ALPHA,
    min_effect: float = MIN_EFFECT,
    threshold: float | None = None,
) -> PairResult:
    """Decide B against A. With a threshold (the gate), 'slower' beyond it is 'regression'."""
    some = a or b
    if some is None:
        raise ValueError("compare_pair needs at least one side")
    if a is None:
        return PairResult(some.model, some.recipe, a, b, "new", "no baseline run")
    if b is None:
        return PairResult(some.model, some.recipe, a, b, "missing", "no candidate run")
    reason = comparability(a, b)
    if reason:
        return PairResult(a.model, a.recipe, a, b, "not comparable", reason)
    sig = significance(a.samples_ms, b.samples_ms, alpha, min_effect)
    if not sig.significant:
        return PairResult(a.model, a.recipe, a, b, "same", sig.reason, sig)
    if sig.effect < 0:
        return PairResult(a.model, a.recipe, a, b, "faster", "", sig)
    if threshold is not None and sig.effect > threshold:
        return PairResult(
            a.model, a.recipe, a, b, "regression", f"{sig.effect:+.1%} > {threshold:.0%}", sig
        )
    within = f"within the {threshold:.0%} threshold" if threshold is not None else ""
    return PairResult(a.model, a.recipe, a, b, "slower", within, sig)


# ---------------------------------------------------------------------------------------------
# Selection


_MODEL = re.compile(r"^(?P<family>.+?)_(?P<width>\d+(?:\.\d+)?)_(?P<resolution>\d+)$")
_FAMILY_ORDER = ("mobilenet_v1", "mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small")


def model_sort_key(model: str) -> tuple[int, str, float, int, str]:
    """Family in paper order, then widest and largest first."""
    match = _MODEL.match(model)
    if not match:
        return (len(_FAMILY_ORDER), model, 0.0, 0, model)
    family = match["family"]
    rank = _FAMILY_ORDER.index(family) if family in _FAMILY_ORDER else len(_FAMILY_ORDER)
    return (rank, family, -float(match["width"]), -int(match["resolution"]), model)


def latest(measurements: Iterable[Measurement]) -> list[Measurement]:
    """The latest run per (device, device id, provenance, model, recipe)."""
    chosen: dict[tuple[str, str, str, str, str], Measurement] = {}
    for m in measurements:
        key = (m.device, m.device_id, m.provenance, m.model, m.recipe)
        if key not in chosen or (m.started_at, m.run_id or 0) >= (
            chosen[key].started_at,
            chosen[key].run_id or 0,
        ):
            chosen[key] = m
    return list(chosen.values())


def _split(values: str | Sequence[str] | None) -> list[str]:
    if values is None:
        return []
    items = [values] if isinstance(values, str) else list(values)
    return [v.strip() for item in items for v in item.split(",") if v.strip()]


def known_devices(measurements: Iterable[Measurement]) -> list[str]:
    return sorted({m.device for m in measurements})


def resolve_devices(measurements: Sequence[Measurement], wanted: Sequence[str]) -> list[str]:
    """Device names as the user typed them (name or id, any case) -> the stored names, in order.

    An unknown name raises CompareError listing the known devices.
    """
    names: list[str] = []
    for text in wanted:
        hits = sorted(
            {
                m.device
                for m in measurements
                if text.lower() in (m.device.lower(), m.device_id.lower())
            }
        )
        if not hits:
            known = ", ".join(known_devices(measurements)) or "none"
            raise CompareError(f"unknown device {text!r}; known devices: {known}")
        names.extend(h for h in hits if h not in names)
    return names


@dataclass(frozen=True)
class Selection:
    devices: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    recipes: tuple[str, ...] = ()
    label: str = ""

    @classmethod
    def parse(
        cls,
        devices: str | Sequence[str] | None = None,
        models: str | Sequence[str] | None = None,
        recipes: str | Sequence[str] | None = None,
        label: str | None = None,
    ) -> Selection:
        return cls(
            tuple(_split(devices)), tuple(_split(models)), tuple(_split(recipes)), label or ""
        )

    def describe(self) -> str:
        parts = [
            f"{name}={','.join(values)}"
            for name, values in (
                ("devices", self.devices),
                ("models", self.models),
                ("recipes", self.recipes),
            )
            if values
        ]
        if self.label:
            parts.append(f"label={self.label}")
        return " ".join(parts) or "everything"


def select(
    measurements: Sequence[Measurement], selection: Selection, where: str = "the store"
) -> list[Measurement]:
    """Filter by the selection; unknown devices and an empty result raise CompareError."""
    chosen = list(measurements)
    if not chosen:
        raise CompareError(f"{where} holds no benchmark runs; run a benchmark first")
    if selection.devices:
        names = resolve_devices(chosen, selection.devices)
        chosen = [m for m in chosen if m.device in names]
    if selection.models:
        chosen = [m for m in chosen if m.model in selection.models]
    if selection.recipes:
        chosen = [m for m in chosen if m.recipe in selection.recipes]
    if selection.label:
        chosen = [m for m in chosen if m.label == selection.label]
    if not chosen:
        models = ", ".join(sorted({m.model for m in measurements}, key=model_sort_key))
        recipes = ", ".join(sorted({m.recipe for m in measurements}))
        raise CompareError(
            f"no runs in {where} match {selection.describe()} "
            f"(models there: {models}; recipes: {recipes})"
        )
    return chosen


# ---------------------------------------------------------------------------------------------
# The per-recipe table


PAPER_DEVICES = paper.DEVICES
_PIXEL = re.compile(r"^(?:google\s+)?pixel\s*([123])(?:\s*xl)?$", re.IGNORECASE)


def paper_device_for(device: str) -> str | None:
    """'Pixel 3' / 'Google Pixel 3 XL' -> 'Pixel 3'; any other device -> None."""
    match = _PIXEL.match(device.strip())
    return f"Pixel {match[1]}" if match else None


def paper_reference(model: str, precision: str, device: str) -> paper.PaperLatency | None:
    """The paper figure a device's ratio is taken against: the same Pixel when the device is
    one the papers measured, else the first Pixel (1, 2, 3) with a published figure."""
    same = paper_device_for(device)
    if same:
        return paper.latency(model, precision, same)
    found = paper.latencies(model, precision)
    return next((found[d] for d in PAPER_DEVICES if d in found), None)


@dataclass(frozen=True)
class Cell:
    measurement: Measurement
    madds_m: float | None
    reference: paper.PaperLatency | None

    @property
    def median_ms(self) -> float:
        return self.measurement.median_ms

    @property
    def ratio_to_paper(self) -> float | None:
        if self.reference is None:
            return None
        return self.median_ms / self.reference.latency_ms

    @property
    def gmacs(self) -> float | None:
        return gmacs(self.madds_m, self.median_ms)


@dataclass(frozen=True)
class Column:
    """One device of a table: its label, provenance and what produced its numbers."""

    device: str
    provenance: str
    runners: tuple[str, ...]

    @property
    def label(self) -> str:
        return device_label(self.device, self.provenance)


@dataclass(frozen=True)
class Row:
    model: str
    madds_m: float | None
    madds_source: str  # "measured" (from the store), "paper", or "" when unknown
    cells: dict[str, Cell | None]  # column label -> cell
    paper: dict[str, paper.PaperLatency]  # Pixel 1 / 2 / 3 -> published figure

    def paper_gmacs(self, device: str) -> float | None:
        entry = self.paper.get(device)
        return gmacs(self.madds_m, entry.latency_ms) if entry else None


@dataclass(frozen=True)
class RecipeTable:
    recipe: str
    precision: str
    columns: tuple[Column, ...]
    rows: tuple[Row, ...]

    @property
    def sources(self) -> list[str]:
        """The paper sources this table's published figures come from."""
        used = {entry.source for row in self.rows for entry in row.paper.values()}
        return [key for key in paper.SOURCE_PREFERENCE if key in used]


def madds_for(model: str, measured: Iterable[float | None]) -> tuple[float | None, str]:
    """The MAdds of a model: what the store recorded for it, else the paper's figure."""
    for value in measured:
        if value is not None and value > 0:
            return value, "measured"
    published = paper.complexity_for(model)
    if published is not None:
        return published.madds_m, "paper"
    return None, ""


def _columns(measurements: Sequence[Measurement]) -> list[Column]:
    by_device: dict[tuple[str, str], set[str]] = {}
    for m in measurements:
        by_device.setdefault((m.device, m.provenance), set()).add(m.runner_text)
    order = {p: i for i, p in enumerate(PROVENANCES)}
    keys = sorted(by_device, key=lambda k: (order[k[1]], k[0]))
    return [Column(name, prov, tuple(sorted(by_device[(name, prov)]))) for name, prov in keys]


def recipe_tables(measurements: Sequence[Measurement]) -> list[RecipeTable]:
    """One table per recipe: rows are models, columns devices (latest run each)."""
    usable = latest(m for m in measurements if m.has_latency)
    tables = []
    for recipe in sorted({m.recipe for m in usable}):
        runs = [m for m in usable if m.recipe == recipe]
        precisions = sorted({m.precision for m in runs})
        precision = precisions[0] if len(precisions) == 1 else "/".join(precisions)
        columns = _columns(runs)
        rows = []
        for model in sorted({m.model for m in runs}, key=model_sort_key):
            mine = [m for m in runs if m.model == model]
            madds, madds_source = madds_for(model, (m.madds_m for m in mine))
            cells: dict[str, Cell | None] = {}
            for column in columns:
                hit = next(
                    (
                        m
                        for m in mine
                        if (m.device, m.provenance) == (column.device, column.provenance)
                    ),
                    None,
                )
                cells[column.label] = (
                    Cell(hit, madds, paper_reference(model, hit.precision, hit.device))
                    if hit
                    else None
                )
            rows.append(
                Row(model, madds, madds_source, cells, paper.latencies(model, precisions[0]))
            )
        tables.append(RecipeTable(recipe, precision, tuple(columns), tuple(rows)))
    return tables


# ---------------------------------------------------------------------------------------------
# Two devices, the gate, int8 speedups


def compare_devices(
    measurements: Sequence[Measurement],
    device_a: str,
    device_b: str,
    *,
    alpha: float = ALPHA,
    min_effect: float = MIN_EFFECT,
) -> list[PairResult]:
    """Every (model, recipe) of two devices: B against A (A is the reference)."""
    usable = latest(m for m in measurements if m.has_latency)
    side_a = {(m.model, m.recipe): m for m in usable if m.device == device_a}
    side_b = {(m.model, m.recipe): m for m in usable if m.device == device_b}
    keys = sorted(set(side_a) | set(side_b), key=lambda k: (k[1], model_sort_key(k[0])))
    results = []
    for key in keys:
        a, b = side_a.get(key), side_b.get(key)
        if a is None or b is None:
            missing = device_a if a is None else device_b
            some = a or b
            assert some is not None
            results.append(PairResult(key[0], key[1], a, b, "missing", f"no run on {missing}"))
        else:
            results.append(compare_pair(a, b, alpha=alpha, min_effect=min_effect))
    return results


@dataclass(frozen=True)
class GateResult:
    threshold: float
    strict: bool
    entries: tuple[PairResult, ...]

    @property
    def regressions(self) -> list[PairResult]:
        return [e for e in self.entries if e.status == "regression"]

    @property
    def not_comparable(self) -> list[PairResult]:
        return [e for e in self.entries if e.status == "not comparable"]

    @property
    def compared(self) -> list[PairResult]:
        return [e for e in self.entries if e.significance is not None]

    @property
    def passed(self) -> bool:
        return not self.regressions and not (self.strict and self.not_comparable)

    def summary(self) -> str:
        counts: dict[str, int] = {}
        for entry in self.entries:
            counts[entry.status] = counts.get(entry.status, 0) + 1
        detail = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
        verdict = "PASS" if self.passed else "FAIL"
        why = ""
        if self.regressions:
            why = f": {len(self.regressions)} model(s) slower by more than {self.threshold:.0%}"
        elif not self.passed:
            why = ": pairs not comparable (--strict)"
        return f"gate {verdict}{why} ({detail or 'nothing to compare'})"


def gate(
    candidates: Sequence[Measurement],
    baseline: Sequence[Measurement],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    alpha: float = ALPHA,
    min_effect: float = MIN_EFFECT,
    strict: bool = False,
) -> GateResult:
    """Candidates against the baseline, per (device, provenance, model, recipe)."""
    if not 0 <= threshold < 10:
        raise CompareError(f"threshold {threshold} is not a fraction such as 0.05 (5%)")

    def keyed(runs: Sequence[Measurement]) -> dict[tuple[str, str, str, str], Measurement]:
        return {
            (m.device, m.provenance, m.model, m.recipe): m
            for m in latest(r for r in runs if r.has_latency)
        }

    new, old = keyed(candidates), keyed(baseline)
    keys = sorted(set(new) | set(old), key=lambda k: (k[0], k[1], k[3], model_sort_key(k[2])))
    entries = tuple(
        compare_pair(
            old.get(k), new.get(k), alpha=alpha, min_effect=min_effect, threshold=threshold
        )
        for k in keys
    )
    return GateResult(threshold, strict, entries)


@dataclass(frozen=True)
class Speedup:
    """int8 over fp32 on one device: median(fp32) / median(int8)."""

    device: str
    provenance: str
    model: str
    fp32: Measurement
    int8: Measurement

    @property
    def speedup(self) -> float:
        return self.fp32.median_ms / self.int8.median_ms

    @property
    def label(self) -> str:
        return device_label(self.device, self.provenance)


def speedups(measurements: Sequence[Measurement]) -> list[Speedup]:
    """Per device and model, the latest fp32 and int8 runs that agree on everything else."""
    usable = latest(m for m in measurements if m.has_latency)
    found = []
    groups: dict[tuple[str, str, str], list[Measurement]] = {}
    for m in usable:
        groups.setdefault((m.device, m.provenance, m.model), []).append(m)
    for (device, provenance, model), runs in sorted(
        groups.items(), key=lambda kv: (kv[0][0], model_sort_key(kv[0][2]))
    ):
        runs.sort(key=lambda m: m.started_at, reverse=True)
        for fp in (m for m in runs if m.precision == "fp32"):
            match = next((q for q in runs if q.precision == "int8" and _same_setup(fp, q)), None)
            if match:
                found.append(Speedup(device, provenance, model, fp, match))
                break
    return found


def _same_setup(a: Measurement, b: Measurement) -> bool:
    keys = ("resolution", "weights", "threads", "runner", "runner_version", "device_id")
    return all(getattr(a, k) == getattr(b, k) for k in keys)


def paper_speedups(model: str) -> dict[str, float]:
    """The papers' int8 speedup per Pixel, where both figures come from one source table
    pair (V3 Table 3 / Table 4, or the TF-Lite hosted page)."""
    fp, q = paper.latencies(model, "fp32"), paper.latencies(model, "int8")
    pairs = {("v3-table3", "v3-table4"), ("tflite-hosted", "tflite-hosted")}
    return {
        device: fp[device].latency_ms / q[device].latency_ms
        for device in PAPER_DEVICES
        if device in fp and device in q and (fp[device].source, q[device].source) in pairs
    }


# ---------------------------------------------------------------------------------------------
# Everything a report shows


@dataclass(frozen=True)
class Rules:
    alpha: float = ALPHA
    min_effect: float = MIN_EFFECT
    threshold: float = DEFAULT_THRESHOLD

    def describe(self) -> str:
        return (
            f"significant = Mann-Whitney U two-sided p < {self.alpha:g} on raw samples and "
            f"medians differing by >= {self.min_effect:.0%}; gate fails when significantly "
            f"slower by > {self.threshold:.0%}; comparable = same "
            + ", ".join(title for _, title in COMPARABILITY_FIELDS)
            + " (and cpu mask on one device)"
        )


@dataclass(frozen=True)
class Comparison:
    tables: tuple[RecipeTable, ...]
    measurements: tuple[Measurement, ...]  # the selected runs with latency
    excluded: tuple[Measurement, ...]  # selected runs without latency (emulated)
    rules: Rules = field(default_factory=Rules)
    pairs: tuple[PairResult, ...] = ()  # when exactly two devices were selected
    pair_devices: tuple[str, str] | None = None
    gate: GateResult | None = None
    baseline: tuple[Measurement, ...] = ()
    speedups: tuple[Speedup, ...] = ()
    store: str = ""
    baseline_store: str = ""


def build_comparison(
    measurements: Sequence[Measurement],
    selection: Selection = Selection(),
    *,
    baseline: Sequence[Measurement] | None = None,
    baseline_selection: Selection | None = None,
    rules: Rules = Rules(),
    strict: bool = False,
    store: str = "",
    baseline_store: str = "",
) -> Comparison:
    """Select, tabulate, pair two devices, and run the gate when a baseline is given."""
    chosen = select(measurements, selection, store or "the store")
    with_latency = [m for m in chosen if m.has_latency]
    excluded = [m for m in chosen if not m.has_latency]
    if not with_latency:
        raise CompareError(
            f"the {len(chosen)} selected run(s) carry no latency (emulated under qemu); "
            "select phone, host or simulator runs"
        )
    devices = resolve_devices(with_latency, selection.devices) if selection.devices else []
    if not devices:
        devices = known_devices(with_latency)
    pairs: list[PairResult] = []
    pair_devices = None
    if len(devices) == 2:
        pair_devices = (devices[0], devices[1])
        pairs = compare_devices(
            with_latency, *pair_devices, alpha=rules.alpha, min_effect=rules.min_effect
        )
    gate_result = None
    base: list[Measurement] = []
    if baseline is not None:
        where = baseline_store or "the baseline"
        # Devices only the baseline has are kept (the gate lists them as missing) unless the
        # user chose devices; an unknown name there is no error, an empty baseline is.
        base_sel = baseline_selection or Selection((), selection.models, selection.recipes)
        base = select(baseline, base_sel, where)
        if selection.devices:
            base = [m for m in base if m.device in devices]
            if not base:
                raise CompareError(f"{where} holds no runs on {', '.join(devices)}")
        gate_result = gate(
            with_latency,
            base,
            threshold=rules.threshold,
            alpha=rules.alpha,
            min_effect=rules.min_effect,
            strict=strict,
        )
    return Comparison(
        tables=tuple(recipe_tables(with_latency)),
        measurements=tuple(with_latency),
        excluded=tuple(excluded),
        rules=rules,
        pairs=tuple(pairs),
        pair_devices=pair_devices,
        gate=gate_result,
        baseline=tuple(base),
        speedups=tuple(speedups(with_latency)),
        store=store,
        baseline_store=baseline_store,
    )


MEASUREMENT_FIELDS = tuple(f.name for f in fields(Measurement))


# ---------------------------------------------------------------------------------------------
# Reading the results store (bench/store.py)


SQLITE_MAGIC = b"SQLite format 3\x00"


def _check_store_file(path: Path) -> None:
    if not path.exists():
        raise StoreError(
            f"no results store at {path}; run a benchmark first (nox -s bench-host) "
            "or pass --store PATH"
        )
    if not path.is_file():
        raise StoreError(f"results store {path} is not a file; pass --store PATH to bench.sqlite")
    with path.open("rb") as handle:
        head = handle.read(len(SQLITE_MAGIC))
    if head and head != SQLITE_MAGIC:
        raise StoreError(
            f"{path} is not a results store (not an SQLite database); pass --store with the "
            "bench.sqlite a benchmark wrote"
        )


def _label(host: dict[str, Any]) -> str:
    for key in ("label", "commit", "git_commit", "git_sha"):
        value = host.get(key)
        if value:
            return str(value)
    return ""


def measurements_from_store(path: str | Path) -> list[Measurement]:
    """Every successful run in a results store as a Measurement (emulated runs included, with
    no samples: `has_latency` is False for them). Raises StoreError, one line, when the store
    is missing, not a store, or unreadable."""
    from bench.store import Store  # the store pulls in the runner schema: only when reading

    path = Path(path)
    _check_store_file(path)
    found = []
    try:
        with Store.open(path) as store:
            names: dict[str, str] = {}
            for run in store.runs(status="ok"):
                if run.device_id not in names:
                    record = store.device(run.device_id)
                    names[run.device_id] = (
                        (record.name or record.model or run.device_id) if record else run.device_id
                    )
                shape = run.input_shape
                samples = () if run.provenance == "emulated" else tuple(store.samples(run.id))
                found.append(
                    Measurement(
                        device=names[run.device_id],
                        device_id=run.device_id,
                        provenance=run.provenance,
                        model=run.model,
                        recipe=run.recipe,
                        precision=run.precision or "",
                        resolution=int(run.resolution or (shape[-1] if shape else 0)),
                        weights=run.weights_source or "",
                        threads=int(run.threads or 0),
                        runner=run.runner_name,
                        runner_version=run.runner_version or "",
                        cpu_mask=run.core_mask or "",
                        samples_ms=samples,
                        madds_m=run.madds / 1e6 if run.madds else None,
                        started_at=run.started_at,
                        label=_label(run.host or {}),
                        run_id=run.id,
                        artifact_sha256=run.artifact_sha256,
                        source=str(path),
                    )
                )
    except sqlite3.Error as exc:
        raise StoreError(
            f"results store {path} is unreadable ({exc}); restore it from its .bak copy or "
            "re-run the benchmark into a new --store"
        ) from None
    return found
