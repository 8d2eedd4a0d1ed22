"""`profile --devices A,B`: the same artifact's layers on two devices, paired, with the layer that
got relatively slower named (synthetic stored profiles in a real store, through the real CLI)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import cli
from bench.profile.view import latest_views, side_by_side
from bench.store import ArtifactRecord, DeviceRecord, LayerRecord, ProfileRecord, Store

SHA = "cd" * 32


def _layers(dwconv_ms: float) -> tuple[LayerRecord, ...]:
    return (
        LayerRecord(0, "conv 3x3/2 3->16", "conv", 0.10, kernel=3, stride=2, madds=10**6),
        LayerRecord(1, "dwconv 3x3 16", "dwconv", dwconv_ms, kernel=3, groups=16, madds=10**5),
        LayerRecord(2, "conv 1x1 16->32", "conv", 0.20, kernel=1, madds=4 * 10**6),
    )


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    path = tmp_path / "two.sqlite"
    with Store.open(path) as store:
        store.upsert_device(DeviceRecord("host:vm", "host", name="vm"))
        store.upsert_device(DeviceRecord("R58M", "phone", name="Pixel 7"))
        store.upsert_artifact(ArtifactRecord(SHA, "mobilenet_v1_0.25_32", "xnnpack-fp32"))
        store.record_profile(ProfileRecord("host:vm", SHA, "host", 10, _layers(0.05)))
        # on the phone everything is 2x slower, but the depthwise layer 4x (twice relatively)
        phone = tuple(
            LayerRecord(r.idx, r.name, r.op, r.time_ms * (4 if r.op == "dwconv" else 2))
            for r in _layers(0.05)
        )
        store.record_profile(ProfileRecord("R58M", SHA, "phone", 10, phone))
    return path


def test_the_relatively_slower_layer_is_the_depthwise_one(store_path: Path) -> None:
    with Store.open(store_path) as store:
        host, phone = latest_views(store, devices=["host:vm", "R58M"])
    pairs = side_by_side(host, phone)
    assert [p.layer.op for p in pairs] == ["conv", "dwconv", "conv"]
    overall = phone.ops_ms / host.ops_ms  # (0.2 + 0.2 + 0.4) / 0.35
    by_op = {p.layer.name: p.relative for p in pairs}
    assert by_op["dwconv 3x3 16"] == pytest.approx(4 / overall)
    assert by_op["conv 1x1 16->32"] == pytest.approx(2 / overall)
    assert by_op["dwconv 3x3 16"] > 1 > by_op["conv 1x1 16->32"]


def test_cli_prints_the_pair_and_names_the_slower_layer(store_path: Path, capsys) -> None:
    assert cli.main(["profile", "--store", str(store_path), "--devices", "host:vm,R58M"]) == 0
    out = capsys.readouterr().out
    assert "layer by layer" in out and "relatively slower on B: #1 dwconv 3x3 16" in out


def test_devices_without_a_common_artifact_is_one_line(store_path: Path, capsys) -> None:
    assert cli.main(["profile", "--store", str(store_path), "--devices", "host:vm,nobody"]) == 2
    err = capsys.readouterr().err
    assert "no artifact is profiled on both host:vm and nobody" in err
    assert len(err.strip().splitlines()) == 1
