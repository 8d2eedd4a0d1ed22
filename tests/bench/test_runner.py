"""bench_runner on the host: the JSON it prints, determinism, stop rules and failures."""

from __future__ import annotations

import hashlib
import subprocess

import numpy as np
import pytest

from bench.errors import RunnerError
from bench.results import RunnerResult
from bench.runner.run import RunnerConfig, run_host
from tests.bench.tiny_models import INPUT_SHAPE, NUM_CLASSES


def test_result_follows_schema(host_runner, tiny_pte, tmp_path):
    out = tmp_path / "out.bin"
    config = RunnerConfig(warmup=3, iterations=7)
    result = run_host(host_runner, tiny_pte["fp32"], config, core=0, output_file=out)
    assert result.schema_version == 1
    assert result.runner_name == "bench_runner" and result.runner_version == "0.1.0"
    assert result.executorch_version.startswith("1.5.1")
    assert result.artifact_sha256 == hashlib.sha256(tiny_pte["fp32"].read_bytes()).hexdigest()
    assert result.threads == 1  # the pool was reset to one XNNPACK thread
    assert result.warmup == 3 and len(result.warmup_ms) == 3
    assert result.iterations == 7 and len(result.samples_ms) == 7
    assert result.load_ms > 0 and result.first_inference_ms > 0
    assert result.cpu_mask == "0x1"  # taskset -c 0
    assert result.device["cpu_start"] == 0 and result.device["affinity"] == [0]
    assert result.config["input_shape"] == list(INPUT_SHAPE)
    assert result.output["shape"] == [1, NUM_CLASSES] and result.output["dtype"] == "float32"
    values = np.fromfile(out, dtype=np.float32)
    assert values.size == NUM_CLASSES
    assert int(values.argmax()) == result.top1
    assert float(values.astype(np.float64).sum()) == pytest.approx(result.checksum, rel=1e-12)
    assert not result.emulated


def test_deterministic_input_and_input_file(host_runner, tiny_pte, tmp_path):
    config = RunnerConfig(warmup=0, iterations=1)
    a = run_host(host_runner, tiny_pte["int8"], config)
    b = run_host(host_runner, tiny_pte["int8"], config)
    assert a.checksum == b.checksum and a.top1 == b.top1
    other = run_host(host_runner, tiny_pte["int8"], RunnerConfig(warmup=0, iterations=1, seed=3))
    assert other.checksum != a.checksum

    zeros = tmp_path / "zeros.bin"
    np.zeros(INPUT_SHAPE, dtype=np.float32).tofile(zeros)
    z = run_host(host_runner, tiny_pte["fp32"], config, input_file=zeros)
    assert z.config["input"] == f"file:{zeros}"
    short = tmp_path / "short.bin"
    short.write_bytes(b"\0" * 12)
    with pytest.raises(RunnerError, match="bytes, the model wants"):
        run_host(host_runner, tiny_pte["fp32"], config, input_file=short)


def test_stop_rules(host_runner, tiny_pte):
    precise = run_host(
        host_runner,
        tiny_pte["fp32"],
        RunnerConfig(warmup=2, iterations=10, target_precision=0.5, max_time_s=20),
    )
    assert precise.config["stop_reason"] == "precision"
    budget = run_host(
        host_runner,
        tiny_pte["fp32"],
        RunnerConfig(warmup=0, iterations=10**7, max_iterations=10**8, max_time_s=0.2),
    )
    assert budget.config["stop_reason"] == "time_budget"
    assert 10 < budget.iterations < 10**7
    capped = run_host(
        host_runner, tiny_pte["fp32"], RunnerConfig(warmup=0, iterations=5, max_iterations=5)
    )
    assert capped.iterations == 5


def test_etdump(host_runner, tiny_pte, tmp_path):
    dump = tmp_path / "prof.etdp"
    run_host(host_runner, tiny_pte["fp32"], RunnerConfig(warmup=0, iterations=2), etdump_file=dump)
    assert dump.stat().st_size > 0


def test_bad_model_is_one_line(host_runner, tmp_path):
    bad = tmp_path / "bad.pte"
    bad.write_bytes(b"not a program" * 10)
    with pytest.raises(RunnerError) as info:
        run_host(host_runner, bad, RunnerConfig(warmup=0, iterations=1))
    assert "cannot load program" in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(RunnerError, match="does not exist"):
        run_host(host_runner, tmp_path / "missing.pte", RunnerConfig())


def test_hang_is_killed(host_runner, tiny_pte):
    config = RunnerConfig(warmup=0, iterations=10**8, max_iterations=10**8)
    with pytest.raises(RunnerError, match="timed out after 0.5s"):
        run_host(host_runner, tiny_pte["fp32"], config, timeout=0.5)


def test_crash_is_reported(tiny_pte, tmp_path):
    # a runner killed by a signal: name the signal, no traceback
    crashing = tmp_path / "crashing_runner"
    crashing.write_text("#!/bin/sh\necho 'about to crash' >&2\nkill -SEGV $$\n")
    crashing.chmod(0o755)
    with pytest.raises(RunnerError, match="crashed \\(SIGSEGV\\)"):
        run_host(crashing, tiny_pte["fp32"], RunnerConfig())
    silent = tmp_path / "silent_runner"
    silent.write_text("#!/bin/sh\necho not json\n")
    silent.chmod(0o755)
    with pytest.raises(RunnerError, match="no result JSON"):
        run_host(silent, tiny_pte["fp32"], RunnerConfig())


def test_version_flag(host_runner):
    out = subprocess.run([str(host_runner), "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("bench_runner 0.1.0 executorch 1.5.1")
    usage = subprocess.run([str(host_runner), "--bogus"], capture_output=True, text=True)
    assert usage.returncode == 2 and "unknown argument" in usage.stderr


def test_result_roundtrip(host_runner, tiny_pte):
    result = run_host(host_runner, tiny_pte["fp32"], RunnerConfig(warmup=0, iterations=2))
    assert RunnerResult.from_json(result.to_json()) == result
