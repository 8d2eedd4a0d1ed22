"""The comparison as one JSON document, for dashboards and CI (`--json PATH`).

Numbers are written as Python holds them (`json.dumps` writes the shortest repr that reads
back to the same float: nothing is rounded); a number that is not finite is `null`. Names
(models, devices, files) are untrusted: they only ever pass through `json.dumps`, never through
string concatenation.

Versioning: `schema_version` changes when a field is removed or renamed or changes meaning.
New fields may appear within a version; readers ignore keys they do not know. `SCHEMA` below
is the JSON Schema (draft 2020-12) of the current version, exactly as this module writes it;
`python -m bench.report.json` prints it.

Version 2 (rounds): a measurement is a SESSION of rounds (a round is one runner process), no
longer one run's pooled iterations. Changed meaning: `median_ms` is the headline, the median of
the round medians (named in `estimate.estimator` and `rules.estimator`); a cell's `ci` (was the
CI of the pooled samples' median) is now `estimate.ci`, from the rounds; `p10_ms` is the median
of the round p10s; a pair's `ratio` is always given when both sides have a figure (was: only
when "significant"), with `ratio_ci`; decisions are regression / slower / faster / same /
inconclusive. Removed: `p_value`, `significant`, `rules.alpha`, `rules.min_effect`,
`rules.test`, a cell's `p90_ms` (per-iteration figures are per round, under `within_process`).
Added: `session_id`, `n_rounds`, `rounds_failed`, `estimate`, `rounds`, `ratio_ci`,
`rounds_needed`, `metric`, `machine`, the rules' guard bounds, the gate's metric, a speedup's
`ci`.

Within version 2, cells gained `accuracy` (the artifact's stored top-1 / top-5 from
`python -m bench evaluate`, matched by sha256; null when it was never evaluated).

Schema version 2 (`?` = may be null)::

    schema_version   2
    kind             "mobilenet-deploy.comparison"
    generated_at     UTC time, ISO 8601 ("2025-01-01T00:00:00Z")
    store            the results store read (path as given)
    selection        {devices: [str], models: [str], recipes: [str], label?: str}
    rules            {estimator ("median of round medians"), round_ci (method), ratio_ci
                     (method), confidence, threshold, metric ("latency" | "instructions"),
                     instructions_threshold, min_rounds, guard: {load_diff_per_cpu,
                     steal_diff_pct, core_wait_diff, freq_diff, thermal_diff_c,
                     heavy_load_per_cpu, heavy_steal_pct, heavy_core_wait}, within_process
                     (the label of per-iteration figures), comparable_fields: [field], text}
    tables           one per recipe:
      recipe, precision
      columns        [{label, name, provenance, runners: [str]}], the table's devices in order
      rows           one per model, in paper order:
        model, madds_m?, madds_source ("measured" | "paper" | "")
        devices      one per device with a session of the model (the latest session):
                     RUN fields, then estimate: ESTIMATE, rounds: [ROUND], gmacs?,
                     paper_reference? {device, latency_ms, source}, ratio_to_paper? (headline
                     over that figure), accuracy?: ACCURACY
        paper        the papers' figures for the recipe's precision, Pixel 1 / 2 / 3:
                     [{device, provenance: "paper", latency_ms, source, source_text, method,
                     gmacs?}]
      paper_sources  [{key, text}]
    two_devices?     when exactly two devices are selected: {a, b, pairs: [PAIR]} (B against A)
    gate?            when a baseline is given: {result: "pass" | "regression" | "not
                     comparable" (a --strict gate failing on those alone), passed, threshold,
                     metric, instructions_threshold, strict, summary, baseline: {store,
                     selection?}, items: [PAIR]}
    not_comparable   every PAIR of two_devices and gate whose decision is "not comparable",
                     each with `context` ("two devices" | "gate")
    speedups         int8 over fp32: [{device: DEVICE, provenance, model, fp32: RUN, int8: RUN,
                     speedup, ci?: {low, high, confidence, method}, paper: [{device, speedup}]}]
    excluded         RUNs left out of every latency figure (emulated)

    DEVICE    {id, name, kind? (the store's device kind), label (name with provenance)}
    RUN       {run_id? (the session's latest round), session_id, device: DEVICE, provenance,
               model, recipe, precision, resolution, weights, threads, runner: {name,
               version}, cpu_mask, artifact_sha256, started_at, label?, store?, n (samples in
               all rounds), n_rounds (rounds with samples), rounds_failed, median_ms? (the
               headline)}
    ACCURACY  {top1, top5?, eager_top1?, eager_top5? (fractions; eager fp32 on the same images),
               top1_vs_eager_points?, images, skipped, data: {folder, name, sha256 (of the images
               evaluated)}, device_id, provenance, runtime, created_at, evaluation_id?}
    ESTIMATE  {estimator, median_ms, ci: {low_ms, high_ms, confidence (the coverage reached:
               0.95 from 6 rounds, less below), method}, p10_ms, n_rounds, n_samples}
    ROUND     {index, run_id?, started_at, n, median_ms, p10_ms, within_process: {label
               ("within one process"), p90_ms, ci: {low_ms, high_ms, confidence}},
               machine: STATE, flags: [str], metrics: [{name, value}]}
    STATE     {load?, load_per_cpu?, online_cpus?, steal_pct?, core_wait_ms?,
               core_wait_share?, runnable_on_core?, governor?, freq_mhz?, hottest_c?,
               cap_dropped, cooled?}
    SIDE      {rounds, load?, load_per_cpu?, online_cpus?, steal_pct?, core_wait_share?,
               governors: [str], freq_mhz?, hottest_c?, flagged: [str]} (medians over rounds)
    PAIR      {device (label), model, recipe, decision (regression | slower | faster | same |
               inconclusive | not comparable | missing | new), reason, metric? ("latency" |
               "instructions": what the ratio is of), a?: RUN, b?: RUN, ratio? (B / A),
               ratio_ci?: {low, high, confidence, method} (latency, from 3 rounds a side),
               rounds_needed? (inconclusive: rounds a side that would decide it), machine?:
               {a: SIDE, b: SIDE, differs: [str]}, differences: [{field, title, a, b}] (the
               configuration fields that differ)}
"""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any

