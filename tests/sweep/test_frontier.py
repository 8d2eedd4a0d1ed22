"""The frontier and the pick, from synthetic runs in a real results store: dominated points are
left out, a budget below every point says so, ties stay together, a straddling CI is named,
and a measured top-1 replaces the papers' figure, marked, never mixed unmarked."""

from __future__ import annotations

import hashlib
import io

import pytest
from rich.console import Console

from bench.store import ArtifactRecord, DeviceRecord, EvaluationRecord, RunRecord, Store
from bench.sweep.frontier import NOT_MEASURED, Result, pareto, recommend
from bench.sweep.grid import GridPoint, grid
from bench.sweep.report import Answer, Context, render_html, render_terminal
from bench.sweep.run import collect, stored_estimate
from deploy.export.recipes import RECIPES

DEVICE = "host:testbox:x86_64"
KEY = "threads=1;seed=0;warmup=10"
FP32 = RECIPES["xnnpack-fp32"]
SMALL = grid(["mobilenet_v3_small"])
FACTS = {"cpu_model": "Test CPU <9000>", "int8_dot": ["avx512_vnni"], "machine": "x86_64"}


def _sha(name: str, recipe: str = "xnnpack-fp32") -> str:
    return hashlib.sha256(f"{name} {recipe}".encode()).hexdigest()


def _rounds(*medians: float) -> list[list[float]]:
    """One round per median: three samples around it."""
    return [[m * 0.99, m, m * 1.01] for m in medians]


def _store(tmp_path, latencies: dict[str, list[list[float]]], session: str = "s1") -> Store:
    store = Store.open(tmp_path / "bench.sqlite")
    store.upsert_device(DeviceRecord(DEVICE, "host", name="testbox"))
    for name, rounds in latencies.items():
        point = next(p for p in SMALL if p.name == name)
        sha = _sha(name)
        store.upsert_artifact(
            ArtifactRecord(
                sha, name, "xnnpack-fp32", "fp32", "xnnpack", ".pte", point.family, point.width
            )
        )
        for index, samples in enumerate(rounds):
            run = RunRecord(
                DEVICE, sha, "host", KEY, session_id=session, round=index, machine=FACTS
            )
            store.record_run(run, samples)
    return store


def _evaluate(store: Store, name: str, top1: float, folder: str = "/data/my <photos>") -> None:
    store.record_evaluation(
        EvaluationRecord(
            DEVICE,
            name,
            "xnnpack-fp32",
            "d" * 64,
            200,
            top1,
            artifact_sha256=_sha(name),
            data_folder=folder,
        )
    )


def _results(store: Store) -> list[Result]:
    shas = {(p, "xnnpack-fp32"): _sha(p.name) for p in SMALL}
    return collect(store, DEVICE, KEY, SMALL, [FP32], shas)["xnnpack-fp32"]


def _by_name(results: list[Result]) -> dict[str, Result]:
    return {r.model.removeprefix("mobilenet_v3_small_"): r for r in results}


LATENCIES = {
    "mobilenet_v3_small_1.0_96": _rounds(1.0, 1.0, 1.0),  # 51.7
    "mobilenet_v3_small_0.35_224": _rounds(1.2, 1.2, 1.2),  # 49.8: slower and worse
    "mobilenet_v3_small_1.0_128": _rounds(2.0, 2.0, 2.0),  # 57.3
    "mobilenet_v3_small_0.5_224": _rounds(2.5, 2.5, 2.5),  # 58.0: slower than 1.0_160 (62.8)
    "mobilenet_v3_small_1.0_160": _rounds(2.4, 2.4, 2.4),  # 62.8
    "mobilenet_v3_small_1.0_224": _rounds(3.9, 4.0, 4.8),  # 67.4, CI 3.9-4.8 at 3 rounds
    "mobilenet_v3_small_1.25_224": _rounds(6.0, 6.0, 6.0),  # evaluated below: 30% measured
    # 0.75_224, 1.0_256: no runs
}


@pytest.fixture
def store(tmp_path):
    with _store(tmp_path, LATENCIES) as opened:
        _evaluate(opened, "mobilenet_v3_small_1.25_224", 0.30)
        yield opened


def test_dominated_points_are_left_out(store):
    results = _by_name(_results(store))
    front = [r.model.removeprefix("mobilenet_v3_small_") for r in pareto(list(results.values()))]
    assert front == ["1.0_96", "1.0_128", "1.0_160", "1.0_224"]
    assert results["1.0_256"].status == NOT_MEASURED and results["1.0_256"].estimate is None
    assert results["1.0_160"].latency_ms == pytest.approx(2.4)


def test_a_measured_top1_replaces_the_papers_and_is_marked(store):
    results = _by_name(_results(store))
    measured = results["1.25_224"].accuracy
    assert measured.kind == "measured" and measured.top1 == pytest.approx(30.0)
    assert measured.marker == "measured" and "200 images" in measured.describe()
    assert results["1.0_224"].accuracy.marker == "paper"
    assert results["1.0_224"].accuracy.top1 == 67.4


