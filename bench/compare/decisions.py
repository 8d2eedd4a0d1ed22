"""Everything that decides: comparability, the round-level rule, the machine-state guard, two
devices, the gate, int8 speedups, and which of the papers' figures a run is held against.

Rules (also printed by every report, `Rules.describe`):

- **Comparable**: two sessions are compared only when model, recipe, precision, input
  resolution, weights, thread count, runner name and runner version agree; on the same device
  id the CPU mask must agree too (different phones have different big-core masks by design).
  Otherwise the pair is reported as *not comparable* with every differing field
  (`differences`), never compared. Provenance may differ between two devices (a phone against
  this host is a fair question), but every label carries it. The gate only ever pairs runs of
  one provenance.
- **Rounds, not iterations**: the unit of replication is the round (one runner process).
  Iterations inside one process drift together, so no test is ever made on them. Each side's
  headline is `stats.HEADLINE` (the median of its round medians); the ratio B / A of the
  headlines carries a 95% CI from the rounds (`stats.ratio_ci`: a seeded bootstrap over the
  rounds, each side resampled independently, widened to the exact rank interval of the log
  round medians, Hodges-Lehmann / Mann-Whitney, where one exists: from 4 rounds a side).
- **Verdict** (`decide`), with t the threshold (default DEFAULT_THRESHOLD, 5%):
  *regression* (the gate's word; *slower* between two devices) when the CI lies wholly above
  1 + t; *faster* when it lies wholly below 1 - t; *same* when it lies within [1 - t, 1 + t];
  else *inconclusive*, with the rounds a side that would decide it (`rounds_needed`: the CI's
  two halves scaled by sqrt((2 / N) / (1 / n_a + 1 / n_b)), i.e. sqrt(n / N) for n rounds a
  side, around the same ratio). Fewer than MIN_ROUNDS (3) rounds on a side: *inconclusive*
  ("too few rounds: 1 and 5; measure --rounds 5").
- **Machine-state guard** (`machine_differences`): the sides' medians over their rounds of the
  load per CPU (the 1-minute load average, mean of the round's start and end, over the online
  CPUs), the hypervisor's steal and the measured core's run-queue wait (share of the round)
  are compared; beyond LOAD_DIFF_PER_CPU (0.5), STEAL_DIFF_PCT (2 points) or CORE_WAIT_DIFF
  (2% of the round), and on one device also a different governor, a frequency differing by
  more than FREQ_DIFF (10%) or a temperature before the rounds differing by more than
  THERMAL_DIFF_C (10 C), the verdict is *inconclusive: machine state differs (load 3.1 vs
  0.4 ...)*, never a regression. A fact recorded on one side only is not compared. A round
  measured under heavy load (HEAVY_LOAD_PER_CPU, 1.0 per CPU), steal (HEAVY_STEAL_PCT, 5%),
  run-queue wait (HEAVY_CORE_WAIT, 5% of the round), with another runnable task seen on the
  measured core, a dropped frequency cap or an unfinished cooldown is flagged (`round_flags`).
- **Instructions** (`Rules.metric == "instructions"`, the gate only): when both sides carry
  the store metric `instructions_per_inference`, the gate decides on it instead: instruction
  counts are deterministic, so the ratio of the sides' medians over their rounds is compared
  with the threshold (default DEFAULT_INSTRUCTIONS_THRESHOLD, 0.5%) with no CI and no
  machine-state guard: *regression* above 1 + t, *faster* below 1 - t, else *same*. A side
  whose counts vary across its rounds by more than t is not deterministic: *inconclusive*.
  A pair without the metric on both sides is decided on latency (the reason says so).
- **Gate**: regressions fail it (exit 1); nothing else does. Pairs that are not comparable are
  listed and do not fail it unless `strict` is set; a model present on one side only is
  listed as new / missing and never fails it.
- **int8 speedup**: headline(fp32) / headline(int8) of the latest sessions of one device and
  model that agree on everything but the precision, with the same bootstrap CI.
- **Against the papers**: a run is held against the published figure on the same Pixel when
  the device is one the papers measured, else against the first Pixel (1, 2, 3) with a figure.
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bench.compare.measurements import (
    INSTRUCTIONS,
    Measurement,
    RoundState,
    device_label,
    latest,
    model_sort_key,
)
from bench.errors import CompareError
from deploy.models import paper

if TYPE_CHECKING:
    from bench.stats import RatioCI

DEFAULT_THRESHOLD = 0.05
DEFAULT_INSTRUCTIONS_THRESHOLD = 0.005
METRICS = ("latency", "instructions")
# Below this many rounds a side no verdict is given; the advice is RECOMMENDED_ROUNDS or more.
MIN_ROUNDS = 3
RECOMMENDED_ROUNDS = 5
# rounds_needed gives up beyond this many rounds a side (the ratio sits on a boundary).
MAX_ROUNDS_NEEDED = 200
CONFIDENCE = 0.95

# The machine-state guard: bounds on the difference of the sides' medians over their rounds.
LOAD_DIFF_PER_CPU = 0.5  # 1-minute load average per online CPU
STEAL_DIFF_PCT = 2.0  # percentage points of CPU time stolen by the hypervisor
CORE_WAIT_DIFF = 0.02  # run-queue wait on the measured core, as a share of the round
FREQ_DIFF = 0.10  # relative, the measured core's frequency (one device only)
THERMAL_DIFF_C = 10.0  # a phone's hottest CPU zone before the rounds (one device only)
# A round measured beyond these is flagged.
HEAVY_LOAD_PER_CPU = 1.0
HEAVY_STEAL_PCT = 5.0
HEAVY_CORE_WAIT = 0.05

# Every verdict a pair can get.
VERDICTS = ("regression", "slower", "faster", "same", "inconclusive")


# ---------------------------------------------------------------------------------------------
# Comparability


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
    if not side.has_latency:
        return f"{side.device} run has no samples"
    return None


def comparability(a: Measurement, b: Measurement) -> str | None:
    """None when the two runs may be compared, else every reason they may not."""
    reasons = [reason for side in (a, b) if (reason := _unusable(side))]
    reasons += [difference.describe() for difference in differences(a, b)]
    return "; ".join(dict.fromkeys(reasons)) or None


# ---------------------------------------------------------------------------------------------
# The machine-state guard


def _median(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


@dataclass(frozen=True)
class SideState:
    """One side's machine over its rounds: medians of what its rounds recorded (None: not
    recorded), and the rounds flagged."""

    rounds: int
    load: float | None  # 1-minute load average
    load_per_cpu: float | None
    online_cpus: int | None
    steal_pct: float | None
    core_wait_share: float | None
    governors: tuple[str, ...]
    freq_mhz: float | None
    hottest_c: float | None
    flagged: tuple[str, ...]  # "round 3: steal 7.1%", one per flagged round

    def as_dict(self) -> dict[str, object]:
        return {
            "rounds": self.rounds,
            "load": self.load,
            "load_per_cpu": self.load_per_cpu,
            "online_cpus": self.online_cpus,
            "steal_pct": self.steal_pct,
            "core_wait_share": self.core_wait_share,
            "governors": list(self.governors),
            "freq_mhz": self.freq_mhz,
            "hottest_c": self.hottest_c,
            "flagged": list(self.flagged),
        }


def round_flags(state: RoundState) -> list[str]:
    """Why a round's figures deserve suspicion: heavy load, steal or run-queue wait, another
    runnable task on the measured core, throttling, an unfinished cooldown."""
    flags = []
    per_cpu = state.load_per_cpu
    if per_cpu is not None and per_cpu > HEAVY_LOAD_PER_CPU:
        cpus = f" on {state.online_cpus} CPUs" if state.online_cpus else ""
        flags.append(f"load {state.load:.1f}{cpus}")
    if state.steal_pct is not None and state.steal_pct > HEAVY_STEAL_PCT:
        flags.append(f"steal {state.steal_pct:.1f}%")
    if state.core_wait_share is not None and state.core_wait_share > HEAVY_CORE_WAIT:
        flags.append(f"run-queue wait {state.core_wait_share:.0%} of the round")
    if state.runnable_on_core:
        flags.append(f"{state.runnable_on_core} other runnable task(s) on the measured core")
    if state.cap_dropped:
        flags.append("frequency cap dropped (throttling)")
    if state.cooled is False:
        flags.append("cooldown not reached")
    return flags


def side_state(m: Measurement) -> SideState:
    rounds = m.timed_rounds
    states = [r.state for r in rounds]
    flagged = [
        f"round {r.index + 1}: {', '.join(flags)}"
        for r, state in zip(rounds, states, strict=True)
        if (flags := round_flags(state))
    ]
    cpus = [s.online_cpus for s in states if s.online_cpus]
    return SideState(
        rounds=len(rounds),
        load=_median([s.load for s in states]),
        load_per_cpu=_median([s.load_per_cpu for s in states]),
        online_cpus=int(statistics.median(cpus)) if cpus else None,
        steal_pct=_median([s.steal_pct for s in states]),
        core_wait_share=_median([s.core_wait_share for s in states]),
        governors=tuple(sorted({s.governor for s in states if s.governor})),
        freq_mhz=_median([s.freq_mhz for s in states]),
        hottest_c=_median([s.hottest_c for s in states]),
        flagged=tuple(flagged),
    )


def machine_differences(a: SideState, b: SideState, same_device: bool) -> list[str]:
    """How the two sides' machines differed beyond the guard's bounds (empty: they did not).
    Governor, frequency and temperature are only compared on one device."""
    found = []
    if a.load_per_cpu is not None and b.load_per_cpu is not None:
        if abs(a.load_per_cpu - b.load_per_cpu) > LOAD_DIFF_PER_CPU:
            found.append(
                f"load {a.load:.1f} vs {b.load:.1f} ({a.load_per_cpu:.2f} vs "
                f"{b.load_per_cpu:.2f} per CPU, bound {LOAD_DIFF_PER_CPU:g})"
            )
    if a.steal_pct is not None and b.steal_pct is not None:
        if abs(a.steal_pct - b.steal_pct) > STEAL_DIFF_PCT:
            found.append(
                f"steal {a.steal_pct:.1f}% vs {b.steal_pct:.1f}% (bound {STEAL_DIFF_PCT:g} points)"
            )
    if a.core_wait_share is not None and b.core_wait_share is not None:
        if abs(a.core_wait_share - b.core_wait_share) > CORE_WAIT_DIFF:
            found.append(
                f"run-queue wait on the core {a.core_wait_share:.1%} vs "
                f"{b.core_wait_share:.1%} of the round (bound {CORE_WAIT_DIFF:.0%})"
            )
    if not same_device:
        return found
    if a.governors and b.governors and a.governors != b.governors:
        found.append(f"governor {'/'.join(a.governors)} vs {'/'.join(b.governors)}")
    if a.freq_mhz and b.freq_mhz and abs(b.freq_mhz / a.freq_mhz - 1) > FREQ_DIFF:
        found.append(f"frequency {a.freq_mhz:.0f} vs {b.freq_mhz:.0f} MHz (bound {FREQ_DIFF:.0%})")
    if a.hottest_c is not None and b.hottest_c is not None:
        if abs(a.hottest_c - b.hottest_c) > THERMAL_DIFF_C:
            found.append(
                f"temperature before the rounds {a.hottest_c:.0f} vs {b.hottest_c:.0f} C "
                f"(bound {THERMAL_DIFF_C:g} C)"
            )
    return found


# ---------------------------------------------------------------------------------------------
# The rule on rounds


def rounds_needed(
    ratio: float, low: float, high: float, n_a: int, n_b: int, threshold: float
) -> int | None:
    """Rounds a side that would make an inconclusive CI decisive, were the ratio to stay: the
    CI's halves (ratio - low, high - ratio) scale by s = sqrt((2 / N) / (1 / n_a + 1 / n_b))
    (sqrt(n / N) with n rounds a side). None when more than MAX_ROUNDS_NEEDED would be (the
    ratio sits on a boundary of the band)."""
    down, up = max(ratio - low, 0.0), max(high - ratio, 0.0)
    upper, lower = 1.0 + threshold, 1.0 - threshold
    if ratio > upper:
        limits = [(ratio - upper) / down if down else math.inf]
    elif ratio < lower:
        limits = [(lower - ratio) / up if up else math.inf]
    else:
        limits = [
            (ratio - lower) / down if down else math.inf,
            (upper - ratio) / up if up else math.inf,
        ]
    scale = min(limits)
    if scale <= 0:
        return None
    if math.isinf(scale):
        return max(n_a, n_b)
    # (less a hair: 19.999999999999996 rounds is 20, not 21)
    needed = math.ceil(2.0 / (scale**2 * (1.0 / n_a + 1.0 / n_b)) - 1e-9)
    needed = max(needed, n_a, n_b, MIN_ROUNDS)
    return needed if needed <= MAX_ROUNDS_NEEDED else None


@dataclass(frozen=True)
class Ratio:
    """B / A as decided: the ratio of the sides' figures, and its CI when it has one."""

    metric: str  # "latency" (headlines, CI from the rounds) or "instructions" (no CI)
    ratio: float
    low: float | None
    high: float | None
    confidence: float | None
    n_a: int  # rounds
    n_b: int
    method: str

    @property
    def has_ci(self) -> bool:
        return self.low is not None and self.high is not None


