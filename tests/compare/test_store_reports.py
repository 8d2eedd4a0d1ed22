"""Acceptance: real stores (bench.store API) -> tables, decisions, gate exit codes, reports."""

from __future__ import annotations

import base64
import csv
import io
import re
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from bench.cli import main
from bench.compare import Selection, build_comparison, measurements_from_store
from bench.errors import StoreError
from bench.report import html as html_report
from bench.report import plots
from bench.report.render_check import check_render
from tests.compare.stores import FP32, INT8, V2, V3L, V3S
from tests.conftest import require_command

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "bench", "compare", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture(scope="module")
def cli_runs(stores, tmp_path_factory) -> dict[str, subprocess.CompletedProcess[str]]:
    """The checks that need a real process (exit status, nothing but one line on stderr), run
    at once; the other bad inputs go through the same `bench.cli.main` in-process, since
    `python -m bench` imports every command (torch included) and costs seconds to start."""
    tmp = tmp_path_factory.mktemp("cli")
    corrupt = tmp / "bench.sqlite"
    corrupt.write_bytes(b"this is not a database\n" * 100)
    started = {
        "gate": _cli("--store", str(stores["candidate"]), "--baseline", str(stores["baseline"])),
        "corrupt": _cli("--store", str(corrupt)),
    }
    done = {}
    for name, proc in started.items():
        out, err = proc.communicate(timeout=180)
        done[name] = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    return done


def _in_process(capsys, *args: str) -> subprocess.CompletedProcess[str]:
    code = main(["compare", *args])
    captured = capsys.readouterr()
    return subprocess.CompletedProcess(args, code, captured.out, captured.err)


def _one_line_error(proc: subprocess.CompletedProcess[str], fragment: str) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr and fragment in lines[0], lines[0]


# -- the adapter ------------------------------------------------------------------------------


def test_adapter_reads_the_store(stores):
    runs = measurements_from_store(stores["candidate"])
    assert len(runs) == 11
    p3 = [r for r in runs if r.device == "Pixel 3" and r.model == V2 and r.recipe == FP32]
    assert sorted(r.median_ms for r in p3) == pytest.approx([66.0, 90.0])
    first = p3[0]
    assert (first.runner, first.runner_version, first.threads) == ("bench_runner", "0.1.0", 1)
    assert (first.resolution, first.weights, first.precision) == (224, "random", "fp32")
    assert first.madds_m == pytest.approx(300.774272) and first.cpu_mask == "0xf0"
    emulated = [r for r in runs if r.provenance == "emulated"]
    assert len(emulated) == 1 and emulated[0].samples_ms == () and not emulated[0].has_latency


# -- the per-recipe table ---------------------------------------------------------------------


def test_recipe_table_values(stores):
    result = build_comparison(measurements_from_store(stores["candidate"]))
    tables = {t.recipe: t for t in result.tables}
    assert set(tables) == {FP32, INT8}
    fp32 = tables[FP32]
    assert [c.label for c in fp32.columns] == ["Pixel 3", "Pixel 7", "ci-host (host, not a phone)"]
    rows = {row.model: row for row in fp32.rows}
    assert list(rows) == [V2, V3L, V3S]  # paper order: V2, then V3-Large, then V3-Small
    cell = rows[V2].cells["Pixel 3"]
    assert cell is not None
    assert cell.median_ms == pytest.approx(66.0)  # the latest run, not the older 90 ms one
    assert cell.reference is not None and cell.reference.device == "Pixel 3"
    assert cell.ratio_to_paper == pytest.approx(66.0 / 56.0)  # V3 paper Table 3, P-3
    assert cell.gmacs == pytest.approx(300.774272 / 66.0)
    pixel7 = rows[V2].cells["Pixel 7"]
    assert pixel7 is not None and pixel7.reference is not None
    assert pixel7.reference.device == "Pixel 1" and pixel7.ratio_to_paper == pytest.approx(30 / 64)
    assert {d: e.latency_ms for d, e in rows[V2].paper.items()} == {
        "Pixel 1": 64,
        "Pixel 2": 76,
        "Pixel 3": 56,
    }
    assert rows[V2].madds_source == "measured" and rows[V2].madds_m == pytest.approx(300.774272)
    int8 = {row.model: row for row in tables[INT8].rows}
    assert int8[V2].paper["Pixel 1"].latency_ms == 52  # Table 4, int8
    assert len(result.excluded) == 1 and result.excluded[0].provenance == "emulated"


