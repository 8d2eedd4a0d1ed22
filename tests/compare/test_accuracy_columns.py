"""compare with stored evaluations: the top-1 of an artifact and its drop against eager fp32 sit
beside its latencies, matched by the artifact's sha256, in every writer; names stay escaped;
without evaluations nothing changes."""

from __future__ import annotations

import csv
import io
import json
from html import escape
from pathlib import Path
from typing import Any

import pytest

from bench.cli import main
from bench.compare import (
    accuracy_from_store,
    build_comparison,
    latest_by_artifact,
    measurements_from_store,
)
from bench.report.grids import ACCURACY_HEADERS, all_grids
from bench.store import EAGER_RECIPE, EvaluationRecord, Store
from tests.compare.schema_check import schema_errors
from tests.compare.stores import FP32, HOST, INT8, V2, V3L, _sha, add_session

# A data folder name as hostile as a device name: HTML, Markdown, a formula and line breaks.
EVIL_FOLDER = '/data/=HYPERLINK("x")<img src=x onerror=alert(1)>|[a](mailto:x)\r\nz'
FORMULA_FOLDER = "=1+1"


def _evaluation(
    model: str, recipe: str, top1: float, eager: float | None, **changes: Any
) -> EvaluationRecord:
    fields: dict[str, Any] = {
        "device_id": HOST[0],
        "model": model,
        "recipe": recipe,
        "data_sha256": "d" * 64,
        "images": 360,
        "top1": top1,
        "top5": 1.0,
        "artifact_sha256": _sha(model, recipe),
        "data_folder": EVIL_FOLDER,
        "skipped": 1,
        "reference_top1": eager,
        "reference_top5": 1.0,
        "detail": {"provenance": "host", "runtime": "ExecuTorch (Python runtime)"},
    }
    return EvaluationRecord(**(fields | changes))


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("accuracy") / "bench.sqlite"
    with Store.open(path) as opened:
        add_session(opened, HOST, V2, FP32, 20.0, 1)
        add_session(opened, HOST, V2, INT8, 12.0, 2)
        add_session(opened, HOST, V3L, FP32, 15.0, 3)  # never evaluated: "-"
        # an older evaluation of the fp32 artifact: the latest one is shown
        opened.record_evaluation(
            _evaluation(V2, FP32, 0.5, 0.5, created_at="2025-01-01T00:00:00+00:00")
        )
        opened.record_evaluation(_evaluation(V2, FP32, 0.9722, 0.9722))
        opened.record_evaluation(_evaluation(V2, INT8, 0.9694, 0.9722, data_folder=FORMULA_FOLDER))
        # the eager model's own row, and an evaluation of an artifact never measured
        opened.record_evaluation(_evaluation(V2, EAGER_RECIPE, 0.9722, None, artifact_sha256=None))
        opened.record_evaluation(_evaluation(V3L, INT8, 0.1, 0.2))
    return path


def _comparison(path: Path):
    return build_comparison(
        measurements_from_store(path), store=str(path), accuracy=accuracy_from_store(path)
    )


def test_evaluations_are_matched_by_artifact_sha256(store):
    found = accuracy_from_store(store)
    assert len(found) == 4  # the eager model's row has no artifact
    latest = latest_by_artifact(found)
    assert latest[_sha(V2, FP32)].top1 == 0.9722
    comparison = _comparison(store)
    cells = {
        (t.recipe, r.model): c
        for t in comparison.tables
        for r in t.rows
        for c in r.cells.values()
        if c is not None
    }
    assert cells[(FP32, V2)].accuracy.top1 == 0.9722
    assert cells[(INT8, V2)].accuracy.vs_eager_points == pytest.approx(-0.28)
    assert cells[(FP32, V3L)].accuracy is None
    # only what a cell shows: not the V3-Large int8 evaluation (no latency), not the old one
    assert sorted(a.top1 for a in comparison.accuracy) == [0.9694, 0.9722]


def test_grids_show_top1_and_the_drop(store):
    grids = {g.title.split(" ")[1]: g for g in all_grids(_comparison(store)) if "recipe" in g.title}
    fp32, int8 = grids[FP32], grids[INT8]
    assert fp32.headers[-2:] == ACCURACY_HEADERS
    rows = {row[0]: row for row in fp32.rows}
    assert rows[V2][-2:] == ("97.22", "+0.00")
    assert rows[V3L][-2:] == ("-", "-")
    assert {row[0]: row for row in int8.rows}[V2][-2:] == ("96.94", "-0.28")
    label = f"sha256 {'d' * 12}, 360 images"
    assert any(label in note and V2 in note for note in int8.notes), int8.notes


def test_without_evaluations_nothing_changes(stores):
    comparison = build_comparison(
        measurements_from_store(stores["candidate"]),
        accuracy=accuracy_from_store(stores["candidate"]),
    )
    assert comparison.accuracy == ()
    for grid in all_grids(comparison):
        assert not set(ACCURACY_HEADERS) & set(grid.headers)
        assert not any("top-1" in note for note in grid.notes)


def test_every_writer_shows_it_escaped(store, tmp_path, capsys):
    out = {name: tmp_path / f"cmp.{name}" for name in ("markdown", "csv", "html", "json")}
    args = [f"--{name}={path}" for name, path in out.items()]
    assert main(["compare", "--store", str(store), *args]) == 0
    terminal = capsys.readouterr().out
    assert "top-1 %" in terminal and "97.22" in terminal and "-0.28" in terminal

    md = out["markdown"].read_bytes().decode()
    assert "| 96.94 | -0.28 |" in md
    assert "<" not in md and "\r" not in md  # the folder's <img> and CR are text
    assert "&lt;img src=x onerror=alert(1)&gt;\\|\\[a\\](mailto:x) z" in md

    page = out["html"].read_text()
    assert "<img src=x" not in page
    assert escape("<img src=x onerror=alert(1)>|[a]") in page and ">96.94</td>" in page

    rows = list(csv.DictReader(io.StringIO(out["csv"].read_bytes().decode(), newline="")))
    mine = {(r["recipe"], r["model"]): r for r in rows if r["provenance"] == "host"}
    assert float(mine[(INT8, V2)]["top1"]) == 0.9694
    assert float(mine[(INT8, V2)]["top1_vs_eager_points"]) == pytest.approx(-0.28)
    assert mine[(FP32, V3L)]["top1"] == ""
    assert mine[(FP32, V2)]["accuracy_data"] == EVIL_FOLDER  # a path, not a formula: as it is
    assert mine[(INT8, V2)]["accuracy_data"] == "'" + FORMULA_FOLDER  # text, never a formula

    document = json.loads(out["json"].read_text())
    assert schema_errors(document) == []
    cells = [
        cell
        for table in document["tables"]
        for row in table["rows"]
        for cell in row["devices"]
        if cell["accuracy"] is not None
    ]
    assert {(c["recipe"], c["accuracy"]["top1"]) for c in cells} == {
        (FP32, 0.9722),
        (INT8, 0.9694),
    }
    folders = {c["recipe"]: c["accuracy"]["data"]["folder"] for c in cells}
    assert folders == {FP32: EVIL_FOLDER, INT8: FORMULA_FOLDER}  # exactly, as JSON strings