@dataclass(frozen=True)
class Decision:
    """A verdict (VERDICTS) on B against A, why, and what it was made on."""

    verdict: str
    reason: str
    ratio: Ratio | None = None
    rounds_needed: int | None = None
    machine_differs: tuple[str, ...] = ()


def _pct(ratio: float, digits: int = 1) -> str:
    return f"{ratio - 1:+.{digits}%}"


def decide(
    a: Sequence[float],
    b: Sequence[float],
    threshold: float = DEFAULT_THRESHOLD,
    *,
    slower: str = "regression",
    machine_differs: Sequence[str] = (),
) -> Decision:
    """The rule on two sides' per-round values (round medians): see the module docstring.
    `slower` is the word for a CI wholly above 1 + threshold ("regression" in the gate,
    "slower" between two devices); `machine_differs` (from `machine_differences`) makes any
    verdict inconclusive."""
    n_a, n_b = len(a), len(b)
    point = None
    if n_a and n_b and statistics.median(a) > 0:
        point = Ratio(
            "latency", statistics.median(b) / statistics.median(a), None, None, None, n_a, n_b, ""
        )
    if min(n_a, n_b) < MIN_ROUNDS:
        advice = max(RECOMMENDED_ROUNDS, n_a, n_b)
        return Decision(
            "inconclusive",
            f"too few rounds: {n_a} and {n_b}; measure --rounds {advice}",
            point,
        )
    if min(*a, *b) <= 0:
        return Decision("inconclusive", "a round median is not a positive time", point)
    from bench import stats  # numpy and scipy: only when comparing

    found: RatioCI = stats.ratio_ci(a, b, CONFIDENCE)
    ratio = Ratio(
        "latency", found.ratio, found.low, found.high, found.confidence, n_a, n_b, found.method
    )
    ci = f"the {found.confidence:.0%} CI of the ratio, {found.low:.3f}-{found.high:.3f},"
    if machine_differs:
        return Decision(
            "inconclusive",
            f"machine state differs ({'; '.join(machine_differs)}); {ci} is not judged",
            ratio,
            machine_differs=tuple(machine_differs),
        )
    upper, lower = 1.0 + threshold, 1.0 - threshold
    if found.low > upper:
        return Decision(slower, f"{_pct(found.ratio)}: {ci} lies above {upper:g}", ratio)
    if found.high < lower:
        return Decision("faster", f"{_pct(found.ratio)}: {ci} lies below {lower:g}", ratio)
    if found.low >= lower and found.high <= upper:
        return Decision("same", f"{ci} lies within +-{threshold:.1%}", ratio)
    needed = rounds_needed(found.ratio, found.low, found.high, n_a, n_b, threshold)
    crossed = " and ".join(f"{edge:g}" for edge in (lower, upper) if found.low < edge < found.high)
    more = (
        f"about {needed} rounds a side would be needed"
        if needed is not None
        else f"more than {MAX_ROUNDS_NEEDED} rounds a side would be needed (the ratio sits on "
        "the threshold)"
    )
    return Decision(
        "inconclusive",
        f"{_pct(found.ratio)}: {ci} crosses {crossed}; {more}",
        ratio,
        needed,
    )


