"""The measurement model: what one stored run is for a comparison, and which runs are chosen.

`Measurement` is one run with its identity (device, model, recipe), its configuration (what
decides whether two runs may be compared) and its raw samples. `measurements_from_store` is
the one adapter between the results store (`bench.store`, read through its API) and this
model, so the rules in `bench.compare.decisions` do not depend on how the store lays out its
tables.

- **Which run a cell shows**: the latest run (by `started_at`, then run id) per device, model
  and recipe (`latest`). `emulated` runs (qemu) carry no meaningful time (`has_latency` is
  False) and never enter a latency table.
- **Labels**: a device's name carries its provenance when it is not a phone: host, simulator
  and emulated figures read "not a phone".
- **GMAC/s** = MAdds (millions) / median latency (ms): 1e6 MAC / 1e-3 s = 1e9 MAC/s.
- **Model order**: model names are read with `deploy.models.spec.parse_model_name`; families
  in paper order, then widest and largest first; names that do not parse come last.
"""

from __future__ import annotations

import math
import sqlite3
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.errors import CompareError, StoreError
from bench.store import PROVENANCES, Store
from deploy.errors import ModelNameError
from deploy.models.spec import FAMILIES, parse_model_name

# Figures from these are never presented as phone numbers.
NOT_A_PHONE = ("host", "simulator", "emulated")


@dataclass(frozen=True)
class Measurement:
    """One benchmark run as the comparison sees it: identity, configuration, raw samples."""

    device: str  # the device's display name ("Pixel 7", "host x86_64 ...")
    device_id: str  # serial / stable id: tells two units of one phone model apart
    provenance: str  # phone / board / host / simulator / emulated / peer
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
    device_kind: str = ""  # the store's device kind (phone / board / host / simulator / peer)

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


@dataclass(frozen=True)
class Spread:
    """The distribution of a run's samples: the median with its confidence interval, p10, p90."""

    n: int
    median_ms: float
    ci_low_ms: float
    ci_high_ms: float
    confidence: float
    p10_ms: float
    p90_ms: float


def spread(measurement: Measurement) -> Spread | None:
    """`bench.stats` on the run's raw samples (None without samples): the median's
    distribution-free confidence interval, and the 10th / 90th percentiles."""
    if not measurement.samples_ms:
        return None
    from bench import stats  # numpy and scipy: only when a report asks

    summary = stats.summarize(measurement.samples_ms)
    return Spread(
        n=measurement.n,
        median_ms=measurement.median_ms,
        ci_low_ms=summary.ci_low,
        ci_high_ms=summary.ci_high,
        confidence=summary.confidence,
        p10_ms=summary.p10,
        p90_ms=summary.p90,
    )


# ---------------------------------------------------------------------------------------------
# Which runs: order, latest, selection


def model_sort_key(model: str) -> tuple[int, str, float, int, str]:
    """Family in paper order, then widest and largest first; unreadable names last."""
    try:
        spec = parse_model_name(model)
    except ModelNameError:
        return (len(FAMILIES), model, 0.0, 0, model)
    return (FAMILIES.index(spec.family), spec.family, -spec.width, -spec.resolution, model)


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


def _label(machine: dict[str, Any]) -> str:
    for key in ("label", "commit", "git_commit", "git_sha"):
        value = machine.get(key)
        if value:
            return str(value)
    return ""


def measurements_from_store(path: str | Path) -> list[Measurement]:
    """Every successful run in a results store as a Measurement (emulated runs included, with
    no samples: `has_latency` is False for them). Raises StoreError, one line, when the store
    is missing, not a store, or unreadable."""
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
                        label=_label(run.machine or {}),
                        run_id=run.id,
                        artifact_sha256=run.artifact_sha256,
                        source=str(path),
                        device_kind=run.device_kind or "",
                    )
                )
    except sqlite3.Error as exc:
        raise StoreError(
            f"results store {path} is unreadable ({exc}); restore it from its .bak copy or "
            "re-run the benchmark into a new --store"
        ) from None
    return found
