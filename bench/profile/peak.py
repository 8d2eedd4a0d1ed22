"""A core's measured peak MAC rate, per precision: the peak probe (`deploy.export.probe`, a stack
of large 1x1 convolutions lowered like the real recipes) timed on a target with the same runner,
settings and rounds as the models, stored as a PeakRecord with the device's facts.

    probes = ensure_probes(Path("artifacts/probes"))
    peak = measure_peak(target, probes["int8"], config, rounds=5)   # after target.open()

The figure is the probe's MAdds over the median of its round medians: GMAC/s = MAdds / ms / 1e6.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.errors import BenchError
from bench.runner.run import RunnerConfig
from bench.store import ArtifactRecord, PeakRecord
from bench.targets.base import Artifact, Target
from deploy.export.probe import ProbeShape

DEFAULT_PROBES = Path("artifacts") / "probes"


def ensure_probes(folder: Path, shape: ProbeShape | None = None) -> dict[str, Artifact]:
    """precision -> the probe to measure (exported into `folder` the first time; needs torch)."""
    from deploy.export.probe import export_probes

    try:
        probes = export_probes(Path(folder), shape)
    except OSError as exc:
        raise BenchError(
            f"cannot write the peak probes to {folder}: {exc.strerror}; pass a writable "
            "--probes folder"
        ) from None
    return {
        p.precision: Artifact(
            ArtifactRecord(
                p.sha256,
                p.name,
                p.recipe,
                precision=p.precision,
                backend="xnnpack",
                format=".pte",
                input_shape=tuple(p.input_shape),
                madds=p.madds,
                file=p.file,
            ),
            Path(folder) / p.file,
        )
        for p in probes
    }


def gmacs(madds: int, median_ms: float) -> float:
    """MAdds per millisecond -> GMAC/s."""
    return madds / median_ms / 1e6 if median_ms > 0 else 0.0


def measure_peak(
    target: Target,
    probe: Artifact,
    config: RunnerConfig,
    *,
    device_id: str,
    rounds: int = 5,
    say: Callable[[str], None] = lambda _m: None,
) -> PeakRecord:
    """Time `probe` in `rounds` fresh runner processes on the opened `target`."""
    madds = probe.record.madds or 0
    variant = target.variants(config)[0]
    medians: list[float] = []
    machine: dict[str, Any] = {}
    counting = getattr(target, "count_instructions", None)
    if counting:  # the probe is timed only: no valgrind run for it
        target.count_instructions = False  # type: ignore[attr-defined]
    try:
        for index in range(rounds):
            label = f"peak probe {probe.record.precision} round {index + 1}/{rounds}"
            measured = target.measure(probe, variant, label)
            if measured.result.artifact_sha256 != probe.record.sha256:
                raise BenchError(f"{label}: the runner read another file than the probe")
            median = float(statistics.median(measured.result.samples_ms))
            medians.append(median)
            machine = measured.machine
            say(f"{label}: median {median:.3f} ms = {gmacs(madds, median):.1f} GMAC/s")
    finally:
        if counting:
            target.count_instructions = counting  # type: ignore[attr-defined]
    median_ms = float(statistics.median(medians))
    keep = ("cpu_model", "int8_dot", "machine", "core", "freq_mhz", "loadavg", "biggest_core")
    return PeakRecord(
        device_id=device_id,
        precision=probe.record.precision,
        gmacs=gmacs(madds, median_ms),
        madds=madds,
        median_ms=median_ms,
        provenance=target.provenance,
        probe_sha256=probe.record.sha256,
        detail={
            "probe": probe.record.model,
            "recipe": probe.record.recipe,
            "round_medians_ms": medians,
            "round_gmacs": [gmacs(madds, m) for m in medians],
            "config": config.key(),
            "threads": variant.config.threads,
            "mask": variant.mask,
            "machine": {k: machine[k] for k in keep if k in machine},
        },
    )