def decide_instructions(
    a: Sequence[float], b: Sequence[float], threshold: float = DEFAULT_INSTRUCTIONS_THRESHOLD
) -> Decision:
    """Instructions per inference: deterministic, so the ratio of the sides' medians over their
    rounds against the threshold, with no CI; a side whose counts vary across its rounds by
    more than the threshold is not deterministic here, and the verdict is inconclusive."""
    med_a, med_b = statistics.median(a), statistics.median(b)
    if min(med_a, med_b) <= 0:
        return Decision("inconclusive", "instruction counts are not positive")
    ratio = Ratio(
        "instructions",
        med_b / med_a,
        None,
        None,
        None,
        len(a),
        len(b),
        "ratio of the sides' medians over their rounds (deterministic: no CI)",
    )
    for name, values in (("baseline", a), ("candidate", b)):
        spread = max(values) / min(values) - 1 if min(values) > 0 else math.inf
        if spread > threshold:
            return Decision(
                "inconclusive",
                f"instruction counts vary by {spread:.2%} across the {name}'s rounds (more "
                f"than {threshold:.1%}): not deterministic here",
                ratio,
            )
    change = f"instructions per inference {_pct(ratio.ratio, 2)} (deterministic: no CI)"
    if ratio.ratio > 1 + threshold:
        return Decision("regression", f"{change} > +{threshold:.1%}", ratio)
    if ratio.ratio < 1 - threshold:
        return Decision("faster", f"{change} < -{threshold:.1%}", ratio)
    return Decision("same", f"{change} within +-{threshold:.1%}", ratio)


