"""What `python -m bench profile` shows, read from the store: one profile with its timed median
and the device's peak, as rows with GMAC/s and % of peak; and two devices side by side.

Plain data (no printing): the terminal tables (`bench.profile.cli`) and the HTML section
(`bench.profile.html`) both read it.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bench import stats
from bench.profile.layers import OVERHEAD
from bench.store import DeviceRecord, LayerRecord, PeakRecord, ProfileRecord, Store

LAYER_OPS = ("conv", "dwconv", "linear")


@dataclass
class ProfileView:
    """One stored profile with what gives its rows meaning."""

    profile: ProfileRecord
    device: DeviceRecord | None
    model: str
    recipe: str
    precision: str
    madds: int | None  # the artifact's (manifest)
    timed_median_ms: float | None  # the timed session's median of round medians
    timed_rounds: int
    peak: PeakRecord | None
    machine: dict[str, Any] = field(default_factory=dict)  # of the timed session's first run

    @property
    def device_label(self) -> str:
        d = self.device
        name = (d.name or d.model or d.id) if d else self.profile.device_id
        return f"{name} ({self.profile.provenance})"

    @property
    def layers(self) -> list[LayerRecord]:
        return [r for r in self.profile.layers if r.op in LAYER_OPS]

    @property
    def others(self) -> list[LayerRecord]:
        return [r for r in self.profile.layers if r.op not in LAYER_OPS and r.op != OVERHEAD]

    @property
    def overhead(self) -> list[LayerRecord]:
        return [r for r in self.profile.layers if r.op == OVERHEAD]

    @property
    def ops_ms(self) -> float:
        """The operators' times summed: what the layer table adds up to."""
        return sum(r.time_ms for r in self.profile.layers if r.op != OVERHEAD)

    @property
    def total_ms(self) -> float:
        return sum(r.time_ms for r in self.profile.layers)

    def gmacs(self, layer: LayerRecord) -> float | None:
        if not layer.madds or layer.time_ms <= 0:
            return None
        return layer.madds / layer.time_ms / 1e6

    def of_peak(self, layer: LayerRecord) -> float | None:
        rate = self.gmacs(layer)
        if rate is None or self.peak is None or self.peak.gmacs <= 0:
            return None
        return rate / self.peak.gmacs

    @property
    def cpu(self) -> str:
        """The CPU model and its int8 dot-product features, when the device told us."""
        m = self.machine
        model = m.get("cpu_model") or (self.device.soc if self.device else "") or ""
        dot = m.get("int8_dot")
        if isinstance(dot, list):
            model += f"; int8 dot product: {', '.join(dot) if dot else 'none'}"
        return model


def _timed(store: Store, profile: ProfileRecord) -> tuple[float | None, int, dict[str, Any]]:
    runs = [
        r
        for r in store.runs(
            device_id=profile.device_id, artifact_sha256=profile.artifact_sha256, status="ok"
        )
        if profile.session_id and r.session_id == profile.session_id
    ]
    rounds = [s for r in runs if (s := store.samples(r.id))]
    if not rounds:
        return None, 0, {}
    return stats.round_estimate(rounds).median, len(rounds), dict(runs[0].machine)


def _artifact(store: Store, sha: str) -> tuple[str, str, str, int | None]:
    """(model, recipe, precision, MAdds) of an artifact, from its stored runs."""
    runs = store.runs(artifact_sha256=sha)
    if not runs:
        return sha[:12], "", "", None
    run = runs[0]
    return run.model, run.recipe, run.precision or "", run.madds


def matches(device: DeviceRecord | None, device_id: str, wanted: str) -> bool:
    """Does `wanted` name this device (its id, or a part of its name or model)?"""
    w = wanted.lower()
    if device_id.lower() == w:
        return True
    names = [device_id, *(d for d in ((device.name, device.model) if device else ()) if d)]
    return any(w in n.lower() for n in names)


def latest_views(
    store: Store,
    *,
    models: Sequence[str] = (),
    recipes: Sequence[str] = (),
    devices: Sequence[str] = (),
) -> list[ProfileView]:
    """The newest profile of each (device, artifact), filtered; oldest device first."""
    newest: dict[tuple[str, str], ProfileRecord] = {}
    for profile in store.profiles():
        newest[(profile.device_id, profile.artifact_sha256)] = profile
    views = []
    for profile in newest.values():
        model, recipe, precision, madds = _artifact(store, profile.artifact_sha256)
        device = store.device(profile.device_id)
        if models and model not in models:
            continue
        if recipes and recipe not in recipes:
            continue
        if devices and not any(matches(device, profile.device_id, d) for d in devices):
            continue
        peaks = store.peaks(device_id=profile.device_id, precision=precision)
        median, rounds, machine = _timed(store, profile)
        views.append(
            ProfileView(
                profile,
                device,
                model,
                recipe,
                precision,
                madds,
                median,
                rounds,
                peaks[-1] if peaks else None,
                machine,
            )
        )
    return views


@dataclass(frozen=True)
class SideBySide:
    """One layer on two devices: times, and how much slower it got beyond the whole model."""

    layer: LayerRecord
    time_a_ms: float
    time_b_ms: float
    relative: float | None  # (b/a of this layer) / (b/a of all operators); > 1: got slower


def side_by_side(a: ProfileView, b: ProfileView) -> list[SideBySide]:
    """The layers of one program profiled on two devices, paired by position (same sha256)."""
    if a.profile.artifact_sha256 != b.profile.artifact_sha256:
        raise ValueError("side by side needs profiles of the same artifact")
    overall = b.ops_ms / a.ops_ms if a.ops_ms else None
    out = []
    for la, lb in zip(a.profile.layers, b.profile.layers, strict=False):
        if la.op == OVERHEAD:
            continue
        rel = None
        if overall and la.time_ms > 0 and lb.time_ms > 0:
            rel = (lb.time_ms / la.time_ms) / overall
        out.append(SideBySide(la, la.time_ms, lb.time_ms, rel))
    return out


def by_kind(rows: Sequence[LayerRecord]) -> list[tuple[str, int, float]]:
    """(op, count, ms) of the non-layer operators, slowest kind first."""
    kinds: dict[str, list[float]] = {}
    for row in rows:
        kinds.setdefault(row.op, []).append(row.time_ms)
    return sorted(((k, len(v), sum(v)) for k, v in kinds.items()), key=lambda t: -t[2])


def median_or_none(values: Sequence[float]) -> float | None:
    return float(statistics.median(values)) if values else None