from bench import stats
from bench.compare import (
    COMPARABILITY_FIELDS,
    CORE_WAIT_DIFF,
    FREQ_DIFF,
    HEAVY_CORE_WAIT,
    HEAVY_LOAD_PER_CPU,
    HEAVY_STEAL_PCT,
    LOAD_DIFF_PER_CPU,
    METRICS,
    MIN_ROUNDS,
    PROVENANCES,
    STEAL_DIFF_PCT,
    THERMAL_DIFF_C,
    VERDICTS,
    Accuracy,
    Cell,
    Comparison,
    Difference,
    GateResult,
    Measurement,
    PairResult,
    RecipeTable,
    Round,
    Row,
    Selection,
    SideState,
    Speedup,
    paper_speedups,
    round_flags,
)
from bench.report.grids import PAPER_METHOD
from deploy.models import paper

SCHEMA_VERSION = 2
KIND = "mobilenet-deploy.comparison"
DECISIONS = (*VERDICTS, "not comparable", "missing", "new")
GATE_RESULTS = ("pass", "regression", "not comparable")
CONTEXTS = ("two devices", "gate")


def _number(value: float | None) -> float | None:
    """As it is; None for None, NaN and infinities (JSON has no such numbers)."""
    if value is None or not math.isfinite(value):
        return None
    return value


def _selection(selection: Selection) -> dict[str, Any]:
    return {
        "devices": list(selection.devices),
        "models": list(selection.models),
        "recipes": list(selection.recipes),
        "label": selection.label or None,
    }


def _device(m: Measurement) -> dict[str, Any]:
    return {
        "id": m.device_id,
        "name": m.device,
        "kind": m.device_kind or None,
        "label": m.device_label,
    }


