"""Per-layer profiles on this host: the real runner writes a real ETDump, ExecuTorch's Inspector
reads it, and every operator lands on the layer the tiny net is known to have."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest

from bench import cli
from bench.profile.etdump import OpEvent
from bench.profile.layers import OVERHEAD, LayerMappingError, align
from bench.profile.peak import ensure_probes, measure_peak
from bench.profile.record import build_profile, profiling_config
from bench.profile.xnngraph import XnnNode, read_graph
from bench.runner.run import RunnerConfig, run_host
from bench.session import run_session
from bench.store import ArtifactRecord, Store
from bench.targets.base import Artifact
from bench.targets.host import HostTarget
from tests.profile.known_model import KNOWN

FAST = RunnerConfig(warmup=1, iterations=5, min_time_s=0.0, max_time_s=0.0)


def _layers(record):
    return [r for r in record.layers if r.op in ("conv", "dwconv", "linear")]


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_known_layers_are_mapped_with_their_madds(
    known_pte: dict[str, Path], host_runner: Path, tmp_path: Path, precision: str
) -> None:
    pte = known_pte[precision]
    config = profiling_config(FAST, iterations=6)
    etdump = tmp_path / "p.etdp"
    result = run_host(host_runner, pte, config, etdump_file=etdump)
    record, mapped = build_profile(
        etdump,
        pte,
        device_id="d",
        artifact_sha256=result.artifact_sha256,
        provenance="host",
        session_id="s",
        config=config,
        keep_in=tmp_path / "kept",
    )
    got = [
        (r.op, r.kernel, r.stride, r.groups, r.in_channels, r.out_channels, r.madds)
        for r in _layers(record)
    ]
    assert got == list(KNOWN)
    assert record.iterations == 6 + 1  # the measured iterations and the output check
    assert all(r.time_ms >= 0 for r in record.layers)
    assert sum(r.time_ms for r in _layers(record)) > 0
    # every delegated operator event is a row; two overhead rows close the table
    assert [r.op for r in record.layers[-2:]] == [OVERHEAD, OVERHEAD]
    assert all("event" in r.detail for r in record.layers[:-2])
    assert mapped.ops_ms <= mapped.execute_ms * 1.05
    assert (tmp_path / "kept" / f"{record.etdump_sha256[:16]}.etdp").exists()


def test_graph_madds_are_the_papers_count(known_pte: dict[str, Path]) -> None:
    nodes = read_graph(known_pte["fp32"])
    assert sum(n.madds or 0 for n in nodes if n.is_layer) == sum(k[-1] for k in KNOWN)


def _node(i: int, op: str) -> XnnNode:
    return XnnNode(i, f"XNN{op}", i, 0, op)


def test_alignment_skips_fused_nodes_and_refuses_a_different_program() -> None:
    nodes = [_node(0, "conv"), _node(1, "clamp"), _node(2, "hardswish"), _node(3, "linear")]
    events = [
        OpEvent("Convolution (NHWC, F32) IGEMM #1", True, (1.0,)),
        OpEvent("Invalid Unary Op #1", True, (1.0,)),  # XNNPACK's name for int8 hardswish
        OpEvent("Fully Connected (NC, F32) GEMM #1", True, (1.0,)),
    ]
    assert [n.index if n else None for n in align(nodes, events)] == [0, 2, 3]
    extra = [*events, OpEvent("Convolution (NHWC, F32) IGEMM #2", True, (1.0,))]
    with pytest.raises(LayerMappingError, match="3 convolution/fully connected operators ran"):
        align(nodes, extra)


def _artifact(path: Path, model: str, recipe: str, precision: str) -> Artifact:
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    return Artifact(ArtifactRecord(sha, model, recipe, precision=precision), path)


def test_bench_host_profile_round_is_stored_with_the_timed_session(
    known_pte: dict[str, Path], host_runner: Path, tmp_path: Path
) -> None:
    """The session's --profile: timed rounds untouched, one profiling round per artifact stored
    with the timed session's id, then the command's table and HTML (names escaped)."""
    store_path = tmp_path / "bench.sqlite"
    art = _artifact(known_pte["fp32"], "known<b>net", "xnnpack-fp32", "fp32")
    target = HostTarget(runner=host_runner)
    (outcome,) = run_session(
        [target], [art], FAST, store_path, rounds=2, profile=True, profile_iterations=5
    )
    assert outcome.error is None, outcome.error
    with Store.open(store_path) as store:
        (profile,) = store.profiles()
        runs = store.runs(artifact_sha256=art.record.sha256)
        assert len(runs) == 2  # the profiling round is not a timed run
        assert {r.session_id for r in runs} == {profile.session_id}
        assert profile.provenance == "host" and profile.iterations == 6
        assert [r.madds for r in _layers(profile)] == [k[-1] for k in KNOWN]
        assert (store_path.parent / "etdumps" / f"{profile.etdump_sha256[:16]}.etdp").exists()
    out = io.StringIO()
    html = tmp_path / "profile.html"
    from contextlib import redirect_stdout

    with redirect_stdout(out):
        code = cli.main(["profile", "--store", str(store_path), "--html", str(html)])
    text = out.getvalue()
    assert code == 0
    assert "dwconv 5x5/2 16" in text and "sum of the operators' times" in text
    assert "measured median latency" in text and "NOT a phone" in text
    page = html.read_text()
    assert "known&lt;b&gt;net" in page and "known<b>net" not in page
    assert page.count("data:image/png;base64,") == 2


def test_peak_probe_is_stored_per_precision(host_runner: Path, tmp_path: Path) -> None:
    from deploy.export.probe import ProbeShape, export_probes

    shape = ProbeShape(layers=2, channels=32, size=8)
    export_probes(tmp_path / "probes", shape)
    probes = ensure_probes(tmp_path / "probes", shape)  # the ones just exported
    assert set(probes) == {"fp32", "int8"}
    nodes = read_graph(probes["int8"].path)
    assert sum(n.madds or 0 for n in nodes if n.is_layer) == probes["int8"].record.madds
    target = HostTarget(runner=host_runner)
    device = target.open()
    peak = measure_peak(target, probes["fp32"], FAST, device_id=device.id, rounds=2)
    assert peak.gmacs == pytest.approx(peak.madds / peak.median_ms / 1e6)
    assert len(peak.detail["round_medians_ms"]) == 2
    with Store.open(tmp_path / "s.sqlite") as store:
        store.upsert_device(device)
        store.record_peak(peak)
        assert store.peaks(device_id=device.id, precision="fp32")[0].gmacs == peak.gmacs
