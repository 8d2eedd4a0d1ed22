"""The measurement model: what one stored session is for a comparison, and which are chosen.

`Measurement` is one measuring session of a (device, artifact, configuration): its identity
(device, model, recipe), its configuration (what decides whether two may be compared) and its
ROUNDS. A round is one runner process (one stored run); the rounds of a session share its
`session_id` in the store, and a run stored before rounds existed is a session of one round
("run-<id>"). Failed rounds are left out and counted (`rounds_failed`). Iterations inside one
process are not independent, so every figure that headlines or compares a measurement comes
from its rounds (`estimate`, `bench.stats.HEADLINE`); `Round.summary` is the per-iteration
view of one round ("within one process"). `measurements_from_store` is the one adapter between
the results store (`bench.store`, read through its API) and this model, so the rules in
`bench.compare.decisions` do not depend on how the store lays out its tables.

- **Which session a cell shows**: the latest (by `started_at`, then run id) per device, model
  and recipe (`latest`). `emulated` runs (qemu) carry no meaningful time (`has_latency` is
  False) and never enter a latency table.
- **Machine state per round** (`Round.state`, `RoundState`): read from the run's stored machine
  facts, every key optional (runs stored before a fact existed have none): the load average at
  the start and the end (`loadavg`, `loadavg_after`) over `online_cpus`, the hypervisor's steal
  (`steal_pct`), the time tasks waited on the measured core's run queue (`core_wait_ms`, as a
  share of the round), runnable tasks seen on the core (`runnable_on_core`), the governor, the
  frequency, a phone's temperature before the round and whether its frequency cap dropped.
- **Labels**: a device's name carries its provenance when it is not a phone: host, simulator
  and emulated figures read "not a phone".
- **GMAC/s** = MAdds (millions) / latency (ms): 1e6 MAC / 1e-3 s = 1e9 MAC/s.
- **Model order**: model names are read with `deploy.models.spec.parse_model_name`; families
  in paper order, then widest and largest first; names that do not parse come last.
"""

from __future__ import annotations

import datetime as dt
import math
import sqlite3
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.errors import CompareError, StoreError
from bench.store import PROVENANCES, Store
from deploy.errors import ModelNameError
from deploy.models.spec import FAMILIES, parse_model_name

if TYPE_CHECKING:
    from bench.stats import RoundEstimate, Summary

# Figures from these are never presented as phone numbers.
NOT_A_PHONE = ("host", "simulator", "emulated")
# The store's metric of instructions retired per inference (deterministic: `--metric`).
INSTRUCTIONS = "instructions_per_inference"