# ---------------------------------------------------------------------------------------------
# Two sessions, two devices, the gate


@dataclass(frozen=True)
class PairResult:
    """One (model, recipe) compared between A (reference / baseline) and B (candidate)."""

    model: str
    recipe: str
    a: Measurement | None
    b: Measurement | None
    status: str  # VERDICTS, or not comparable / missing / new
    reason: str = ""
    decision: Decision | None = None
    differences: tuple[Difference, ...] = ()  # when not comparable: the fields that differ
    machine_a: SideState | None = None
    machine_b: SideState | None = None

    @property
    def ratio(self) -> float | None:
        """B / A (headlines, or instructions when decided on them) whenever both sides have one."""
        found = self.decision.ratio if self.decision else None
        return found.ratio if found else None

    @property
    def ratio_ci(self) -> Ratio | None:
        """The ratio with its CI, only when it has one."""
        found = self.decision.ratio if self.decision else None
        return found if found is not None and found.has_ci else None

    @property
    def metric(self) -> str | None:
        found = self.decision.ratio if self.decision else None
        return found.metric if found else None

    @property
    def rounds_needed(self) -> int | None:
        return self.decision.rounds_needed if self.decision else None

    @property
    def device(self) -> str:
        side = self.b or self.a
        return side.device_label if side else ""