def _run(m: Measurement) -> dict[str, Any]:
    return {
        "run_id": m.run_id,
        "session_id": m.session_id,
        "device": _device(m),
        "provenance": m.provenance,
        "model": m.model,
        "recipe": m.recipe,
        "precision": m.precision,
        "resolution": m.resolution,
        "weights": m.weights,
        "threads": m.threads,
        "runner": {"name": m.runner, "version": m.runner_version},
        "cpu_mask": m.cpu_mask,
        "artifact_sha256": m.artifact_sha256,
        "started_at": m.started_at,
        "label": m.label or None,
        "store": m.source or None,
        "n": m.n,
        "n_rounds": m.n_rounds,
        "rounds_failed": m.rounds_failed,
        "median_ms": _number(m.median_ms),
    }


def _estimate(est: stats.RoundEstimate) -> dict[str, Any]:
    return {
        "estimator": est.estimator,
        "median_ms": est.median,
        "ci": {
            "low_ms": est.ci_low,
            "high_ms": est.ci_high,
            "confidence": est.confidence,
            "method": est.method,
        },
        "p10_ms": est.p10,
        "n_rounds": est.n_rounds,
        "n_samples": est.n_samples,
    }


def _round(found: Round) -> dict[str, Any]:
    summary = found.summary()
    assert summary is not None  # a cell's rounds all have samples
    state = found.state
    return {
        "index": found.index,
        "run_id": found.run_id,
        "started_at": found.started_at,
        "n": summary.n,
        "median_ms": summary.median,
        "p10_ms": summary.p10,
        "within_process": {
            "label": stats.WITHIN_PROCESS,
            "p90_ms": summary.p90,
            "ci": {
                "low_ms": summary.ci_low,
                "high_ms": summary.ci_high,
                "confidence": summary.confidence,
            },
        },
        "machine": {
            "load": _number(state.load),
            "load_per_cpu": _number(state.load_per_cpu),
            "online_cpus": state.online_cpus,
            "steal_pct": _number(state.steal_pct),
            "core_wait_ms": _number(state.core_wait_ms),
            "core_wait_share": _number(state.core_wait_share),
            "runnable_on_core": state.runnable_on_core,
            "governor": state.governor,
            "freq_mhz": _number(state.freq_mhz),
            "hottest_c": _number(state.hottest_c),
            "cap_dropped": state.cap_dropped,
            "cooled": state.cooled,
        },
        "flags": round_flags(state),
        "metrics": [
            {"name": name, "value": _number(value)} for name, value in sorted(found.metrics.items())
        ],
    }


def _accuracy(found: Accuracy | None) -> dict[str, Any] | None:
    if found is None:
        return None
    return {
        "top1": found.top1,
        "top5": _number(found.top5),
        "eager_top1": _number(found.eager_top1),
        "eager_top5": _number(found.eager_top5),
        "top1_vs_eager_points": _number(found.vs_eager_points),
        "images": found.images,
        "skipped": found.skipped,
        "data": {
            "folder": found.data_folder,
            "name": found.data_name,
            "sha256": found.data_sha256,
        },
        "device_id": found.device_id,
        "provenance": found.provenance,
        "runtime": found.runtime,
        "created_at": found.created_at,
        "evaluation_id": found.evaluation_id,
    }


def _cell(cell: Cell) -> dict[str, Any]:
    est = cell.estimate
    assert est is not None  # a table cell always has samples
    ref = cell.reference
    return _run(cell.measurement) | {
        "estimate": _estimate(est),
        "rounds": [_round(r) for r in cell.measurement.timed_rounds],
        "gmacs": _number(cell.gmacs),
        "paper_reference": (
            {"device": ref.device, "latency_ms": ref.latency_ms, "source": ref.source}
            if ref
            else None
        ),
        "ratio_to_paper": _number(cell.ratio_to_paper),
        "accuracy": _accuracy(cell.accuracy),
    }


