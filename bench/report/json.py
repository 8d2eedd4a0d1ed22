"""The comparison as one JSON document, for dashboards and CI (`--json PATH`).

Numbers are written as Python holds them (`json.dumps` writes the shortest repr that reads
back to the same float: nothing is rounded); a number that is not finite (the p-value of a
pair with too few samples) is `null`. Names (models, devices, files) are untrusted: they only
ever pass through `json.dumps`, never through string concatenation.

Versioning: `schema_version` changes when a field is removed or renamed or changes meaning.
New fields may appear within a version; readers ignore keys they do not know. `SCHEMA` below
is the JSON Schema (draft 2020-12) of version 1, exactly as this module writes it;
`python -m bench.report.json` prints it.

Schema version 1 (`?` = may be null)::

    schema_version   1
    kind             "mobilenet-deploy.comparison"
    generated_at     UTC time, ISO 8601 ("2025-01-01T00:00:00Z")
    store            the results store read (path as given)
    selection        {devices: [str], models: [str], recipes: [str], label?: str}
    rules            {alpha, min_effect, threshold, test, comparable_fields: [field], text}
    tables           one per recipe:
      recipe, precision
      columns        [{label, name, provenance, runners: [str]}], the table's devices in order
      rows           one per model, in paper order:
        model, madds_m?, madds_source ("measured" | "paper" | "")
        devices      one per device with a run of the model (the latest run):
                     RUN fields, then ci {low_ms, high_ms, confidence} (of the median,
                     distribution-free), p10_ms, p90_ms, gmacs?, paper_reference?
                     {device, latency_ms, source}, ratio_to_paper? (median over that figure)
        paper        the papers' figures for the recipe's precision, Pixel 1 / 2 / 3:
                     [{device, provenance: "paper", latency_ms, source, source_text, method,
                     gmacs?}]
      paper_sources  [{key, text}]
    two_devices?     when exactly two devices are selected: {a, b, pairs: [PAIR]} (B against A)
    gate?            when a baseline is given: {result: "pass" | "regression" | "not
                     comparable" (a --strict gate failing on those alone), passed, threshold,
                     strict, summary, baseline: {store, selection?}, items: [PAIR]}
    not_comparable   every PAIR of two_devices and gate whose decision is "not comparable",
                     each with `context` ("two devices" | "gate")
    speedups         int8 over fp32: [{device: DEVICE, provenance, model, fp32: RUN, int8: RUN,
                     speedup, paper: [{device, speedup}]}]
    excluded         RUNs left out of every latency figure (emulated)

    DEVICE  {id, name, kind? (the store's device kind), label (name with provenance)}
    RUN     {run_id?, device: DEVICE, provenance, model, recipe, precision, resolution,
             weights, threads, runner: {name, version}, cpu_mask, artifact_sha256, started_at,
             label?, store?, n, median_ms?}
    PAIR    {device (label), model, recipe, decision (faster | slower | regression | same |
             not comparable | missing | new), reason, a?: RUN, b?: RUN, ratio? (median B /
             median A, only when significant), p_value?, significant?, differences:
             [{field, title, a, b}] (the configuration fields that differ)}
"""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any

from bench.compare import (
    COMPARABILITY_FIELDS,
    PROVENANCES,
    Cell,
    Comparison,
    Difference,
    GateResult,
    Measurement,
    PairResult,
    RecipeTable,
    Row,
    Selection,
    Speedup,
    paper_speedups,
    spread,
)
from bench.report.grids import PAPER_METHOD
from deploy.models import paper

SCHEMA_VERSION = 1
KIND = "mobilenet-deploy.comparison"
DECISIONS = ("faster", "slower", "regression", "same", "not comparable", "missing", "new")
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
        "median_ms": _number(m.median_ms),
    }


def _cell(cell: Cell) -> dict[str, Any]:
    found = spread(cell.measurement)
    assert found is not None  # a table cell always has samples
    ref = cell.reference
    return _run(cell.measurement) | {
        "ci": {
            "low_ms": found.ci_low_ms,
            "high_ms": found.ci_high_ms,
            "confidence": found.confidence,
        },
        "p10_ms": found.p10_ms,
        "p90_ms": found.p90_ms,
        "gmacs": _number(cell.gmacs),
        "paper_reference": (
            {"device": ref.device, "latency_ms": ref.latency_ms, "source": ref.source}
            if ref
            else None
        ),
        "ratio_to_paper": _number(cell.ratio_to_paper),
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


def _pair(entry: PairResult) -> dict[str, Any]:
    sig = entry.significance
    return {
        "device": entry.device,
        "model": entry.model,
        "recipe": entry.recipe,
        "decision": entry.status,
        "reason": entry.reason,
        "a": _run(entry.a) if entry.a else None,
        "b": _run(entry.b) if entry.b else None,
        "ratio": _number(entry.ratio),
        "p_value": _number(sig.p_value) if sig else None,
        "significant": sig.significant if sig else None,
        "differences": [_difference(d) for d in entry.differences],
    }


def _gate(comparison: Comparison, result: GateResult) -> dict[str, Any]:
    base = comparison.baseline_selection
    return {
        "result": result.result,
        "passed": result.passed,
        "threshold": result.threshold,
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
        "paper": [
            {"device": device, "speedup": value}
            for device, value in paper_speedups(found.model).items()
        ],
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
            "alpha": rules.alpha,
            "min_effect": rules.min_effect,
            "threshold": rules.threshold,
            "test": "Mann-Whitney U, two-sided, on the raw samples",
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
# The JSON Schema of version 1 (draft 2020-12)


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

_RUN_PROPERTIES: dict[str, Any] = {
    "run_id": {"type": ["integer", "null"]},
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
    "n": {"type": "integer", "minimum": 0},
    "median_ms": _NUM_OR_NULL,
}
_PAIR_PROPERTIES: dict[str, Any] = {
    "device": _STR,
    "model": _STR,
    "recipe": _STR,
    "decision": {"enum": list(DECISIONS)},
    "reason": _STR,
    "a": _or_null(_ref("run")),
    "b": _or_null(_ref("run")),
    "ratio": _NUM_OR_NULL,
    "p_value": _NUM_OR_NULL,
    "significant": {"type": ["boolean", "null"]},
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
    "$id": "mobilenet-deploy.comparison.v1",
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
                    "alpha": _NUM,
                    "min_effect": _NUM,
                    "threshold": _NUM,
                    "test": _STR,
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
                "ci": _object({"low_ms": _NUM, "high_ms": _NUM, "confidence": _NUM}),
                "p10_ms": _NUM,
                "p90_ms": _NUM,
                "gmacs": _NUM_OR_NULL,
                "paper_reference": _or_null(
                    _object({"device": _STR, "latency_ms": _NUM, "source": _STR})
                ),
                "ratio_to_paper": _NUM_OR_NULL,
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
