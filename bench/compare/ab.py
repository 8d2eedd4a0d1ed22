"""Same-session A/B, the recommended way to judge a change: the rounds of OLD and NEW are
interleaved in one session (so drift and neighbours hit both alike), and NEW/OLD is decided on
their round medians by the gate's rule (`decisions.decide`: the CI of the ratio against the
threshold band). No machine-state guard is needed: both sides ran in the same minutes.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from bench.compare.decisions import DEFAULT_THRESHOLD, Decision, decide


def ab_decision(
    old_rounds_ms: Sequence[Sequence[float]],
    new_rounds_ms: Sequence[Sequence[float]],
    threshold: float = DEFAULT_THRESHOLD,
) -> Decision:
    """NEW against OLD from each side's per-round samples."""
    old = [statistics.median(r) for r in old_rounds_ms if r]
    new = [statistics.median(r) for r in new_rounds_ms if r]
    return decide(old, new, threshold, slower="slower")


def ab_line(old: str, new: str, found: Decision) -> str:
    """One line: the ratio with its CI and the verdict."""
    ratio = found.ratio
    if ratio is None:
        return f"A/B {new} / {old}: {found.verdict} ({found.reason})"
    ci = f" [{ratio.low:.3f}, {ratio.high:.3f}]" if ratio.has_ci else ""
    rounds = f"{ratio.n_a} and {ratio.n_b} rounds"
    return (
        f"A/B {new} / {old} = {ratio.ratio:.3f}{ci} ({rounds}): {found.verdict.upper()} - "
        f"{found.reason}"
    )
