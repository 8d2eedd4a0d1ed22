"""Every runtime of the peer benchmark runs a tiny MobileNet and yields samples that are stored.

The tiny model (mobilenet_v1_0.25_32) goes through the real path: build_model, torch.onnx
export, ORT static QDQ quantization, XNNPACK lowering (our artifacts), one process per
measurement. Files are cached under build/peers by content, so a rerun costs little.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from bench.cli import main as bench_main
from bench.errors import PeerError
from bench.peers import RUNTIMES
from bench.peers.bench import ORDER, bench_peers, measure_peer
from bench.peers.prepare import PEERS_ROOT, prepare
from bench.runner import build
from bench.runner.run import RunnerConfig
from bench.store import ArtifactRecord, Store
from bench.targets.base import Artifact
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
    with Store.open(tmp_path / "s.sqlite") as store:
        report = bench_peers([spec], store, CONFIG, artifacts=ours)
        assert [m.runtime for m in report.measurements] == list(ORDER)
        for m in report.measurements:
            assert m.ok, m.error
            assert len(m.result.samples_ms) >= CONFIG.iterations
            assert all(s > 0 for s in m.result.samples_ms)
            assert m.result.threads == 1
        (row,) = report.rows
        assert set(row.summaries) == set(ORDER) and not row.errors
        assert set(row.ratios) == {"fp32", "int8"}
        assert row.gmacs("et-int8") and row.gmacs("et-int8") > 0
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
    with Store.open(tmp_path / "s.sqlite") as store:
        report = bench_peers(
            [spec],
            store,
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


def test_a_locked_store_keeps_the_measurement_in_the_table(tmp_path, spec, peer, ours):
    """Another process holds the store for the whole sweep: each measurement is still in the
    table (its samples, its median), says it was not stored, and the next one still runs."""
    from tests.bench.test_store import locked_by_another_process

    path = tmp_path / "s.sqlite"
    Store.open(path).close()
    with locked_by_another_process(path), Store.open(path, lock_timeout_s=0.3) as store:
        report = bench_peers(
            [spec], store, CONFIG, runtimes=["ort-fp32", "et-fp32"], artifacts=ours
        )
    assert [m.runtime for m in report.measurements] == ["ort-fp32", "et-fp32"]
    for m in report.measurements:
        assert m.ok and m.run_id is None and "NOT STORED in" in m.not_stored
        assert "locked by another process" in m.not_stored and "\n" not in m.not_stored
    (row,) = report.rows
    assert set(row.summaries) == {"ort-fp32", "et-fp32"} and not row.errors
    assert report.runs[(MODEL, "ort-fp32")]["run_ids"] == ["NOT STORED"]
    with Store.open(path) as store:
        assert store.runs() == [] and len(store.import_unstored()) == 2
        assert {r.recipe for r in store.runs()} == {"ort-fp32", "xnnpack-fp32"}
