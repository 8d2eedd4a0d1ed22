"""Every runtime of the peer benchmark runs a tiny MobileNet and yields samples that are stored.

The tiny model (mobilenet_v1_0.25_32) goes through the real path: build_model, torch.onnx
export, ORT static QDQ quantization, XNNPACK lowering (our artifacts), one process per
measurement, measured and stored by the session (bench.session) over the peers target.
Files are cached under build/peers by content, so a rerun costs little.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from bench.cli import main as bench_main
from bench.errors import PeerError
from bench.peers import RUNTIMES
from bench.peers.bench import ORDER, bench_peers
from bench.peers.prepare import PEERS_ROOT, prepare
from bench.runner import build
from bench.runner.run import RunnerConfig
from bench.session import run_session
from bench.store import ArtifactRecord, Store
from bench.targets.base import Artifact
from bench.targets.peers import PeersTarget, measure_peer, peer_entry
from deploy.artifacts.hashing import sha256_file

pytest.importorskip("onnxruntime")

MODEL = "mobilenet_v1_0.25_32"
CONFIG = RunnerConfig(threads=1, warmup=1, iterations=4)


@pytest.fixture(scope="module")
def spec():
    from deploy.models import parse_model_name

    return parse_model_name(MODEL)


@pytest.fixture(scope="module")
def peer(spec):
    return prepare(spec)


@pytest.fixture(scope="module")
def ours(spec) -> dict[tuple[str, str], Artifact]:
    """Our two artifacts of the same model, lowered by the export's own XNNPACK module."""
    import copy

    from deploy.export import xnnpack
    from deploy.export.recipes import get_recipe
    from deploy.images import load_images
    from deploy.models import build_model

    key = hashlib.sha256(
        Path(xnnpack.__file__).read_bytes() + build.executorch_version().encode() + MODEL.encode()
    ).hexdigest()[:12]
    folder = PEERS_ROOT / f"test-artifacts-{key}"
    folder.mkdir(parents=True, exist_ok=True)
    built, calibration = None, None
    out = {}
    for runtime in ("et-fp32", "et-int8"):
        recipe = get_recipe(RUNTIMES[runtime].recipe)
        path = folder / f"{MODEL}_{recipe.name}.pte"
        if not path.exists():
            if built is None:
                built = build_model(spec)
                calibration = load_images(None, spec.resolution).split()[0].tensor[:2]
            module = copy.deepcopy(built.module)
            lowered = xnnpack.lower(module, recipe, calibration[:1], calibration)
            lowered.write(path.with_suffix(".tmp"))
            path.with_suffix(".tmp").replace(path)
        record = ArtifactRecord(
            sha256_file(path),
            MODEL,
            recipe.name,
            precision=recipe.precision,
            weights_source="random",
            input_shape=spec.input_shape,
            file=str(path),
        )
        out[(MODEL, runtime)] = Artifact(record, path)
    return out


def test_every_runtime_yields_samples_and_is_stored(tmp_path, spec, peer, ours):
    report = bench_peers([spec], tmp_path / "s.sqlite", CONFIG, artifacts=ours)
    assert [m.runtime for m in report.measurements] == list(ORDER)
    for m in report.measurements:
        assert m.ok, m.error
        (samples,) = m.rounds_ms  # one round
        assert len(samples) >= CONFIG.iterations
        assert all(s > 0 for s in samples)
    (row,) = report.rows
    assert set(row.summaries) == set(ORDER) and not row.errors
    assert set(row.ratios) == {"fp32", "int8"}
    assert row.gmacs("et-int8") and row.gmacs("et-int8") > 0
    with Store.open(tmp_path / "s.sqlite") as store:
        assert [r.threads for r in store.runs()] == [1] * len(ORDER)
        peers = store.runs(provenance="peer")
        assert sorted(r.recipe for r in peers) == ["eager-fp32", "ort-fp32", "ort-int8"]
        assert {r.recipe: r.runner_version for r in peers}["ort-int8"]  # the runtime's version
        by_recipe = {r.recipe: r for r in peers}
        assert by_recipe["eager-fp32"].runner_version.startswith("2.")
        hosts = store.runs(provenance="host")
        assert sorted(r.recipe for r in hosts) == ["xnnpack-fp32", "xnnpack-int8"]
        for run in peers + hosts:
            assert store.samples(run.id) and run.latencies_valid
        # one input for all: every run's config key names the same image
        assert len({r.config_key for r in peers + hosts}) == 1


def test_the_same_model_gives_the_same_answer_in_every_fp32_runtime(peer):
    top1 = {
        r: measure_peer(r, peer, CONFIG, core=None, timeout=600).top1
        for r in ("eager-fp32", "ort-fp32")
    }
    assert top1["eager-fp32"] == top1["ort-fp32"]


def test_a_broken_peer_file_is_one_line(tmp_path, peer):
    from dataclasses import replace

    bad = tmp_path / "int8.onnx"
    bad.write_bytes(b"not onnx")
    with pytest.raises(PeerError) as info:
        measure_peer("ort-int8", replace(peer, onnx_int8=bad), CONFIG, core=None, timeout=600)
    assert "ort-int8" in str(info.value) and "\n" not in str(info.value)


def test_missing_artifacts_are_a_failed_cell_not_a_crash(tmp_path, spec, peer):
    report = bench_peers(
        [spec],
        tmp_path / "s.sqlite",
        CONFIG,
        runtimes=["ort-int8", "et-int8"],
        manifest=tmp_path / "no-manifest.json",
    )
    (row,) = report.rows
    assert set(row.summaries) == {"ort-int8"}
    assert "nox -s export" in row.errors["et-int8"]


