"""The comparison as data: one table per recipe, and everything a report shows (`Comparison`).

No rendering here (that is `bench.report`): cells hold measurements and numbers, unrounded.

- A **recipe table** has a row per model (paper order) and a column per device (the latest
  session of each, provenance first: phones, then boards, hosts, simulators, peers). A cell is
  the session, its headline (`bench.stats.HEADLINE`, with the CI from its rounds), its MAdds
  (the store's count, else the paper's), GMAC/s and the paper figure it is held against
  (`decisions.paper_reference`); a row carries the papers' Pixel 1 / 2 / 3 figures for the
  recipe's precision.
- A cell also carries the stored ACCURACY of its artifact (`bench.compare.accuracy`: top-1 and
  the drop against eager fp32 from `python -m bench evaluate`), matched by the artifact's sha256;
  None when the artifact was never evaluated.
- `build_comparison` selects the sessions, tabulates them, pairs two devices when exactly two
  are selected (by the gate's rule, `decisions.compare_devices`), runs the gate when a baseline
  is given and finds the int8 speedups.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bench.compare.accuracy import Accuracy, latest_by_artifact
from bench.compare.decisions import (
    GateResult,
    PairResult,
    Rules,
    Speedup,
    compare_devices,
    gate,
    paper_reference,
    speedups,
)
from bench.compare.measurements import (
    PROVENANCES,
    Measurement,
    Selection,
    device_label,
    gmacs,
    known_devices,
    latest,
    model_sort_key,
    resolve_devices,
    select,
)
from bench.errors import CompareError
from deploy.models import paper

if TYPE_CHECKING:
    from bench.stats import RoundEstimate


@dataclass(frozen=True)
class Cell:
    measurement: Measurement
    madds_m: float | None
    reference: paper.PaperLatency | None
    accuracy: Accuracy | None = None  # the artifact's latest stored evaluation

    @property
    def median_ms(self) -> float:
        """The headline: stats.HEADLINE."""
        return self.measurement.median_ms

    @property
    def estimate(self) -> RoundEstimate | None:
        return self.measurement.estimate

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


def recipe_tables(
    measurements: Sequence[Measurement], accuracy: Mapping[str, Accuracy] | None = None
) -> list[RecipeTable]:
    """One table per recipe: rows are models, columns devices (latest run each); a cell's
    accuracy is `accuracy[its artifact sha256]` when there is one."""
    accuracy = accuracy or {}
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
                    Cell(
                        hit,
                        madds,
                        paper_reference(model, hit.precision, hit.device),
                        accuracy.get(hit.artifact_sha256),
                    )
                    if hit
                    else None
                )
            rows.append(
                Row(model, madds, madds_source, cells, paper.latencies(model, precisions[0]))
            )
        tables.append(RecipeTable(recipe, precision, tuple(columns), tuple(rows)))
    return tables


# ---------------------------------------------------------------------------------------------
# Everything a report shows


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
    selection: Selection = field(default_factory=Selection)
    baseline_selection: Selection | None = None  # what the gate's baseline was chosen by
    accuracy: tuple[Accuracy, ...] = ()  # the evaluations shown in the cells (latest each)


EVERYTHING = Selection()
DEFAULT_RULES = Rules()


def build_comparison(
    measurements: Sequence[Measurement],
    selection: Selection = EVERYTHING,
    *,
    baseline: Sequence[Measurement] | None = None,
    baseline_selection: Selection | None = None,
    rules: Rules = DEFAULT_RULES,
    strict: bool = False,
    store: str = "",
    baseline_store: str = "",
    accuracy: Sequence[Accuracy] = (),
) -> Comparison:
    """Select, tabulate, pair two devices, and run the gate when a baseline is given; stored
    evaluations (`accuracy`) join the cells of their artifacts."""
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
        pairs = compare_devices(with_latency, *pair_devices, threshold=rules.threshold)
    gate_result = None
    base: list[Measurement] = []
    base_sel = None
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
            strict=strict,
            metric=rules.metric,
            instructions_threshold=rules.instructions_threshold,
        )
    tables = recipe_tables(with_latency, latest_by_artifact(accuracy))
    shown = {c.accuracy for t in tables for r in t.rows for c in r.cells.values() if c}
    return Comparison(
        tables=tuple(tables),
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
        selection=selection,
        baseline_selection=base_sel,
        accuracy=tuple(a for a in accuracy if a in shown),
    )
