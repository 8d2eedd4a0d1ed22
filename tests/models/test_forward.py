from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from deploy.models.families import create_architecture


@pytest.mark.parametrize(
    ("family", "width"),
    [
        ("mobilenet_v1", 0.25),
        ("mobilenet_v2", 0.35),
        ("mobilenet_v2", 1.4),
        ("mobilenet_v3_large", 0.75),
        ("mobilenet_v3_small", 1.0),
    ],
)
@pytest.mark.parametrize("resolution", [32, 96])
def test_every_family_runs_at_any_resolution(family, width, resolution):
    model = create_architecture(family, width)
    with torch.no_grad():
        out = model(torch.randn(2, 3, resolution, resolution))
    assert out.shape == (2, 1000)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "deploy", *args], capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    "name",
    ["mobilenet_v5_1.0_224", "mobilenet_v2_0_224", "mobilenet_v2_-1_224", "mobilenet_v1_1.0_16"],
)
def test_cli_bad_model_name_is_one_line_and_non_zero(name):
    result = run_cli("zoo", name)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith("error: ")


def test_cli_zoo_prints_ours_beside_the_paper():
    result = run_cli("zoo", "mobilenet_v1_0.25_224", "mobilenet_v3_small_1.0_224")
    assert result.returncode == 0, result.stderr
    line = next(x for x in result.stdout.splitlines() if "mobilenet_v1_0.25_224" in x)
    assert "0.47" in line and "0.5" in line and "41" in line
    assert "v3-table3" in result.stdout