def _row(row: Row) -> dict[str, Any]:
    return {
        "model": row.model,
        "madds_m": _number(row.madds_m),
        "madds_source": row.madds_source,
        "devices": [_cell(cell) for cell in row.cells.values() if cell is not None],
        "paper": [
            {
                "device": device,
                "provenance": "paper",
                "latency_ms": entry.latency_ms,
                "source": entry.source,
                "source_text": paper.SOURCES[entry.source],
                "method": PAPER_METHOD,
                "gmacs": _number(row.paper_gmacs(device)),
            }
            for device, entry in row.paper.items()
        ],
    }


def _table(table: RecipeTable) -> dict[str, Any]:
    return {
        "recipe": table.recipe,
        "precision": table.precision,
        "columns": [
            {
                "label": column.label,
                "name": column.device,
                "provenance": column.provenance,
                "runners": list(column.runners),
            }
            for column in table.columns
        ],
        "rows": [_row(row) for row in table.rows],
        "paper_sources": [{"key": key, "text": paper.SOURCES[key]} for key in table.sources],
    }


def _difference(difference: Difference) -> dict[str, Any]:
    return {
        "field": difference.field,
        "title": difference.title,
        "a": difference.a,
        "b": difference.b,
    }


def _side(state: SideState) -> dict[str, Any]:
    return {
        "rounds": state.rounds,
        "load": _number(state.load),
        "load_per_cpu": _number(state.load_per_cpu),
        "online_cpus": state.online_cpus,
        "steal_pct": _number(state.steal_pct),
        "core_wait_share": _number(state.core_wait_share),
        "governors": list(state.governors),
        "freq_mhz": _number(state.freq_mhz),
        "hottest_c": _number(state.hottest_c),
        "flagged": list(state.flagged),
    }


def _pair(entry: PairResult) -> dict[str, Any]:
    found = entry.ratio_ci
    machine = None
    if entry.machine_a is not None and entry.machine_b is not None:
        machine = {
            "a": _side(entry.machine_a),
            "b": _side(entry.machine_b),
            "differs": list(entry.decision.machine_differs) if entry.decision else [],
        }
    return {
        "device": entry.device,
        "model": entry.model,
        "recipe": entry.recipe,
        "decision": entry.status,
        "reason": entry.reason,
        "metric": entry.metric,
        "a": _run(entry.a) if entry.a else None,
        "b": _run(entry.b) if entry.b else None,
        "ratio": _number(entry.ratio),
        "ratio_ci": (
            {
                "low": found.low,
                "high": found.high,
                "confidence": found.confidence,
                "method": found.method,
            }
            if found is not None
            else None
        ),
        "rounds_needed": entry.rounds_needed,
        "machine": machine,
        "differences": [_difference(d) for d in entry.differences],
    }


def _gate(comparison: Comparison, result: GateResult) -> dict[str, Any]:
    base = comparison.baseline_selection
    return {
        "result": result.result,
        "passed": result.passed,
        "threshold": result.threshold,
        "metric": result.metric,
        "instructions_threshold": result.instructions_threshold,
        "strict": result.strict,
        "summary": result.summary(),
        "baseline": {
            "store": comparison.baseline_store or None,
            "selection": _selection(base) if base else None,
        },
        "items": [_pair(entry) for entry in result.entries],
    }


def _speedup(found: Speedup) -> dict[str, Any]:
    return {
        "device": _device(found.fp32),
        "provenance": found.provenance,
        "model": found.model,
        "fp32": _run(found.fp32),
        "int8": _run(found.int8),
        "speedup": _number(found.speedup),
        "ci": (
            {"low": ci.low, "high": ci.high, "confidence": ci.confidence, "method": ci.method}
            if (ci := found.ci) is not None
            else None
        ),
        "paper": [
            {"device": device, "speedup": value}
            for device, value in paper_speedups(found.model).items()
        ],
    }


GUARD = {
    "load_diff_per_cpu": LOAD_DIFF_PER_CPU,
    "steal_diff_pct": STEAL_DIFF_PCT,
    "core_wait_diff": CORE_WAIT_DIFF,
    "freq_diff": FREQ_DIFF,
    "thermal_diff_c": THERMAL_DIFF_C,
    "heavy_load_per_cpu": HEAVY_LOAD_PER_CPU,
    "heavy_steal_pct": HEAVY_STEAL_PCT,
    "heavy_core_wait": HEAVY_CORE_WAIT,
}