def test_the_pick_is_the_most_accurate_within_the_budget(store):
    pick = recommend(pareto(_results(store)), budget_ms=3.0)
    assert pick.chosen.model == "mobilenet_v3_small_1.0_160"
    assert not pick.straddles
    assert "recommended for 3 ms" in pick.lines()[0]


def test_a_ci_straddling_the_budget_is_said_with_a_safer_pick(store):
    pick = recommend(pareto(_results(store)), budget_ms=4.5)
    assert pick.chosen.model == "mobilenet_v3_small_1.0_224"  # median 4.0 <= 4.5 < CI top 4.8
    assert pick.straddles and pick.safer.model == "mobilenet_v3_small_1.0_160"
    text = "\n".join(pick.lines())
    assert "straddles the 4.5 ms budget" in text and "1.0_160" in text


def test_a_budget_below_every_point_gives_a_clear_message(store):
    pick = recommend(pareto(_results(store)), budget_ms=0.5)
    assert pick.chosen is None
    (line,) = pick.lines("testbox")
    assert "no model meets the 0.5 ms budget on testbox" in line
    assert "mobilenet_v3_small_1.0_96" in line and "1.00 ms" in line
    assert "--budget-ms" in line


def test_ties_stay_on_the_frontier_together(tmp_path):
    same = {
        "mobilenet_v3_small_1.0_96": _rounds(1, 1, 1),
        "mobilenet_v3_small_0.35_224": _rounds(1, 1, 1),
    }
    with _store(tmp_path, same) as store:
        for name in same:
            _evaluate(store, name, 0.5)
        results = _results(store)
    front = pareto(results)
    assert {r.model for r in front} == set(same)
    pick = recommend(front, budget_ms=2.0)
    assert len(pick.ties) == 1 and "tied" in "\n".join(pick.lines())


def test_only_the_latest_session_counts(tmp_path):
    with _store(tmp_path, {"mobilenet_v3_small_1.0_96": _rounds(9.0, 9.0)}, session="old") as s:
        sha = _sha("mobilenet_v3_small_1.0_96")
        for index, samples in enumerate(_rounds(1.0, 2.0, 3.0)):
            s.record_run(
                RunRecord(DEVICE, sha, "host", KEY, session_id="new", round=index), samples
            )
        estimate = stored_estimate(s, DEVICE, sha, KEY)
        assert estimate.median == pytest.approx(2.0) and estimate.n_rounds == 3
        assert stored_estimate(s, DEVICE, sha, "threads=4;seed=0;warmup=10") is None


def _context(budget_ms: float | None = 3.0) -> Context:
    return Context(
        "testbox", DEVICE, "host", budget_ms, rounds=3, quick=True, facts=FACTS, weights=("random",)
    )


def test_the_terminal_and_the_page_mark_what_every_figure_is(store):
    _evaluate(store, "mobilenet_v3_small_1.0_96", 0.55)  # now on the frontier: mixed kinds
    answer = Answer.of({"xnnpack-fp32": _results(store)}, 3.0)
    assert {r.accuracy.kind for r in answer.frontiers["xnnpack-fp32"]} == {"measured", "paper"}
    buffer = io.StringIO()
    render_terminal(_context(), answer, Console(file=buffer, width=200))
    text = buffer.getvalue()
    assert "not a phone" in text
    assert "Test CPU <9000>; int8 dot-product features: avx512_vnni" in text
    assert "ImageNet top-1 of the papers' trained weights" in text and "random weights" in text
    assert "mixes measured and paper top-1" in text
    assert "measured top-1 on" in text
    page = render_html(_context(), answer)
    assert "NOT A PHONE" in page and "Test CPU &lt;9000&gt;" in page and "<9000>" not in page
    assert '<td class="">measured</td>' in page and '<td class="">paper</td>' in page
    assert "NOT measured on this device" in page
    assert "/data/my &lt;photos&gt;" in page and "<photos>" not in page


def test_without_a_budget_there_are_frontiers_and_no_pick(store):
    answer = Answer.of({"xnnpack-fp32": _results(store)}, None)
    assert answer.recommendations == {} and answer.best() is None
    buffer = io.StringIO()
    render_terminal(_context(None), answer, Console(file=buffer, width=200))
    assert "no --budget-ms given" in buffer.getvalue()
    assert "Pareto frontier" in buffer.getvalue()


def test_grid_points_without_runs_are_reported_not_measured(store):
    results = _by_name(_results(store))
    missing = [k for k, r in results.items() if r.status == NOT_MEASURED]
    assert sorted(missing) == ["0.75_224", "1.0_256"]
    assert all(isinstance(r.point, GridPoint) for r in results.values())