def test_two_devices_decisions(stores):
    runs = measurements_from_store(stores["candidate"])
    result = build_comparison(runs, Selection.parse(devices="Pixel 3,pixel 7"))
    assert result.pair_devices == ("Pixel 3", "Pixel 7")
    decided = {(p.recipe, p.model): p for p in result.pairs}
    faster = decided[(FP32, V2)]
    assert faster.status == "faster" and faster.ratio == pytest.approx(30 / 66)
    apart = decided[(FP32, V3S)]
    assert apart.status == "not comparable" and "runner version 0.2.0 vs 0.1.0" in apart.reason
    assert apart.ratio is None
    assert decided[(INT8, V2)].status == "missing"


def test_gate_decisions(stores):
    result = build_comparison(
        measurements_from_store(stores["candidate"]),
        baseline=measurements_from_store(stores["baseline"]),
    )
    gate = result.gate
    assert gate is not None and not gate.passed
    status = {(e.device, e.recipe, e.model): e for e in gate.entries}
    regression = status[("Pixel 3", FP32, V2)]
    assert regression.status == "regression" and regression.ratio == pytest.approx(1.1)
    assert regression.ratio_ci is not None and regression.ratio_ci.low > 1.05
    noise = status[("Pixel 3", FP32, V3L)]
    assert noise.status == "same" and noise.ratio == pytest.approx(44.2 / 44.0)
    assert noise.ratio_ci is not None and 0.95 <= noise.ratio_ci.low <= noise.ratio_ci.high <= 1.05
    assert status[("Pixel 3", FP32, V3S)].status == "not comparable"
    assert status[("Pixel 3", INT8, V2)].status == "same"
    assert status[("Pixel 3", INT8, V3L)].status == "new"
    assert status[("Pixel 7", FP32, V2)].status == "new"
    assert status[("ci-host (host, not a phone)", FP32, V2)].status == "same"
    assert [e.model for e in gate.regressions] == [V2]
    assert "gate FAIL" in gate.summary()


# -- the command line: exit codes and one-line errors -------------------------------------------


def test_gate_exit_codes(cli_runs, stores, capsys):
    failing = cli_runs["gate"]
    assert failing.returncode == 1, failing.stderr
    assert "regression" in failing.stdout and "gate FAIL" in failing.stdout
    args = ["--store", str(stores["candidate"]), "--baseline", str(stores["baseline"])]
    relaxed = _in_process(capsys, *args, "--threshold", "15%")
    assert relaxed.returncode == 0, relaxed.stderr
    assert "gate PASS" in relaxed.stdout


def test_strict_gate_fails_on_not_comparable(stores):
    args = ["compare", "--store", str(stores["candidate"]), "--baseline", str(stores["baseline"])]
    assert main([*args, "--models", V3S]) == 0
    assert main([*args, "--models", V3S, "--strict"]) == 1


def test_missing_store(tmp_path, capsys):
    proc = _in_process(capsys, "--store", str(tmp_path / "nope.sqlite"))
    _one_line_error(proc, "no results store at")


def test_corrupt_store(cli_runs):
    _one_line_error(cli_runs["corrupt"], "not a results store")


def test_truncated_store_is_one_error(stores, tmp_path):
    cut = tmp_path / "cut.sqlite"
    cut.write_bytes(stores["candidate"].read_bytes()[:3000])
    with pytest.raises(StoreError) as info:
        measurements_from_store(cut)
    assert "\n" not in str(info.value)


def test_unknown_device(stores, capsys):
    proc = _in_process(capsys, "--store", str(stores["candidate"]), "--devices", "Pixel 9")
    _one_line_error(proc, "unknown device 'Pixel 9'; known devices: Pixel 3, Pixel 7, ci-host")


def test_empty_selection(stores, capsys):
    proc = _in_process(
        capsys, "--store", str(stores["candidate"]), "--models", "mobilenet_v1_1.0_224"
    )
    _one_line_error(proc, "no runs in")


def test_empty_store(tmp_path, capsys):
    from bench.store import Store

    Store.open(tmp_path / "empty.sqlite").close()
    assert main(["compare", "--store", str(tmp_path / "empty.sqlite")]) == 2
    assert "holds no benchmark runs" in capsys.readouterr().err


# -- reports ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def reports(stores, tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("reports")
    paths = {"md": out / "cmp.md", "csv": out / "cmp.csv", "html": out / "cmp.html"}
    code = main(
        [
            "compare",
            "--store",
            str(stores["candidate"]),
            "--baseline",
            str(stores["baseline"]),
            "--markdown",
            str(paths["md"]),
            "--csv",
            str(paths["csv"]),
            "--html",
            str(paths["html"]),
        ]
    )
    assert code == 1  # the gate fails; the reports are written all the same
    return paths