def document(comparison: Comparison) -> dict[str, Any]:
    """The comparison as plain data (dicts, lists, str, int, float, bool, None)."""
    rules = comparison.rules
    pairs = None
    if comparison.pair_devices:
        a, b = comparison.pair_devices
        pairs = {"a": a, "b": b, "pairs": [_pair(entry) for entry in comparison.pairs]}
    not_comparable = [
        _pair(entry) | {"context": context}
        for context, entries in (
            ("two devices", comparison.pairs),
            ("gate", comparison.gate.entries if comparison.gate else ()),
        )
        for entry in entries
        if entry.status == "not comparable"
    ]
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": KIND,
        "generated_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "store": comparison.store or None,
        "selection": _selection(comparison.selection),
        "rules": {
            "estimator": stats.HEADLINE,
            "round_ci": stats.ROUND_CI_METHOD,
            "ratio_ci": stats.RATIO_CI_METHOD,
            "confidence": stats.CONFIDENCE,
            "threshold": rules.threshold,
            "metric": rules.metric,
            "instructions_threshold": rules.instructions_threshold,
            "min_rounds": MIN_ROUNDS,
            "guard": GUARD,
            "within_process": stats.WITHIN_PROCESS,
            "comparable_fields": [name for name, _ in COMPARABILITY_FIELDS] + ["cpu_mask"],
            "text": rules.describe(),
        },
        "tables": [_table(table) for table in comparison.tables],
        "two_devices": pairs,
        "gate": _gate(comparison, comparison.gate) if comparison.gate else None,
        "not_comparable": not_comparable,
        "speedups": [_speedup(found) for found in comparison.speedups],
        "excluded": [_run(m) for m in comparison.excluded],
    }


def render(comparison: Comparison) -> str:
    """The document as JSON text (strict: no NaN), one trailing newline."""
    return json.dumps(document(comparison), indent=2, allow_nan=False) + "\n"


# ---------------------------------------------------------------------------------------------
# The JSON Schema of the current version (draft 2020-12)