def _number(value: Any) -> float | None:
    """A finite float, or None (missing, text, NaN, a bool)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _first(value: Any) -> float | None:
    """The 1-minute figure of a load average ([1, 5, 15]), or a bare number."""
    if isinstance(value, list | tuple):
        return _number(value[0]) if value else None
    return _number(value)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _time(text: str) -> dt.datetime | None:
    try:
        stamp = dt.datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.UTC)


@dataclass(frozen=True)
class RoundState:
    """The machine around one round, as far as it was recorded (None: not recorded)."""

    load: float | None = None  # 1-minute load average: mean of the round's start and end
    online_cpus: int | None = None
    steal_pct: float | None = None  # % of all CPU time the hypervisor took during the round
    core_wait_ms: float | None = None  # run-queue wait on the measured core during the round
    core_wait_share: float | None = None  # core_wait_ms over the round's duration
    runnable_on_core: int | None = None  # other runnable tasks seen on the core (max of reads)
    governor: str | None = None
    freq_mhz: float | None = None  # the measured core's frequency at the start
    hottest_c: float | None = None  # a phone's hottest CPU zone before the round
    cap_dropped: bool = False  # a phone's frequency cap fell during the round (throttling)
    cooled: bool | None = None  # a phone's cooldown reached its threshold before the round

    @property
    def load_per_cpu(self) -> float | None:
        if self.load is None:
            return None
        return self.load / (self.online_cpus or 1)


def round_state(machine: Mapping[str, Any], duration_ms: float | None = None) -> RoundState:
    """Normalise a round's stored machine facts (host, board, peer or phone); missing or
    malformed keys give None, never an error."""
    loads = (_first(machine.get("loadavg")), _first(machine.get("loadavg_after")))
    known = [v for v in loads if v is not None]
    cpus = _number(machine.get("online_cpus"))
    wait = _number(machine.get("core_wait_ms"))
    runnable = machine.get("runnable_on_core")
    runnable_values = runnable if isinstance(runnable, list | tuple) else [runnable]
    counts = [int(v) for v in map(_number, runnable_values) if v is not None]
    before = _mapping(machine.get("before"))
    after = _mapping(machine.get("after"))
    hottest = _number(before.get("hottest_cpu_c", before.get("hottest_c")))
    freq = _number(machine.get("freq_mhz"))
    cur_khz = _number(before.get("cur_khz"))
    if freq is None and cur_khz is not None:
        freq = cur_khz / 1000.0
    cap_before, cap_after = _number(before.get("cap_khz")), _number(after.get("cap_khz"))
    reached = _mapping(machine.get("cooldown")).get("reached")
    governor = machine.get("governor")
    return RoundState(
        load=sum(known) / len(known) if known else None,
        online_cpus=int(cpus) if cpus is not None and cpus >= 1 else None,
        steal_pct=_number(machine.get("steal_pct")),
        core_wait_ms=wait,
        core_wait_share=(
            wait / duration_ms if wait is not None and duration_ms and duration_ms > 0 else None
        ),
        runnable_on_core=max(counts) if counts else None,
        governor=governor.strip() if isinstance(governor, str) and governor.strip() else None,
        freq_mhz=freq,
        hottest_c=hottest,
        cap_dropped=bool(cap_before and cap_after and cap_after < cap_before),
        cooled=reached if isinstance(reached, bool) else None,
    )


@dataclass(frozen=True)
class Round:
    """One runner process: its measured samples, machine facts and deterministic metrics."""

    samples_ms: tuple[float, ...]
    index: int = 0  # the round's number in its session
    run_id: int | None = None
    started_at: str = ""
    ended_at: str = ""
    machine: Mapping[str, Any] = field(default_factory=dict, hash=False)
    metrics: Mapping[str, float] = field(default_factory=dict, hash=False)  # name -> value

    @property
    def median_ms(self) -> float:
        return statistics.median(self.samples_ms) if self.samples_ms else math.nan

    @property
    def duration_ms(self) -> float | None:
        """Wall time of the round (start to end as stored), else the sum of its samples."""
        start, end = _time(self.started_at), _time(self.ended_at)
        if start is not None and end is not None and end > start:
            return (end - start).total_seconds() * 1000.0
        return float(sum(self.samples_ms)) if self.samples_ms else None

    @property
    def state(self) -> RoundState:
        return round_state(self.machine, self.duration_ms)

    def summary(self) -> Summary | None:
        """Per-iteration statistics of this round: "within one process" (stats.WITHIN_PROCESS)."""
        if not self.samples_ms:
            return None
        from bench import stats  # numpy and scipy: only when a report asks

        return stats.summarize(self.samples_ms)


@dataclass(frozen=True)
class Measurement:
    """One measuring session as the comparison sees it: identity, configuration, rounds."""

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
    rounds: tuple[Round, ...]  # the session's ok rounds, in round order
    madds_m: float | None = None
    started_at: str = ""  # ISO 8601 of the session's first round, sorts chronologically
    label: str = ""  # commit or user label
    run_id: int | None = None  # the session's latest round
    artifact_sha256: str = ""
    source: str = ""  # where it was read from (store path)
    device_kind: str = ""  # the store's device kind (phone / board / host / simulator / peer)
    session_id: str = ""
    rounds_failed: int = 0  # failed rounds of the session, left out

    def __post_init__(self) -> None:
        if self.provenance not in PROVENANCES:
            raise CompareError(
                f"run of {self.model} on {self.device}: unknown provenance {self.provenance!r} "
                f"(expected one of {', '.join(PROVENANCES)})"
            )

    @property
    def timed_rounds(self) -> tuple[Round, ...]:
        """The rounds with samples (none for an emulated session)."""
        if self.provenance == "emulated":
            return ()
        return tuple(r for r in self.rounds if r.samples_ms)

    @property
    def samples_ms(self) -> tuple[float, ...]:
        """Every round's samples in order: for counting, never for a statistic (iterations of
        different processes do not pool: use `estimate`)."""
        return tuple(v for r in self.rounds for v in r.samples_ms)

    @property
    def n(self) -> int:
        """Samples in all rounds."""
        return sum(len(r.samples_ms) for r in self.rounds)

    @property
    def n_rounds(self) -> int:
        """Rounds with samples: the unit of replication."""
        return len(self.timed_rounds)

    @cached_property
    def estimate(self) -> RoundEstimate | None:
        """The headline (stats.HEADLINE) with its CI from the rounds; None without samples."""
        rounds = self.timed_rounds
        if not rounds:
            return None
        from bench import stats  # numpy and scipy: only when a report asks

        return stats.round_estimate([r.samples_ms for r in rounds])

    @property
    def median_ms(self) -> float:
        """The headline: the median of the round medians (stats.HEADLINE)."""
        rounds = self.timed_rounds
        if not rounds:
            return math.nan
        return statistics.median(r.median_ms for r in rounds)

    @property
    def has_latency(self) -> bool:
        return bool(self.timed_rounds)

    def metric_values(self, name: str) -> list[float]:
        """The metric of every round that has it (a deterministic figure, e.g. INSTRUCTIONS)."""
        return [float(r.metrics[name]) for r in self.rounds if name in r.metrics]

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
# Which runs: order, latest, selection


def model_sort_key(model: str) -> tuple[int, str, float, int, str]:
    """Family in paper order, then widest and largest first; unreadable names last."""
    try:
        spec = parse_model_name(model)
    except ModelNameError:
        return (len(FAMILIES), model, 0.0, 0, model)
    return (FAMILIES.index(spec.family), spec.family, -spec.width, -spec.resolution, model)


def latest(measurements: Iterable[Measurement]) -> list[Measurement]:
    """The latest session per (device, device id, provenance, model, recipe)."""
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
    """Every measuring session in a results store as a Measurement: its runs grouped by
    (device, artifact, configuration, session id), the ok ones as its rounds in round order, the
    failed ones counted; a run stored before rounds existed is a session of one round. Emulated
    sessions are included, with no samples (`has_latency` is False for them); a session with
    no ok round is left out. Raises StoreError, one line, when the store is missing, not a
    store, or unreadable."""
    path = Path(path)
    _check_store_file(path)
    found = []
    try:
        with Store.open(path) as store:
            names: dict[str, str] = {}
            sessions: dict[tuple[str, str, str, str], list[Any]] = {}
            for run in store.runs():
                key = (run.device_id, run.artifact_sha256, run.config_key, run.session_id)
                sessions.setdefault(key, []).append(run)
            for runs in sessions.values():
                ok = sorted((r for r in runs if r.status == "ok"), key=lambda r: (r.round, r.id))
                if not ok:
                    continue
                first = ok[0]
                if first.device_id not in names:
                    record = store.device(first.device_id)
                    names[first.device_id] = (
                        (record.name or record.model or first.device_id)
                        if record
                        else first.device_id
                    )
                rounds = tuple(
                    Round(
                        samples_ms=()
                        if run.provenance == "emulated"
                        else tuple(store.samples(run.id)),
                        index=run.round,
                        run_id=run.id,
                        started_at=run.started_at,
                        ended_at=run.ended_at or "",
                        machine=run.machine or {},
                        metrics={name: v for name, (v, _) in store.metrics(run.id).items()},
                    )
                    for run in ok
                )
                shape = first.input_shape
                found.append(
                    Measurement(
                        device=names[first.device_id],
                        device_id=first.device_id,
                        provenance=first.provenance,
                        model=first.model,
                        recipe=first.recipe,
                        precision=first.precision or "",
                        resolution=int(first.resolution or (shape[-1] if shape else 0)),
                        weights=first.weights_source or "",
                        threads=int(first.threads or 0),
                        runner=first.runner_name,
                        runner_version=first.runner_version or "",
                        cpu_mask=first.core_mask or "",
                        rounds=rounds,
                        madds_m=first.madds / 1e6 if first.madds else None,
                        started_at=min(r.started_at for r in ok),
                        label=_label(first.machine or {}),
                        run_id=max(r.id for r in ok),
                        artifact_sha256=first.artifact_sha256,
                        source=str(path),
                        device_kind=first.device_kind or "",
                        session_id=first.session_id,
                        rounds_failed=len(runs) - len(ok),
                    )
                )
    except sqlite3.Error as exc:
        raise StoreError(
            f"results store {path} is unreadable ({exc}); restore it from its .bak copy or "
            "re-run the benchmark into a new --store"
        ) from None
    return found
