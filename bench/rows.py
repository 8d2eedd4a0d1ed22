"""What a measuring session returns: one `Outcome` per target, one `Row` per (target, artifact,
variant). Plain data, so the tables (`bench.report.sessions`) read it without importing the
session loop, the runner or any device.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from bench import stats
from bench.store import DeviceRecord
from deploy.models import paper


@dataclass
class Row:
    """One (target, artifact, variant) of a session, as the tables print it."""

    target: str
    device: str
    provenance: str
    model: str
    recipe: str
    precision: str
    threads: int
    mask: str
    status: str  # ok | failed | skipped (measured in an earlier session) | pending
    run_id: int | None = None
    summary: stats.Summary | None = None
    load_ms: float | None = None
    first_ms: float | None = None
    error: str = ""
    notes: list[str] = field(default_factory=list)
    functional: str = ""  # emulated runs: how the output compared with the host's
    not_stored: str = ""  # the store stayed locked: why, where the run is kept, the fix
    session_id: str = ""
    rounds_ms: list[list[float]] = field(default_factory=list)  # every ok round's samples
    rounds_failed: int = 0
    run_ids: list[int] = field(default_factory=list)

    def add_round(self, samples_ms: Sequence[float]) -> None:
        """An ok round: its samples join the row. `estimate` is the headline (median of round
        medians, CI from the rounds); `summary` pools the iterations, for the spread and the
        stability warnings only ("within one process")."""
        self.rounds_ms.append(list(samples_ms))
        pooled = [v for r in self.rounds_ms for v in r]
        self.summary = stats.summarize(pooled) if pooled else None

    @property
    def estimate(self) -> stats.RoundEstimate | None:
        rounds = [r for r in self.rounds_ms if r]
        return stats.round_estimate(rounds) if rounds else None

    @property
    def paper_ms(self) -> dict[str, float]:
        try:
            found = paper.latencies(self.model, self.precision)
        except (KeyError, ValueError):
            return {}
        return {device: lat.latency_ms for device, lat in found.items()}

    @property
    def reference(self) -> paper.PaperLatency | None:
        from bench.compare import paper_reference

        try:
            return paper_reference(self.model, self.precision, self.device)
        except (KeyError, ValueError):
            return None

    @property
    def ratio(self) -> float | None:
        ref = self.reference
        estimate = self.estimate
        if ref is None or estimate is None:
            return None
        return estimate.median / ref.latency_ms


@dataclass
class Outcome:
    """What a session did on one target."""

    target: str
    name: str = ""
    provenance: str = ""
    device: DeviceRecord | None = None
    rows: list[Row] = field(default_factory=list)
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    interrupted: bool = False
    not_stored: list[str] = field(default_factory=list)  # runs a locked store did not take

    @property
    def failed(self) -> bool:
        return (
            self.error is not None
            or bool(self.not_stored)
            or any(r.status == "failed" or r.rounds_failed for r in self.rows)
        )