def _round_medians(m: Measurement) -> list[float]:
    return [r.median_ms for r in m.timed_rounds]


def compare_pair(
    a: Measurement | None,
    b: Measurement | None,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    gate: bool = False,
    metric: str = "latency",
    instructions_threshold: float = DEFAULT_INSTRUCTIONS_THRESHOLD,
) -> PairResult:
    """Decide B against A on their rounds. In the gate (`gate=True`) a CI wholly above
    1 + threshold is a 'regression', between two devices it is 'slower'; with
    metric="instructions", pairs whose both sides carry instructions_per_inference are
    decided on those instead."""
    if metric not in METRICS:
        raise CompareError(f"metric {metric!r} is not one of {', '.join(METRICS)}")
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
    state_a, state_b = side_state(a), side_state(b)
    prefix = ""
    if metric == "instructions":
        ia, ib = a.metric_values(INSTRUCTIONS), b.metric_values(INSTRUCTIONS)
        if ia and ib:
            found = decide_instructions(ia, ib, instructions_threshold)
            return PairResult(
                a.model, a.recipe, a, b, found.verdict, found.reason, found, (), state_a, state_b
            )
        missing = " and ".join(
            side for side, values in (("baseline", ia), ("candidate", ib)) if not values
        )
        prefix = f"no {INSTRUCTIONS} on the {missing}: decided on latency; "
    differs = machine_differences(state_a, state_b, a.device_id == b.device_id)
    found = decide(
        _round_medians(a),
        _round_medians(b),
        threshold,
        slower="regression" if gate else "slower",
        machine_differs=differs,
    )
    return PairResult(
        a.model,
        a.recipe,
        a,
        b,
        found.verdict,
        prefix + found.reason,
        found,
        (),
        state_a,
        state_b,
    )


