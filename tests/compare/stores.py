"""Results stores with known samples, written through bench.store's own API.

Every measurement is a session of ROUNDS rounds (one stored run each, one session id), except
the emulated run (one legacy run: a session of one round). The scenario (candidate store
against baseline store):

    Pixel 3 (phone)  v2 1.0 fp32       60 ms -> 66 ms     +10%: a regression (CI above 1.05)
    Pixel 3 (phone)  V3-Large 1.0 fp32 44 ms -> 44.2 ms   +0.5%: same (CI within +-5%)
    Pixel 3 (phone)  V3-Small 1.0 fp32 runner 0.1.0 -> 0.2.0: not comparable
    Pixel 3 (phone)  v2 / V3-Large int8 (for the int8 speedup)
    Pixel 7 (phone)  every fp32 model, only in the candidate (new)
    ci-host (host)   v2 fp32, labelled "not a phone"
    qemu (emulated)  v2 fp32: kept by the store without timings, left out of every table

Samples are exact: 31 values base * (1 + 0.002 k), k = -15..15 in a shuffled order, so the
median is exactly `base` and the spread is +-3%. The rounds of a session are such samples around
base * (1 + 0.005 j), j = -2..2 in a shuffled order: the median of the round medians is exactly
`base`, and the rounds spread +-1%.
"""

from __future__ import annotations

import dataclasses
import hashlib
import random
from pathlib import Path
from typing import Any

from bench.results import RunnerResult
from bench.store import ArtifactRecord, DeviceRecord, RunRecord, Store

V2 = "mobilenet_v2_1.0_224"
V3L = "mobilenet_v3_large_1.0_224"
V3S = "mobilenet_v3_small_1.0_224"
MADDS = {V2: 300_774_272, V3L: 216_602_720, V3S: 56_517_344}  # counts, as a manifest has them
FP32, INT8 = "xnnpack_fp32", "xnnpack_int8"
PIXEL3 = ("SER-P3", "phone", "Pixel 3", "0xf0")
PIXEL7 = ("SER-P7", "phone", "Pixel 7", "0xc0")
HOST = ("host:ci", "host", "ci-host", "0x2")
QEMU = ("host:ci", "emulated", "ci-host", "0x2")


ROUNDS = 5


def samples(base: float, seed: int = 0, n: int = 31, step: float = 0.002) -> list[float]:
    half = n // 2
    values = [base * (1 + step * k) for k in range(-half, half + 1)]
    random.Random(seed).shuffle(values)
    return values


def round_samples(
    base: float, seed: int = 0, rounds: int = ROUNDS, jitter: float = 0.005
) -> list[list[float]]:
    """`rounds` rounds whose medians are base * (1 + jitter * j), j = -(rounds // 2) ..
    rounds // 2 (shuffled): for an odd count the median of the round medians is exactly base."""
    half = rounds // 2
    offsets = [jitter * j for j in range(-half, rounds - half)]
    random.Random(seed).shuffle(offsets)
    return [samples(base * (1 + offset), seed * 100 + i) for i, offset in enumerate(offsets)]


def _sha(model: str, recipe: str) -> str:
    return hashlib.sha256(f"{model}/{recipe}".encode()).hexdigest()


def add_run(
    store: Store,
    device: tuple[str, str, str, str],
    model: str,
    recipe: str,
    values: list[float],
    *,
    runner_version: str = "0.1.0",
    threads: int = 1,
    started_at: str = "2025-01-01T00:00:00",
    label: str = "",
    madds: int | None = None,
    session_id: str | None = None,
    round_index: int = 0,
    machine: dict[str, object] | None = None,
    metrics: dict[str, float] | None = None,
) -> int:
    device_id, provenance, name, mask = device
    store.upsert_device(
        DeviceRecord(device_id, "host" if provenance == "emulated" else provenance, name=name)
    )
    precision = "int8" if recipe.endswith("int8") else "fp32"
    sha = _sha(model, recipe)
    store.upsert_artifact(
        ArtifactRecord(
            sha,
            model,
            recipe,
            precision=precision,
            backend="xnnpack",
            resolution=224,
            input_shape=(1, 3, 224, 224),
            madds=MADDS[model] if madds is None else madds,
            weights_source="random",
        )
    )
    result = RunnerResult.from_json(
        {
            "schema_version": 1,
            "runner": {
                "name": "bench_runner",
                "version": runner_version,
                "executorch_version": "1.5.1",
            },
            "artifact": {"sha256": sha, "path": f"{model}.pte"},
            "config": {
                "threads": threads,
                "cpu_mask": mask,
                "warmup": 2,
                "iterations": len(values),
            },
            "load_ms": 5.0,
            "first_inference_ms": values[0] * 1.5,
            "warmup_ms": [values[0], values[1]],
            "samples_ms": values,
            "output": {"checksum": 0.5, "top1": 3},
            "emulated": provenance == "emulated",
        }
    )
    run = RunRecord.from_result(
        result,
        device_id=device_id,
        provenance=provenance,
        config_key=f"threads={threads}",
        started_at=started_at,
        machine=({"label": label} if label else {}) | (machine or {}),
    )
    run = dataclasses.replace(
        run,
        session_id=session_id,
        round=round_index,
        metrics={name: (value, "") for name, value in (metrics or {}).items()},
    )
    return store.record_run(run, result.samples_ms, result.warmup_ms)


def add_session(
    store: Store,
    device: tuple[str, str, str, str],
    model: str,
    recipe: str,
    base: float,
    seed: int = 0,
    *,
    rounds: int = ROUNDS,
    **options: Any,
) -> list[int]:
    """A session of `rounds` rounds around `base` (`round_samples`), one run each."""
    session = f"s-{_sha(model, recipe)[:6]}-{device[0]}-{seed}"
    return [
        add_run(store, device, model, recipe, values, session_id=session, round_index=i, **options)
        for i, values in enumerate(round_samples(base, seed, rounds))
    ]


def build_baseline(path: Path) -> Path:
    with Store.open(path) as store:
        add_session(store, PIXEL3, V2, FP32, 60.0, 1)
        add_session(store, PIXEL3, V3L, FP32, 44.0, 2)
        add_session(store, PIXEL3, V3S, FP32, 15.0, 3)
        add_session(store, PIXEL3, V2, INT8, 40.0, 4)
        add_session(store, HOST, V2, FP32, 20.0, 5)
    return path


def build_candidate(path: Path) -> Path:
    later = "2025-02-01T00:00:00"
    with Store.open(path) as store:
        # An older, slower session of the same configuration: the latest session must win.
        add_session(store, PIXEL3, V2, FP32, 90.0, 10, started_at="2024-12-01T00:00:00")
        add_session(store, PIXEL3, V2, FP32, 66.0, 11, started_at=later)
        add_session(store, PIXEL3, V3L, FP32, 44.2, 12, started_at=later)
        add_session(store, PIXEL3, V3S, FP32, 15.0, 13, runner_version="0.2.0")
        add_session(store, PIXEL3, V2, INT8, 40.0, 14, started_at=later)
        add_session(store, PIXEL3, V3L, INT8, 32.0, 15, started_at=later)
        add_session(store, PIXEL7, V2, FP32, 30.0, 16)
        add_session(store, PIXEL7, V3L, FP32, 22.0, 17)
        add_session(store, PIXEL7, V3S, FP32, 7.5, 18)
        add_session(store, HOST, V2, FP32, 20.0, 19)
        add_run(store, QEMU, V2, FP32, samples(500.0, 20))
    return path
