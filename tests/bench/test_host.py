"""bench-host: the host as a device, failed-run rows, the table, the CLI with a manifest."""

from __future__ import annotations

import hashlib
import shutil
import sys
from pathlib import Path

import pytest

from bench.cli import main
from bench.report import sessions
from bench.rows import Row
from bench.runner.run import RunnerConfig
from bench.session import run_session
from bench.store import ArtifactRecord, Store
from bench.targets import host as host_target
from bench.targets.base import Artifact
from bench.targets.host import HostTarget
from deploy.artifacts.manifest import MANIFEST_NAME, Manifest
from tests.bench.test_store import locked_by_another_process
from tests.export.helpers import make_entry

FAST = RunnerConfig(warmup=1, iterations=5)
#: bench-host's options for one short round per artifact
ONE_FAST_ROUND = ["--rounds", "1", "--iterations", "5", "--warmup", "1", "--min-time", "0"]
ONE_FAST_ROUND += ["--target-precision", "0"]


def _artifact(path: Path, model="mobilenet_v2_1.0_224", recipe="xnnpack_fp32", sha=None):
    sha = sha or hashlib.sha256(path.read_bytes()).hexdigest()
    record = ArtifactRecord(sha, model, recipe, precision=recipe.rsplit("_", 1)[-1])
    return Artifact(record, path)


def _row(model: str, recipe: str, precision: str, summary) -> Row:
    return Row("host", "ci-host", "host", model, recipe, precision, 1, "0x2", "ok", summary=summary)


def test_host_facts():
    facts = host_target.host_facts(host_target.default_core())
    assert facts["core"] in host_target.allowed_cpus() and facts["cpu_model"]
    assert len(facts["loadavg"]) == 3 and facts["kernel"]
    assert host_target.host_device().kind == "host"
    assert set(facts["int8_dot"]) <= set(host_target.INT8_DOT_FEATURES)


def test_int8_dot_features_from_cpuinfo():
    x86 = "processor\t: 0\nflags\t\t: fpu sse2 avx2 fma avx_vnni avx512f\n"
    avx2_only = "processor\t: 0\nflags\t\t: fpu sse2 avx2 fma\n"
    arm = "processor\t: 0\nFeatures\t: fp asimd crc32 asimddp i8mm\n"
    assert host_target.int8_dot_features(x86) == ["avx_vnni"]
    assert host_target.int8_dot_features(avx2_only) == []
    assert host_target.int8_dot_features(arm) == ["asimddp", "i8mm"]
    assert host_target.int8_dot_features("") == []


def test_table_notes_int8_on_an_x86_cpu_without_int8_dot_product():
    from rich.console import Console

    from bench import stats

    summary = stats.summarize([1.0, 1.1, 0.9, 1.0, 1.05])
    facts = {"cpu_model": "Test CPU", "core": 1, "loadavg": [0.0, 0.0, 0.0], "online_cpus": 2}
    for precision, int8_dot, expected in (
        ("int8", [], True),
        ("int8", ["avx_vnni"], False),
        ("fp32", [], False),  # no int8 row: nothing to warn about
    ):
        row = _row("m", f"xnnpack-{precision}", precision, summary)
        console = Console(record=True, width=200)
        sessions.render_host(
            [row], {**facts, "machine": "x86_64", "int8_dot": int8_dot}, FAST, console
        )
        assert ("no int8 dot product" in console.export_text()) is expected


def test_bench_artifacts_ok_and_failures(host_runner, tiny_pte, tmp_path):
    tampered = tmp_path / "tampered.pte"
    shutil.copy(tiny_pte["fp32"], tampered)
    good_sha = hashlib.sha256(tampered.read_bytes()).hexdigest()
    with open(tampered, "ab") as f:
        f.write(b"\0")
    artifacts = [
        _artifact(tiny_pte["fp32"]),
        _artifact(tiny_pte["int8"], recipe="xnnpack_int8"),
        _artifact(tmp_path / "missing.pte", recipe="missing", sha="00" * 32),
        _artifact(tampered, recipe="tampered", sha=good_sha),
    ]
    target = HostTarget(runner=host_runner)
    (outcome,) = run_session([target], artifacts, FAST, tmp_path / "bench.sqlite")
    rows = outcome.rows
    with Store.open(tmp_path / "bench.sqlite") as store:
        assert [r.status for r in rows] == ["ok", "ok", "failed", "failed"], [r.error for r in rows]
        assert "missing" in rows[2].error and "nox -s export" in rows[2].error
        assert "manifest says" in rows[3].error
        runs = store.runs()
        assert [r.status for r in runs] == ["ok", "ok", "failed", "failed"]
        ok = runs[0]
        assert ok.provenance == "host" and ok.threads == 1 and ok.latencies_valid
        assert ok.machine["core"] == host_target.default_core() and "loadavg_after" in ok.machine
        assert len(store.samples(ok.id)) == 5 and len(store.samples(ok.id, "warmup")) == 1
        assert store.has_run(ok.device_id, ok.artifact_sha256, FAST.key())
        assert rows[0].paper_ms.get("Pixel 1") is not None  # the paper's figure rides along


def test_hang_becomes_failed_row(host_runner, tiny_pte, tmp_path):
    endless = RunnerConfig(warmup=0, iterations=10**8, max_iterations=10**8)
    target = HostTarget(runner=host_runner, timeout_s=1.0)
    (outcome,) = run_session([target], [_artifact(tiny_pte["fp32"])], endless, tmp_path / "s.db")
    rows = outcome.rows
    with Store.open(tmp_path / "s.db") as store:
        assert rows[0].status == "failed" and "timed out" in rows[0].error
        assert store.runs()[0].error == rows[0].error