def test_markdown(reports):
    text = reports["md"].read_text()
    assert "### recipe xnnpack_fp32 (fp32): latency per device, median of round medians" in text
    # the headline (its CI from the 5 rounds, which reach 94% coverage, and the rounds)
    row = "| mobilenet_v2_1.0_224 | 301 | 66.0 (94% CI 65.3-66.7, 5 rounds) | 1.18x P-3 | 4.56 |"
    assert row in text
    assert "ms = median of round medians of the latest session" in text
    assert "ci-host (host, not a phone) ms" in text and "NOT phone numbers" in text
    assert "**gate FAIL" in text and "**regression**" in text
    assert "v3-table3: Howard et al. 2019" in text


def test_csv(reports):
    rows = list(csv.DictReader(io.StringIO(reports["csv"].read_text())))
    key = ("Pixel 3", "phone", V2, FP32)
    mine = [r for r in rows if (r["device"], r["provenance"], r["model"], r["recipe"]) == key]
    assert len(mine) == 1
    assert float(mine[0]["median_ms"]) == pytest.approx(66.0)
    assert float(mine[0]["gmacs"]) == pytest.approx(300.774272 / 66)
    assert float(mine[0]["ratio_to_paper"]) == pytest.approx(66 / 56)
    assert mine[0]["provenance"] == "phone" and mine[0]["runner"] == "bench_runner"
    published = [r for r in rows if r["provenance"] == "paper" and r["model"] == V2]
    assert {(r["recipe"], r["device"], float(r["median_ms"])) for r in published} >= {
        (FP32, "Pixel 1", 64.0),
        (INT8, "Pixel 3", 37.0),
    }
    assert not [r for r in rows if r["provenance"] == "emulated"]


def _images(page: str) -> list[bytes]:
    return [base64.b64decode(d) for d in re.findall(r'src="data:image/png;base64,([^"]+)"', page)]


def test_html_embeds_valid_plots(reports):
    page = reports["html"].read_text()
    images = _images(page)
    assert len(images) == 5  # 2 recipes x (latency per model, latency vs MAdds) + int8 speedup
    for data in images:
        with Image.open(io.BytesIO(data)) as image:
            image.verify()
            assert image.format == "PNG" and image.size[0] >= 600 and image.size[1] >= 400
    assert 'src="http' not in page and "<link" not in page  # self-contained
    assert "not a phone" in page and "gate FAIL" in page and "regression" in page


def test_every_figure_names_device_runner_and_recipe(stores, monkeypatch):
    figures = []
    monkeypatch.setattr(plots, "to_png", lambda fig: figures.append(fig) or b"png")
    result = build_comparison(measurements_from_store(stores["candidate"]))
    made = plots.all_plots(result)
    assert len(made) == len(figures) == 5
    for fig in figures:
        (ax,) = fig.axes
        legend = [t.get_text() for t in ax.get_legend().get_texts()]
        footer = fig.get_supxlabel()
        assert "runner bench_runner 0.1.0" in footer or "runner bench_runner 0.2.0" in footer
        assert "recipe" in footer and ("recipe" in ax.get_title() or "fp32" in ax.get_title())
        assert any(label.startswith("Pixel 3") for label in legend)
        if any("ci-host" in label for label in legend):
            assert "ci-host (host, not a phone)" in legend
    madds = figures[1].axes[0]
    labels = [t.get_text() for t in madds.get_legend().get_texts()]
    assert "paper Pixel 1 (fp32, TF-Lite)" in labels


def test_html_renders_in_chromium(reports, tmp_path):
    require_command("chromium")
    result = check_render(reports["html"], tmp_path / "shot.png")
    assert result.ok, result.describe()
    assert result.images == result.images_loaded == 5


def test_html_render_check_catches_a_broken_page(stores, tmp_path):
    require_command("chromium")
    result = build_comparison(
        measurements_from_store(stores["candidate"]), Selection.parse(models=V2)
    )
    page = html_report.render(result, plots=[])
    broken = page.replace("<h2>Figures</h2>", '<h2>Figures</h2><img src="missing.png">')
    (tmp_path / "broken.html").write_text(broken)
    check = check_render(tmp_path / "broken.html", tmp_path / "broken.png")
    assert not check.ok and check.images_broken == 1


def test_one_device_two_commits_in_one_store(tmp_path, capsys):
    from bench.store import Store
    from tests.compare.stores import PIXEL3, add_session

    path = tmp_path / "labels.sqlite"
    with Store.open(path) as store:
        add_session(store, PIXEL3, V2, FP32, 60.0, 1, label="abc123")
        add_session(store, PIXEL3, V2, FP32, 70.0, 2, label="def456", started_at="2025-03")
    args = ["compare", "--store", str(path), "--baseline-label", "abc123"]
    assert main(args) == 1
    out = capsys.readouterr().out
    assert "regression" in out and "1.17x" in out
    assert main([*args, "--label", "abc123"]) == 0  # the baseline against itself
    assert main([*args, "--label", "zzz"]) == 2
    assert "no runs in" in capsys.readouterr().err