def test_unknown_runtime_is_one_line_and_exit_2(capsys):
    assert bench_main(["bench-peers", "--runtimes", "tflite", "--models", MODEL]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "tflite" in err[0] and "ort-int8" in err[0]


def test_a_locked_store_keeps_the_measurement_in_the_table(tmp_path, spec, peer, ours, monkeypatch):
    """Another process holds the store for the whole sweep: each measurement is still in the
    table (its samples, its median), says it was not stored, and the next one still runs."""
    from bench import store as store_module
    from tests.bench.test_store import locked_by_another_process

    monkeypatch.setattr(store_module, "LOCK_TIMEOUT_S", 0.3)
    path = tmp_path / "s.sqlite"
    Store.open(path).close()
    with locked_by_another_process(path):
        report = bench_peers([spec], path, CONFIG, runtimes=["ort-fp32", "et-fp32"], artifacts=ours)
    assert [m.runtime for m in report.measurements] == ["ort-fp32", "et-fp32"]
    for m in report.measurements:
        assert m.ok and m.run_ids == [] and "NOT STORED in" in m.not_stored
        assert "locked by another process" in m.not_stored and "\n" not in m.not_stored
    (row,) = report.rows
    assert set(row.summaries) == {"ort-fp32", "et-fp32"} and not row.errors
    assert report.runs[(MODEL, "ort-fp32")]["run_ids"] == ["NOT STORED"]
    assert report.failed and len(report.not_stored) == 2
    with Store.open(path) as store:
        assert store.runs() == [] and len(store.import_unstored()) == 2
        assert {r.recipe for r in store.runs()} == {"ort-fp32", "xnnpack-fp32"}


def test_rounds_are_interleaved_across_runtimes_and_carry_their_provenance(
    tmp_path, spec, peer, ours
):
    """--rounds 2 with two runtimes: the session stores A B A B, one run per process, ours with
    provenance host, the peer's with provenance peer, all in one session and one config key."""
    path = tmp_path / "s.sqlite"
    report = bench_peers(
        [spec], path, CONFIG, runtimes=["ort-fp32", "et-fp32"], artifacts=ours, rounds=2
    )
    assert not report.failed
    with Store.open(path) as store:
        runs = store.runs()
        assert [(r.recipe, r.round, r.provenance) for r in runs] == [
            ("ort-fp32", 0, "peer"),
            ("xnnpack-fp32", 0, "host"),
            ("ort-fp32", 1, "peer"),
            ("xnnpack-fp32", 1, "host"),
        ]
        assert [r.runner_name for r in runs[:2]] == ["onnxruntime", "bench_runner"]
        assert len({r.session_id for r in runs}) == 1 and len({r.config_key for r in runs}) == 1
        assert all(r.status == "ok" and store.samples(r.id) for r in runs)
    for m in report.measurements:  # the table pools both rounds
        assert m.ok and len(m.rounds_ms) == 2 and len(m.run_ids) == 2
        assert report.runs[(MODEL, m.runtime)]["run_ids"] == m.run_ids
    (row,) = report.rows
    assert row.summaries["ort-fp32"].n == sum(len(r) for r in report.measurements[0].rounds_ms)


def test_a_failed_peer_round_is_stored_as_failed_and_the_others_go_on(tmp_path, peer):
    """A peer that cannot load its file: its runs are stored failed (provenance peer, its
    engine as the runner), the row says why in one line, the next runtime is still measured."""
    from dataclasses import replace

    bad = tmp_path / "int8.onnx"
    bad.write_bytes(b"not onnx")
    entries = [peer_entry(replace(peer, onnx_int8=bad), "ort-int8"), peer_entry(peer, "ort-fp32")]
    target = PeersTarget(entries)
    (outcome,) = run_session([target], target.artifacts, CONFIG, tmp_path / "s.sqlite", rounds=2)
    failed, ok = outcome.rows
    assert (failed.recipe, failed.status, ok.recipe, ok.status) == (
        "ort-int8",
        "failed",
        "ort-fp32",
        "ok",
    )
    assert "ort-int8" in failed.error and "\n" not in failed.error
    assert failed.rounds_failed == 2 and len(ok.rounds_ms) == 2
    with Store.open(tmp_path / "s.sqlite") as store:
        bad_runs = store.runs(status="failed")
        assert [(r.recipe, r.provenance, r.runner_name) for r in bad_runs] == [
            ("ort-int8", "peer", "onnxruntime")
        ] * 2
        assert bad_runs[0].runner_version  # the engine's version


def test_a_ten_class_checkpoint_runs_in_the_eager_peer(tmp_path):
    """The eager peer rebuilds the model with the checkpoint's class count, not ImageNet's."""
    import numpy as np
    import torch

    from bench.peers._measure import load_eager
    from deploy.models import parse_model_name
    from deploy.models.families import create_architecture

    checkpoint = tmp_path / "ten.pth"
    torch.save(create_architecture("mobilenet_v1", 0.25, 10).state_dict(), checkpoint)
    files = prepare(parse_model_name(MODEL, weights=str(checkpoint)), root=tmp_path / "peers")
    forward, engine = load_eager(files.state_dict, np.zeros((1, 3, 32, 32), np.float32))
    assert engine["name"] == "pytorch-eager" and forward().shape == (1, 10)
