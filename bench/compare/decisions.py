"""Everything that decides: comparability, significance, two devices, the gate, speedups, and
which of the papers' figures a run is held against.

Rules (also printed by every report, `Rules.describe`):

- **Comparable**: two runs are compared only when model, recipe, precision, input resolution,
  weights, thread count, runner name and runner version agree; on the same device id the CPU
  mask must agree too (different phones have different big-core masks by design). Otherwise
  the pair is reported as *not comparable* with every differing field (`differences`), never
  compared. Provenance may differ between two devices (a phone against this host is a fair
  question), but every label carries it. The gate only ever pairs runs of one provenance.
- **Significant**: a two-sided Mann-Whitney U test on the raw samples with p < ALPHA (0.01)
  AND a relative difference of medians of at least MIN_EFFECT (2%). Only then is a ratio given.
- **Gate**: a candidate regresses when it is significantly slower and its median is more than
  `threshold` (default 5%) above the baseline's. Regressions fail the gate (exit 1). Pairs that
  are not comparable are listed and do not fail it unless `strict` is set; a model present on
  one side only is listed as new / missing and never fails it.
- **int8 speedup**: median(fp32) / median(int8) of the latest runs of one device and model that
  agree on everything but the precision.
- **Against the papers**: a run is held against the published figure on the same Pixel when
  the device is one the papers measured, else against the first Pixel (1, 2, 3) with a figure.
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from bench.compare.measurements import Measurement, device_label, latest, model_sort_key
from bench.errors import CompareError
from deploy.models import paper

ALPHA = 0.01
MIN_EFFECT = 0.02
DEFAULT_THRESHOLD = 0.05
# Below this many samples per side a rank test at ALPHA cannot succeed: say so instead.
MIN_SAMPLES = 5


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


@dataclass(frozen=True)
class Difference:
    """One field on which two runs disagree, so that they may not be compared."""

    field: str  # the Measurement attribute ("runner_version")
    title: str  # what a report calls it ("runner version")
    a: str | int
    b: str | int

    def describe(self) -> str:
        return f"{self.title} {self.a} vs {self.b}"


def differences(a: Measurement, b: Measurement) -> list[Difference]:
    """Every configuration field on which the two runs disagree, in COMPARABILITY_FIELDS order
    (the CPU mask last, and only on one device id)."""
    found = [
        Difference(name, title, getattr(a, name), getattr(b, name))
        for name, title in COMPARABILITY_FIELDS
        if getattr(a, name) != getattr(b, name)
    ]
    if a.device_id == b.device_id and a.cpu_mask != b.cpu_mask:
        found.append(Difference("cpu_mask", "cpu mask", a.cpu_mask, b.cpu_mask))
    return found


def _unusable(side: Measurement) -> str | None:
    if side.provenance == "emulated":
        return f"{side.device} run is emulated (no meaningful time)"
    if not side.samples_ms:
        return f"{side.device} run has no samples"
    return None


def comparability(a: Measurement, b: Measurement) -> str | None:
    """None when the two runs may be compared, else every reason they may not."""
    reasons = [reason for side in (a, b) if (reason := _unusable(side))]
    reasons += [difference.describe() for difference in differences(a, b)]
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


# ---------------------------------------------------------------------------------------------
# Two runs, two devices, the gate


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
    differences: tuple[Difference, ...] = ()  # when not comparable: the fields that differ

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
        return PairResult(
            a.model, a.recipe, a, b, "not comparable", reason, differences=tuple(differences(a, b))
        )
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
    def passed(self) -> bool:
        return not self.regressions and not (self.strict and self.not_comparable)

    @property
    def result(self) -> str:
        """pass, regression, or not comparable (a strict gate with nothing slower)."""
        if self.passed:
            return "pass"
        return "regression" if self.regressions else "not comparable"

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


# ---------------------------------------------------------------------------------------------
# int8 speedups


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


# ---------------------------------------------------------------------------------------------
# Against the papers (their figures: deploy/models/paper.py)


PAPER_DEVICES = paper.DEVICES
_PIXEL = re.compile(r"^(?:google\s+)?pixel\s*([123])(?:\s*xl)?$", re.IGNORECASE)
# Source pairs whose fp32 and int8 figures come from one measurement campaign.
_SPEEDUP_SOURCES = {("v3-table3", "v3-table4"), ("tflite-hosted", "tflite-hosted")}


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


def paper_speedups(model: str) -> dict[str, float]:
    """The papers' int8 speedup per Pixel, where both figures come from one source table
    pair (V3 Table 3 / Table 4, or the TF-Lite hosted page)."""
    fp, q = paper.latencies(model, "fp32"), paper.latencies(model, "int8")
    return {
        device: fp[device].latency_ms / q[device].latency_ms
        for device in PAPER_DEVICES
        if device in fp
        and device in q
        and (fp[device].source, q[device].source) in _SPEEDUP_SOURCES
    }