def _object(properties: dict[str, Any]) -> dict[str, Any]:
    """An object with exactly these keys."""
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def _array(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": items}


def _or_null(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/$defs/{name}"}


_STR: dict[str, Any] = {"type": "string"}
_STRS = _array(_STR)
_NUM: dict[str, Any] = {"type": "number"}
_NUM_OR_NULL: dict[str, Any] = {"type": ["number", "null"]}
_STR_OR_NULL: dict[str, Any] = {"type": ["string", "null"]}
_INT: dict[str, Any] = {"type": "integer"}
_BOOL: dict[str, Any] = {"type": "boolean"}
_PROVENANCE: dict[str, Any] = {"enum": list(PROVENANCES)}

_INT_OR_NULL: dict[str, Any] = {"type": ["integer", "null"]}
_BOOL_OR_NULL: dict[str, Any] = {"type": ["boolean", "null"]}
_COUNT: dict[str, Any] = {"type": "integer", "minimum": 0}
_RUN_PROPERTIES: dict[str, Any] = {
    "run_id": _INT_OR_NULL,
    "session_id": _STR,
    "device": _ref("device"),
    "provenance": _PROVENANCE,
    "model": _STR,
    "recipe": _STR,
    "precision": _STR,
    "resolution": _INT,
    "weights": _STR,
    "threads": _INT,
    "runner": _object({"name": _STR, "version": _STR}),
    "cpu_mask": _STR,
    "artifact_sha256": _STR,
    "started_at": _STR,
    "label": _STR_OR_NULL,
    "store": _STR_OR_NULL,
    "n": _COUNT,
    "n_rounds": _COUNT,
    "rounds_failed": _COUNT,
    "median_ms": _NUM_OR_NULL,
}
_RATIO_CI = _object({"low": _NUM, "high": _NUM, "confidence": _NUM, "method": _STR})
_SIDE = _object(
    {
        "rounds": _COUNT,
        "load": _NUM_OR_NULL,
        "load_per_cpu": _NUM_OR_NULL,
        "online_cpus": _INT_OR_NULL,
        "steal_pct": _NUM_OR_NULL,
        "core_wait_share": _NUM_OR_NULL,
        "governors": _STRS,
        "freq_mhz": _NUM_OR_NULL,
        "hottest_c": _NUM_OR_NULL,
        "flagged": _STRS,
    }
)
_PAIR_PROPERTIES: dict[str, Any] = {
    "device": _STR,
    "model": _STR,
    "recipe": _STR,
    "decision": {"enum": list(DECISIONS)},
    "reason": _STR,
    "metric": {"enum": [*METRICS, None]},
    "a": _or_null(_ref("run")),
    "b": _or_null(_ref("run")),
    "ratio": _NUM_OR_NULL,
    "ratio_ci": _or_null(_RATIO_CI),
    "rounds_needed": _INT_OR_NULL,
    "machine": _or_null(_object({"a": _SIDE, "b": _SIDE, "differs": _STRS})),
    "differences": _array(
        _object(
            {
                "field": {"enum": [name for name, _ in COMPARABILITY_FIELDS] + ["cpu_mask"]},
                "title": _STR,
                "a": {"type": ["string", "integer"]},
                "b": {"type": ["string", "integer"]},
            }
        )
    ),
}
_SELECTION = _object({"devices": _STRS, "models": _STRS, "recipes": _STRS, "label": _STR_OR_NULL})

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "mobilenet-deploy.comparison.v2",
    "title": "python -m bench compare --json: a latency comparison",
    **_object(
        {
            "schema_version": {"const": SCHEMA_VERSION},
            "kind": {"const": KIND},
            "generated_at": _STR,
            "store": _STR_OR_NULL,
            "selection": _SELECTION,
            "rules": _object(
                {
                    "estimator": {"const": stats.HEADLINE},
                    "round_ci": _STR,
                    "ratio_ci": _STR,
                    "confidence": _NUM,
                    "threshold": _NUM,
                    "metric": {"enum": list(METRICS)},
                    "instructions_threshold": _NUM,
                    "min_rounds": _INT,
                    "guard": _object({name: _NUM for name in GUARD}),
                    "within_process": _STR,
                    "comparable_fields": _STRS,
                    "text": _STR,
                }
            ),
            "tables": _array(_ref("table")),
            "two_devices": _or_null(_object({"a": _STR, "b": _STR, "pairs": _array(_ref("pair"))})),
            "gate": _or_null(
                _object(
                    {
                        "result": {"enum": list(GATE_RESULTS)},
                        "passed": _BOOL,
                        "threshold": _NUM,
                        "metric": {"enum": list(METRICS)},
                        "instructions_threshold": _NUM,
                        "strict": _BOOL,
                        "summary": _STR,
                        "baseline": _object(
                            {"store": _STR_OR_NULL, "selection": _or_null(_SELECTION)}
                        ),
                        "items": _array(_ref("pair")),
                    }
                )
            ),
            "not_comparable": _array(
                _object(_PAIR_PROPERTIES | {"context": {"enum": list(CONTEXTS)}})
            ),
            "speedups": _array(
                _object(
                    {
                        "device": _ref("device"),
                        "provenance": _PROVENANCE,
                        "model": _STR,
                        "fp32": _ref("run"),
                        "int8": _ref("run"),
                        "speedup": _NUM_OR_NULL,
                        "ci": _or_null(_RATIO_CI),
                        "paper": _array(_object({"device": _STR, "speedup": _NUM})),
                    }
                )
            ),
            "excluded": _array(_ref("run")),
        }
    ),
    "$defs": {
        "device": _object({"id": _STR, "name": _STR, "kind": _STR_OR_NULL, "label": _STR}),
        "run": _object(_RUN_PROPERTIES),
        "cell": _object(
            _RUN_PROPERTIES
            | {
                "estimate": _ref("estimate"),
                "rounds": _array(_ref("round")),
                "gmacs": _NUM_OR_NULL,
                "paper_reference": _or_null(
                    _object({"device": _STR, "latency_ms": _NUM, "source": _STR})
                ),
                "ratio_to_paper": _NUM_OR_NULL,
                "accuracy": _or_null(_ref("accuracy")),
            }
        ),
        "accuracy": _object(
            {
                "top1": _NUM,
                "top5": _NUM_OR_NULL,
                "eager_top1": _NUM_OR_NULL,
                "eager_top5": _NUM_OR_NULL,
                "top1_vs_eager_points": _NUM_OR_NULL,
                "images": _COUNT,
                "skipped": _COUNT,
                "data": _object({"folder": _STR, "name": _STR, "sha256": _STR}),
                "device_id": _STR,
                "provenance": _STR,
                "runtime": _STR,
                "created_at": _STR,
                "evaluation_id": _INT_OR_NULL,
            }
        ),
        "estimate": _object(
            {
                "estimator": {"const": stats.HEADLINE},
                "median_ms": _NUM,
                "ci": _object(
                    {"low_ms": _NUM, "high_ms": _NUM, "confidence": _NUM, "method": _STR}
                ),
                "p10_ms": _NUM,
                "n_rounds": _COUNT,
                "n_samples": _COUNT,
            }
        ),
        "round": _object(
            {
                "index": _INT,
                "run_id": _INT_OR_NULL,
                "started_at": _STR,
                "n": _COUNT,
                "median_ms": _NUM,
                "p10_ms": _NUM,
                "within_process": _object(
                    {
                        "label": {"const": stats.WITHIN_PROCESS},
                        "p90_ms": _NUM,
                        "ci": _object({"low_ms": _NUM, "high_ms": _NUM, "confidence": _NUM}),
                    }
                ),
                "machine": _object(
                    {
                        "load": _NUM_OR_NULL,
                        "load_per_cpu": _NUM_OR_NULL,
                        "online_cpus": _INT_OR_NULL,
                        "steal_pct": _NUM_OR_NULL,
                        "core_wait_ms": _NUM_OR_NULL,
                        "core_wait_share": _NUM_OR_NULL,
                        "runnable_on_core": _INT_OR_NULL,
                        "governor": _STR_OR_NULL,
                        "freq_mhz": _NUM_OR_NULL,
                        "hottest_c": _NUM_OR_NULL,
                        "cap_dropped": _BOOL,
                        "cooled": _BOOL_OR_NULL,
                    }
                ),
                "flags": _STRS,
                "metrics": _array(_object({"name": _STR, "value": _NUM_OR_NULL})),
            }
        ),
        "paper_figure": _object(
            {
                "device": _STR,
                "provenance": {"const": "paper"},
                "latency_ms": _NUM,
                "source": _STR,
                "source_text": _STR,
                "method": _STR,
                "gmacs": _NUM_OR_NULL,
            }
        ),
        "table": _object(
            {
                "recipe": _STR,
                "precision": _STR,
                "columns": _array(
                    _object(
                        {"label": _STR, "name": _STR, "provenance": _PROVENANCE, "runners": _STRS}
                    )
                ),
                "rows": _array(
                    _object(
                        {
                            "model": _STR,
                            "madds_m": _NUM_OR_NULL,
                            "madds_source": {"enum": ["measured", "paper", ""]},
                            "devices": _array(_ref("cell")),
                            "paper": _array(_ref("paper_figure")),
                        }
                    )
                ),
                "paper_sources": _array(_object({"key": _STR, "text": _STR})),
            }
        ),
        "pair": _object(_PAIR_PROPERTIES),
    },
}


def schema_text() -> str:
    """The schema as JSON text: `python -m bench.report.json > comparison.schema.json`."""
    return json.dumps(SCHEMA, indent=2) + "\n"


if __name__ == "__main__":
    print(schema_text(), end="")
