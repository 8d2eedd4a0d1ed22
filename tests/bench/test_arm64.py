"""The arm64 bundle (released aarch64 wheel + Debian cross g++ + the cross glibc) under
qemu-user with a real core model, against the host build on the same .pte: fp32 within 1e-5,
int8 exact. qemu timings mean nothing: the results are flagged emulated."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from bench.results import RunnerResult
from bench.runner import build
from bench.runner.run import RunnerConfig, run_host
from tests.conftest import require_command

CONFIG = RunnerConfig(warmup=0, iterations=2)
# Debian's qemu 7.2 defaults to the `max` CPU, which enables SME and gives WRONG int8 results
# from XNNPACK: pin a real core model.
QEMU_CPU = "cortex-a76"


def run_bundle_qemu(
    bundle_dir: Path, model: Path, config: RunnerConfig, *, output_file: Path, work: Path
) -> RunnerResult:
    """Run the arm64 bundle under qemu-user, as a phone would: a copy of the bundle and the
    model in an otherwise empty folder, an empty environment. The result is flagged emulated:
    its timings mean nothing."""
    qemu = require_command("qemu-aarch64-static")
    shutil.copytree(bundle_dir, work, symlinks=False)
    shutil.copy2(model, work / "model.pte")
    argv = [qemu, "-cpu", QEMU_CPU, "./ld-linux-aarch64.so.1", "--library-path", "./lib"]
    argv += ["./bench_runner", "--model", "model.pte", *config.argv(), "--output-file", "out.bin"]
    proc = subprocess.run(argv, cwd=work, env={}, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    shutil.copy2(work / "out.bin", output_file)
    results = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    assert results, proc.stdout
    return RunnerResult.from_json(results[-1]).with_emulated(True)


def test_bundle_is_self_contained(arm64_bundle):
    info = json.loads((arm64_bundle.path / "BUNDLE.json").read_text())
    names = set(info["files"])
    assert {"bench_runner", "ld-linux-aarch64.so.1", "run.sh"} <= names
    for lib in build.RUNTIME_LIBS + ("libc.so.6", "libstdc++.so.6", "libm.so.6"):
        assert f"lib/{lib}" in names, lib
    assert info["size_bytes"] < 32 * 2**20


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_qemu_output_matches_host(precision, host_runner, arm64_bundle, tiny_pte, tmp_path):
    require_command("qemu-aarch64-static")
    model = tiny_pte[precision]
    host = run_host(host_runner, model, CONFIG, output_file=tmp_path / "host.bin")
    arm = run_bundle_qemu(
        arm64_bundle.path, model, CONFIG, output_file=tmp_path / "arm.bin", work=tmp_path / "arm"
    )
    assert arm.emulated and not host.emulated
    assert arm.device["machine"] == "aarch64"
    assert arm.artifact_sha256 == host.artifact_sha256
    h = np.fromfile(tmp_path / "host.bin", dtype=np.float32)
    a = np.fromfile(tmp_path / "arm.bin", dtype=np.float32)
    assert h.shape == a.shape and h.size > 0
    if precision == "fp32":
        np.testing.assert_allclose(a, h, rtol=0, atol=1e-5)
    else:
        np.testing.assert_array_equal(a, h)  # int8 kernels must agree bit for bit
    assert arm.top1 == host.top1
