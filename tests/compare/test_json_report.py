"""The JSON report (`--json PATH`): valid against its schema, numbers exactly as computed, the
papers' figures with their source, decisions, the gate and the not comparable pairs; and the
writer registry that offers it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench import stats
from bench.cli import main
from bench.compare import Comparison, Selection, build_comparison, measurements_from_store
from bench.report import json as json_report
from bench.report.writers import WRITERS, ConsoleWriter, FileWriter
from tests.compare.schema_check import schema_errors
from tests.compare.stores import FP32, INT8, ROUNDS, V2, V3L, V3S


def _strict(text: str) -> Any:
    """json.loads that refuses NaN / Infinity (not JSON, though Python writes them)."""

    def refuse(name: str) -> None:
        raise ValueError(f"{name} in JSON")

    return json.loads(text, parse_constant=refuse)


# -- the document -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gated(stores: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The candidate store against the baseline, through the command line."""
    path = tmp_path_factory.mktemp("json") / "out" / "cmp.json"
    args = ["compare", "--store", str(stores["candidate"]), "--baseline", str(stores["baseline"])]
    assert main([*args, "--models", f"{V2},{V3L},{V3S}", "--json", str(path)]) == 1
    return {"path": path, "doc": _strict(path.read_text(encoding="utf-8"))}


@pytest.fixture(scope="module")
def two_devices(stores: dict[str, Path]) -> tuple[Comparison, dict[str, Any]]:
    runs = measurements_from_store(stores["candidate"])
    comparison = build_comparison(
        runs, Selection.parse(devices="Pixel 3,Pixel 7"), store=str(stores["candidate"])
    )
    return comparison, _strict(json_report.render(comparison))


def test_document_matches_the_schema(gated, two_devices):
    for document in (gated["doc"], two_devices[1]):
        assert schema_errors(document) == []
    doc = gated["doc"]
    assert doc["schema_version"] == 2 and doc["kind"] == "mobilenet-deploy.comparison"
    assert doc["selection"] == {
        "devices": [],
        "models": [V2, V3L, V3S],
        "recipes": [],
        "label": None,
    }
    assert doc["store"].endswith("candidate.sqlite")
    assert gated["path"].read_text().endswith("}\n")


def test_the_schema_check_is_not_vacuous(gated):
    broken = json.loads(json.dumps(gated["doc"]))
    broken["schema_version"] = 3
    del broken["tables"][0]["rows"][0]["devices"][0]["median_ms"]
    broken["tables"][0]["rows"][0]["paper"][0]["provenance"] = "phone"
    broken["gate"]["items"][0]["decision"] = "worse"
    broken["excluded"][0]["surprise"] = 1
    errors = schema_errors(broken)
    assert len(errors) >= 5, errors


def test_numbers_round_trip_exactly(two_devices):
    comparison, doc = two_devices
    by_recipe = {table["recipe"]: table for table in doc["tables"]}
    assert set(by_recipe) == {FP32, INT8}
    checked = 0
    for table in comparison.tables:
        rows = {row["model"]: row for row in by_recipe[table.recipe]["rows"]}
        for row in table.rows:
            written = rows[row.model]
            assert written["madds_m"] == row.madds_m  # exactly: no rounding anywhere
            cells = {cell["device"]["label"]: cell for cell in written["devices"]}
            assert set(cells) == {label for label, c in row.cells.items() if c is not None}
            for label, cell in row.cells.items():
                if cell is None:
                    continue
                out = cells[label]
                m = cell.measurement
                rounds = [list(r.samples_ms) for r in m.rounds]
                est = stats.round_estimate(rounds)
                medians = [stats.summarize(r).median for r in rounds]
                assert out["median_ms"] == m.median_ms == est.median
                assert out["n"] == m.n == ROUNDS * 31 and out["n_rounds"] == ROUNDS
                written = out["estimate"]
                assert written["estimator"] == stats.HEADLINE == "median of round medians"
                assert written["median_ms"] == est.median and written["p10_ms"] == est.p10
                assert (written["ci"]["low_ms"], written["ci"]["high_ms"]) == stats.median_ci(
                    medians
                )
                assert written["ci"]["confidence"] == stats.median_ci_coverage(ROUNDS) == 0.9375
                assert (written["n_rounds"], written["n_samples"]) == (ROUNDS, ROUNDS * 31)
                assert [r["median_ms"] for r in out["rounds"]] == medians
                first = out["rounds"][0]["within_process"]
                assert first["label"] == "within one process"
                summary = stats.summarize(rounds[0])
                assert first["p90_ms"] == summary.p90
                assert (first["ci"]["low_ms"], first["ci"]["high_ms"]) == stats.median_ci(rounds[0])
                assert out["gmacs"] == cell.gmacs and out["ratio_to_paper"] == cell.ratio_to_paper
                assert out["run_id"] == m.run_id and out["provenance"] == m.provenance
                assert out["device"] == {
                    "id": m.device_id,
                    "name": m.device,
                    "kind": m.device_kind,
                    "label": m.device_label,
                }
                checked += 1
    assert checked >= 8
    p3 = next(r for r in by_recipe[FP32]["rows"] if r["model"] == V2)["devices"][0]
    assert p3["device"] == {"id": "SER-P3", "name": "Pixel 3", "kind": "phone", "label": "Pixel 3"}
    assert p3["median_ms"] == 66.0 and p3["paper_reference"] == {
        "device": "Pixel 3",
        "latency_ms": 56,
        "source": "v3-table3",
    }


