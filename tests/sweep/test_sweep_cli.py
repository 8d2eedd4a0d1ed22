"""`python -m bench sweep` end to end on this host's CPU, with two real MobileNet points of the
grid (exported once into build/, the pipeline's cache keeps them for later runs): Ctrl-C in the
middle of the measuring keeps the finished rounds, a rerun measures only the missing ones, a
third run exports and measures nothing, and the page renders in headless Chromium."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from bench.report.render_check import check_render
from tests.conftest import require_command

ROOT = Path(__file__).resolve().parents[2]
MODELS = ["mobilenet_v3_small_1.0_96", "mobilenet_v3_small_0.35_224"]
ROUNDS = 3
# short rounds: timing is not the point here
FAST = ["--rounds", str(ROUNDS), "--warmup", "2", "--iterations", "5", "--min-time", "0.4"]
FAST += ["--max-time", "5", "--target-precision", "0"]


@pytest.fixture(scope="module")
def artifacts() -> Path:
    """The export folder, kept between test runs (the sweep's own cache makes reruns free)."""
    require_command("g++")
    from bench.runner import build

    build.build_host()
    return build.build_root() / "test-models" / "sweep"


def _argv(artifacts: Path, tmp_path: Path) -> list[str]:
    argv = [sys.executable, "-m", "bench", "sweep", "--target", "host", "--budget-ms", "50"]
    argv += ["--models", *MODELS, "--recipes", "xnnpack-fp32", *FAST]
    argv += ["--artifacts", str(artifacts), "--store", str(tmp_path / "bench.sqlite")]
    return [*argv, "--html", str(tmp_path / "sweep.html")]


def _ok_rounds(store: Path) -> list[tuple[int, str, int]]:
    """(run id, model, round) of every ok run."""
    if not store.exists():
        return []
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=10) as db:
        try:
            rows = db.execute(
                """SELECT r.id, a.model, r.round FROM runs r
                   JOIN artifacts a ON a.sha256 = r.artifact_sha256
                   WHERE r.status = 'ok' ORDER BY r.id"""
            ).fetchall()
        except sqlite3.OperationalError:  # the schema is being created
            return []
    return [(int(i), str(m), int(r)) for i, m, r in rows]


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=900)


@dataclass
class Swept:
    """Three runs of one sweep: interrupted, rerun, run again."""

    folder: Path
    interrupted: subprocess.CompletedProcess[str]
    kept: list[tuple[int, str, int]]  # ok rounds after the interrupted run
    second: subprocess.CompletedProcess[str]
    after: list[tuple[int, str, int]]
    third: subprocess.CompletedProcess[str]
    last: list[tuple[int, str, int]]


@pytest.fixture(scope="module")
def swept(artifacts, tmp_path_factory) -> Swept:
    folder = tmp_path_factory.mktemp("sweep")
    argv = _argv(artifacts, folder)
    store = folder / "bench.sqlite"
    proc = subprocess.Popen(
        argv,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )
    try:
        deadline = time.monotonic() + 900  # a cold cache exports both points first
        while not _ok_rounds(store) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.poll() is None, "the sweep ended before it was interrupted"
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C
        output, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    interrupted = subprocess.CompletedProcess(argv, proc.returncode, output, "")
    kept = _ok_rounds(store)
    second = _run(argv)
    after = _ok_rounds(store)
    third = _run(argv)
    return Swept(folder, interrupted, kept, second, after, third, _ok_rounds(store))


def test_ctrl_c_keeps_the_finished_rounds(swept):
    assert swept.interrupted.returncode == 130, swept.interrupted.stdout
    assert "interrupted: finished results were kept" in swept.interrupted.stdout
    assert 1 <= len(swept.kept) < len(MODELS) * ROUNDS, swept.interrupted.stdout


def test_the_rerun_measures_only_what_is_missing(swept):
    second = swept.second
    assert second.returncode == 0, second.stdout + second.stderr
    assert swept.after[: len(swept.kept)] == swept.kept  # nothing stored before was touched
    assert len(swept.after) == len(MODELS) * ROUNDS  # only the missing rounds were measured
    for model in MODELS:
        assert sorted(r for _, m, r in swept.after if m == model) == list(range(ROUNDS))
    assert "Pareto frontier" in second.stdout
    assert "recommended for 50 ms" in second.stdout


def test_a_finished_sweep_exports_and_measures_nothing_again(swept):
    third = swept.third
    assert third.returncode == 0, third.stdout + third.stderr
    assert swept.last == swept.after
    assert "0 export(s) (2 cached)" in third.stderr and "0 round(s) to measure" in third.stderr
    assert "2 run(s) already in the store: skipped" in third.stderr


def test_the_page_renders_and_says_what_it_measured(swept):
    require_command("chromium")
    page = (swept.folder / "sweep.html").read_text()
    assert "NOT A PHONE" in page and "int8 dot-product features" in page
    assert all(model in page for model in MODELS)
    result = check_render(swept.folder / "sweep.html", swept.folder / "sweep.png")
    # RenderCheck.ok wants 500 plot-blue pixels, set for the compare report's bars; this page
    # plots two points in that blue: it must show them, and everything else must hold.
    assert result.images == result.images_loaded == 1 and result.images_broken == 0
    assert result.non_white_fraction > 0.02 and result.colours > 50, result.describe()
    assert result.plot_pixels > 100, result.describe()


def test_a_point_outside_the_grid_is_one_line(tmp_path):
    argv = [sys.executable, "-m", "bench", "sweep", "--families", "v3_small", "--models"]
    done = _run([*argv, "mobilenet_v3_small_0.9_224", "--store", str(tmp_path / "s.sqlite")])
    assert done.returncode == 2
    assert done.stderr.startswith("error: --models mobilenet_v3_small_0.9_224: not in the papers'")
    assert "Traceback" not in done.stderr
