"""Cross-device comparison, significance, and the regression gate (`python -m bench compare`).

Three modules, each importing only the ones above it:

- `measurements`: the measurement model (`Measurement`: one stored run with its raw samples),
  choosing runs (`latest`, `Selection`, `select`), and `measurements_from_store`, the one
  adapter to the results store (`bench.store`).
- `decisions`: everything that decides: comparability, significance, two devices, the gate,
  int8 speedups, and which of the papers' figures a run is held against.
- `tables`: the comparison as data (per-recipe tables, `Comparison`, `build_comparison`); the
  writers in `bench.report` render it.

The names below are the package's API: import them from `bench.compare`.
"""

from bench.compare.decisions import (
    ALPHA,
    COMPARABILITY_FIELDS,
    DEFAULT_THRESHOLD,
    MIN_EFFECT,
    MIN_SAMPLES,
    PAPER_DEVICES,
    Difference,
    GateResult,
    PairResult,
    Rules,
    Significance,
    Speedup,
    comparability,
    compare_devices,
    compare_pair,
    differences,
    gate,
    paper_device_for,
    paper_reference,
    paper_speedups,
    significance,
    speedups,
)
from bench.compare.measurements import (
    NOT_A_PHONE,
    PROVENANCES,
    Measurement,
    Selection,
    Spread,
    device_label,
    gmacs,
    known_devices,
    latest,
    measurements_from_store,
    model_sort_key,
    resolve_devices,
    select,
    spread,
)
from bench.compare.tables import (
    Cell,
    Column,
    Comparison,
    RecipeTable,
    Row,
    build_comparison,
    madds_for,
    recipe_tables,
)

__all__ = [
    "ALPHA",
    "COMPARABILITY_FIELDS",
    "DEFAULT_THRESHOLD",
    "MIN_EFFECT",
    "MIN_SAMPLES",
    "NOT_A_PHONE",
    "PAPER_DEVICES",
    "PROVENANCES",
    "Cell",
    "Column",
    "Comparison",
    "Difference",
    "GateResult",
    "Measurement",
    "PairResult",
    "RecipeTable",
    "Row",
    "Rules",
    "Selection",
    "Significance",
    "Speedup",
    "Spread",
    "build_comparison",
    "comparability",
    "compare_devices",
    "compare_pair",
    "device_label",
    "differences",
    "gate",
    "gmacs",
    "known_devices",
    "latest",
    "madds_for",
    "measurements_from_store",
    "model_sort_key",
    "paper_device_for",
    "paper_reference",
    "paper_speedups",
    "recipe_tables",
    "resolve_devices",
    "select",
    "significance",
    "speedups",
    "spread",
]