@pytest.fixture
def fake_manifest(tiny_pte, tmp_path):
    """A real manifest over the tiny models (labelled as MobileNetV1), plus two entries
    bench_runner cannot run: a Core ML package and a .pte delegated to Core ML."""
    folder = tmp_path / "artifacts"
    folder.mkdir()
    v1 = {"name": "mobilenet_v1_1.0_224", "family": "mobilenet_v1", "width": 1.0, "resolution": 224}
    entries = [
        make_entry(
            folder,
            path.name,
            path.read_bytes(),
            model=v1,
            recipe={
                "name": f"xnnpack_{precision}",
                "backend": "xnnpack",
                "precision": precision,
                "format": ".pte",
            },
            input_shape=[1, 3, 32, 32],
        )
        for precision, path in tiny_pte.items()
    ]
    coreml = {"name": "coreml_fp16", "backend": "coreml", "precision": "fp16"}
    entries.append(
        make_entry(folder, "m.mlpackage", model=v1, recipe={**coreml, "format": "mlpackage"})
    )
    et_coreml = {"name": "et-coreml-fp16", "backend": "coreml", "precision": "fp16"}
    entries.append(
        make_entry(folder, "m-coreml.pte", model=v1, recipe={**et_coreml, "format": ".pte"})
    )
    manifest = Manifest(folder / MANIFEST_NAME, entries)
    manifest.save()
    return manifest.path


def test_cli_bench_host(fake_manifest, tmp_path, capsys):
    store = tmp_path / "results" / "bench.sqlite"
    argv = ["bench-host", "--manifest", str(fake_manifest), "--store", str(store)]
    argv += ONE_FAST_ROUND
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "THIS HOST" in out and "Pixel 1 (paper)" in out
    assert "xnnpack_fp32" in out and "xnnpack_int8" in out
    # only one recipe, then a tampered file: one line on stderr, exit 2, a failed row
    (fake_manifest.parent / "tiny_int8.pte").write_bytes(b"tampered")
    assert main([*argv, "--recipes", "xnnpack_int8"]) == 2
    err = capsys.readouterr().err
    assert "error: mobilenet_v1_1.0_224 xnnpack_int8:" in err and "Traceback" not in err
    with Store.open(store) as s:
        assert [r.status for r in s.runs()] == ["ok", "ok", "failed"]


def test_cli_errors_are_one_line(fake_manifest, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert (
        main(["bench-host", "--manifest", str(fake_manifest), "--store", str(blocker / "x.sqlite")])
        == 2
    )
    assert "cannot open results store" in capsys.readouterr().err
    assert main(["bench-host", "--manifest", str(tmp_path / "none.json")]) == 2
    assert "run `nox -s export` first" in capsys.readouterr().err
    assert main(["bench-host", "--manifest", str(fake_manifest), "--models", "nope"]) == 2
    assert "no valid .pte artifact" in capsys.readouterr().err


def test_cli_unlisted_pte_and_spread_script(tiny_pte, tmp_path, capsys):
    store = tmp_path / "bench.sqlite"
    argv = ["--pte", str(tiny_pte["fp32"]), "--store", str(store), "--iterations", "20"]
    argv += ["--warmup", "2", "--min-time", "0.2", "--target-precision", "0", "--rounds", "3"]
    assert main(["bench-host", *argv]) == 0
    assert "unlisted:tiny_fp32.pte" in capsys.readouterr().out
    with Store.open(store) as s:
        runs = s.runs()
        assert [r.round for r in runs] == [0, 1, 2] and len({r.session_id for r in runs}) == 1
        assert all(r.recipe == "unlisted" and r.provenance == "host" for r in runs)

    import subprocess

    script = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_host_spread.py"
    proc = subprocess.run(
        [sys.executable, str(script), "--repeats", "2", "--tolerance", "10", "--", *argv],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert "spread of medians (of round medians) over 2 bench-host runs" in proc.stdout
    assert "unlisted:tiny_fp32.pte" in proc.stdout and "worst spread" in proc.stdout


def test_cli_bench_host_with_a_locked_store(fake_manifest, tmp_path, capsys, monkeypatch):
    """Another process holds the store for the whole run: every median is still printed, each
    run says in one line that it was not stored, the session goes on and exits 2; the kept runs
    go in once the store is free."""
    import re

    from bench import store as store_module

    monkeypatch.setattr(store_module, "LOCK_TIMEOUT_S", 0.5, raising=False)  # raising: old code
    store = tmp_path / "results" / "bench.sqlite"
    Store.open(store).close()
    argv = ["bench-host", "--manifest", str(fake_manifest), "--store", str(store)]
    argv += ONE_FAST_ROUND
    with locked_by_another_process(store):
        assert main(argv) == 2
        captured = capsys.readouterr()
    err, out = captured.err, captured.out
    assert "Traceback" not in err
    for recipe in ("xnnpack_fp32", "xnnpack_int8"):  # the second run went on after the first
        assert re.search(
            rf"mobilenet_v1_1.0_224 {recipe}: median [0-9.]+ ms \(n=5, NOT STORED\)", err
        )
    lines = [line for line in err.splitlines() if "NOT STORED in" in line]
    assert len(lines) == 2
    assert all(str(store) in line and "locked by another process" in line for line in lines)
    assert "NOT STORED" in out and "2 run(s): NOT STORED" in out
    with Store.open(store) as s:
        assert s.runs() == []
        assert len(s.import_unstored()) == 2
        runs = s.runs()
        assert [r.recipe for r in runs] == ["xnnpack_fp32", "xnnpack_int8"]
        assert all(r.status == "ok" and len(s.samples(r.id)) == 5 for r in runs)