def compare_devices(
    measurements: Sequence[Measurement],
    device_a: str,
    device_b: str,
    *,
    threshold: float = DEFAULT_THRESHOLD,
) -> list[PairResult]:
    """Every (model, recipe) of two devices: B against A (A is the reference), by the same
    rule as the gate (a CI wholly above 1 + threshold reads 'slower')."""
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
            results.append(compare_pair(a, b, threshold=threshold))
    return results


@dataclass(frozen=True)
class GateResult:
    threshold: float
    strict: bool
    entries: tuple[PairResult, ...]
    metric: str = "latency"
    instructions_threshold: float = DEFAULT_INSTRUCTIONS_THRESHOLD

    @property
    def regressions(self) -> list[PairResult]:
        return [e for e in self.entries if e.status == "regression"]

    @property
    def not_comparable(self) -> list[PairResult]:
        return [e for e in self.entries if e.status == "not comparable"]

    @property
    def inconclusive(self) -> list[PairResult]:
        return [e for e in self.entries if e.status == "inconclusive"]

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
            by = (
                f"instructions per inference above +{self.instructions_threshold:.1%} or "
                if self.metric == "instructions"
                else ""
            )
            why = (
                f": {len(self.regressions)} model(s) slower: {by}the 95% CI of the ratio "
                f"wholly above {1 + self.threshold:g}"
            )
        elif not self.passed:
            why = ": pairs not comparable (--strict)"
        return f"gate {verdict}{why} ({detail or 'nothing to compare'})"