def test_papers_figures_carry_source_and_provenance(gated):
    fp32 = next(t for t in gated["doc"]["tables"] if t["recipe"] == FP32)
    v2 = next(row for row in fp32["rows"] if row["model"] == V2)
    assert {(p["device"], p["latency_ms"], p["source"]) for p in v2["paper"]} == {
        ("Pixel 1", 64, "v3-table3"),
        ("Pixel 2", 76, "v3-table3"),
        ("Pixel 3", 56, "v3-table3"),
    }
    assert {p["provenance"] for p in v2["paper"]} == {"paper"}
    assert all(p["source_text"].startswith("Howard et al. 2019") for p in v2["paper"])
    assert {"key": "v3-table3", "text": v2["paper"][0]["source_text"]} in fp32["paper_sources"]


def test_ratios_come_with_their_decision(two_devices):
    comparison, doc = two_devices
    section = doc["two_devices"]
    assert (section["a"], section["b"]) == ("Pixel 3", "Pixel 7")
    written = {(p["recipe"], p["model"]): p for p in section["pairs"]}
    for entry in comparison.pairs:
        out = written[(entry.recipe, entry.model)]
        assert out["decision"] == entry.status and out["ratio"] == entry.ratio
        assert "p_value" not in out and "significant" not in out
        found = entry.ratio_ci
        if found is not None:
            assert (out["ratio_ci"]["low"], out["ratio_ci"]["high"]) == (found.low, found.high)
            assert out["ratio_ci"]["confidence"] == 0.95 and out["metric"] == "latency"
            assert out["ratio_ci"]["low"] <= out["ratio"] <= out["ratio_ci"]["high"]
    faster = written[(FP32, V2)]
    assert faster["decision"] == "faster" and faster["ratio"] == 30.0 / 66.0
    assert faster["ratio_ci"]["high"] < 0.95 and faster["machine"]["differs"] == []
    assert faster["a"]["device"]["name"] == "Pixel 3" and faster["b"]["median_ms"] == 30.0
    assert written[(INT8, V2)]["decision"] == "missing" and written[(INT8, V2)]["ratio"] is None


def test_gate_and_not_comparable_pairs(gated):
    doc = gated["doc"]
    gate = doc["gate"]
    assert gate["result"] == "regression" and gate["passed"] is False
    assert gate["threshold"] == 0.05 and gate["strict"] is False
    assert gate["summary"].startswith("gate FAIL")
    assert gate["baseline"]["store"].endswith("baseline.sqlite")
    items = {(i["device"], i["recipe"], i["model"]): i for i in gate["items"]}
    regression = items[("Pixel 3", FP32, V2)]
    assert regression["decision"] == "regression" and regression["ratio"] == 66.0 / 60.0
    assert regression["ratio_ci"]["low"] > 1.05 and regression["rounds_needed"] is None
    same = items[("Pixel 3", FP32, V3L)]
    assert same["decision"] == "same" and same["ratio"] == 44.2 / 44.0
    assert 0.95 <= same["ratio_ci"]["low"] <= same["ratio_ci"]["high"] <= 1.05
    assert gate["metric"] == "latency" and doc["rules"]["estimator"] == "median of round medians"
    assert regression["a"]["store"].endswith("baseline.sqlite")
    assert regression["b"]["store"].endswith("candidate.sqlite")
    assert items[("Pixel 7", FP32, V2)]["decision"] == "new"
    (apart,) = doc["not_comparable"]
    assert (apart["context"], apart["model"], apart["decision"]) == ("gate", V3S, "not comparable")
    assert apart["differences"] == [
        {"field": "runner_version", "title": "runner version", "a": "0.1.0", "b": "0.2.0"}
    ]
    assert apart["ratio"] is None and apart["ratio_ci"] is None
    assert [r["provenance"] for r in doc["excluded"]] == ["emulated"]


def test_a_strict_gate_failing_on_not_comparable_alone(stores, tmp_path):
    path = tmp_path / "strict.json"
    args = ["compare", "--store", str(stores["candidate"]), "--baseline", str(stores["baseline"])]
    assert main([*args, "--models", V3S, "--strict", "--json", str(path)]) == 1
    gate = _strict(path.read_text())["gate"]
    assert (gate["result"], gate["passed"], gate["strict"]) == ("not comparable", False, True)


def test_no_gate_no_pairs(stores):
    doc = _strict(json_report.render(build_comparison(measurements_from_store(stores["baseline"]))))
    assert doc["gate"] is None and doc["not_comparable"] == []
    assert doc["two_devices"] is not None  # Pixel 3 and ci-host: exactly two devices
    assert schema_errors(doc) == []


def test_non_finite_numbers_are_null():
    assert json_report._number(float("nan")) is None
    assert json_report._number(float("inf")) is None
    assert json_report._number(0.1 + 0.2) == 0.1 + 0.2


# -- the registry -------------------------------------------------------------------------------


def test_registry_holds_every_format():
    assert list(WRITERS) == ["terminal", "markdown", "csv", "html", "json"]
    assert isinstance(WRITERS["terminal"], ConsoleWriter)
    assert all(isinstance(WRITERS[name], FileWriter) for name in list(WRITERS)[1:])


def test_a_new_format_is_one_registry_line(stores, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(
        WRITERS, "count", FileWriter(lambda c: f"{len(c.measurements)} runs\n", "run count")
    )
    path = tmp_path / "count.txt"
    assert main(["compare", "--store", str(stores["baseline"]), "--count", str(path)]) == 0
    assert path.read_text() == "5 runs\n"
    assert f"wrote {path}" in capsys.readouterr().out


def test_the_schema_is_printable_json():
    assert json.loads(json_report.schema_text()) == json_report.SCHEMA