def gate(
    candidates: Sequence[Measurement],
    baseline: Sequence[Measurement],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    strict: bool = False,
    metric: str = "latency",
    instructions_threshold: float = DEFAULT_INSTRUCTIONS_THRESHOLD,
) -> GateResult:
    """Candidates against the baseline, per (device, provenance, model, recipe): the latest
    session of each side, decided on rounds (`compare_pair` with gate=True)."""
    for name, value in (
        ("threshold", threshold),
        ("instructions threshold", instructions_threshold),
    ):
        if not 0 <= value < 10:
            raise CompareError(f"{name} {value} is not a fraction such as 0.05 (5%)")

    def keyed(runs: Sequence[Measurement]) -> dict[tuple[str, str, str, str], Measurement]:
        return {
            (m.device, m.provenance, m.model, m.recipe): m
            for m in latest(r for r in runs if r.has_latency)
        }

    new, old = keyed(candidates), keyed(baseline)
    keys = sorted(set(new) | set(old), key=lambda k: (k[0], k[1], k[3], model_sort_key(k[2])))
    entries = tuple(
        compare_pair(
            old.get(k),
            new.get(k),
            threshold=threshold,
            gate=True,
            metric=metric,
            instructions_threshold=instructions_threshold,
        )
        for k in keys
    )
    return GateResult(threshold, strict, entries, metric, instructions_threshold)


@dataclass(frozen=True)
class Rules:
    threshold: float = DEFAULT_THRESHOLD
    metric: str = "latency"  # what the gate decides on where it can (METRICS)
    instructions_threshold: float = DEFAULT_INSTRUCTIONS_THRESHOLD

    def describe(self) -> str:
        from bench.stats import HEADLINE

        t = self.threshold
        text = (
            f"per side: {HEADLINE} (a round is one runner process; iterations are never tested); "
            f"ratio B/A with a 95% CI from the rounds (seeded bootstrap, widened to the "
            f"Hodges-Lehmann rank interval); "
            f"regression (between devices: slower) when the CI lies wholly above {1 + t:g}, "
            f"faster when wholly below {1 - t:g}, same when within +-{t:.0%}, else inconclusive "
            f"with the rounds needed; fewer than {MIN_ROUNDS} rounds a side, or machine state "
            f"differing (load by > {LOAD_DIFF_PER_CPU:g} per CPU, steal by > "
            f"{STEAL_DIFF_PCT:g} points, run-queue wait by > {CORE_WAIT_DIFF:.0%} of the round; "
            f"on one device governor, frequency by > {FREQ_DIFF:.0%}, temperature by > "
            f"{THERMAL_DIFF_C:g} C): inconclusive; the gate fails on regressions only"
        )
        if self.metric == "instructions":
            text += (
                f"; gate metric: {INSTRUCTIONS} where both sides have it (deterministic: ratio of "
                f"medians, no CI, threshold {self.instructions_threshold:.1%})"
            )
        return (
            text
            + "; comparable = same "
            + ", ".join(title for _, title in COMPARABILITY_FIELDS)
            + " (and cpu mask on one device)"
        )


# ---------------------------------------------------------------------------------------------
# int8 speedups


@dataclass(frozen=True)
class Speedup:
    """int8 over fp32 on one device: headline(fp32) / headline(int8) (stats.HEADLINE)."""

    device: str
    provenance: str
    model: str
    fp32: Measurement
    int8: Measurement

    @property
    def speedup(self) -> float:
        return self.fp32.median_ms / self.int8.median_ms

    @property
    def ci(self) -> RatioCI | None:
        """The speedup's 95% CI from the rounds (bootstrap), from MIN_ROUNDS rounds a side."""
        fp32, int8 = _round_medians(self.fp32), _round_medians(self.int8)
        if min(len(fp32), len(int8)) < MIN_ROUNDS:
            return None
        from bench import stats

        return stats.ratio_ci(int8, fp32, CONFIDENCE)

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


def decide_ab(a: Measurement, b: Measurement, threshold: float = DEFAULT_THRESHOLD) -> Decision:
    """Two different programs measured on one device (A/B of a change, in two sessions): the
    gate's rule with the machine-state guard, without the comparability check of a baseline."""
    differs = machine_differences(side_state(a), side_state(b), a.device_id == b.device_id)
    return decide(
        _round_medians(a),
        _round_medians(b),
        threshold,
        slower="regression",
        machine_differs=differs,
    )
