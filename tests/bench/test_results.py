"""The runner result JSON contract (bench/results.py)."""

from __future__ import annotations

import copy
import json

import pytest

from bench.errors import ResultSchemaError
from bench.results import SCHEMA_VERSION, RunnerResult

GOOD = {
    "schema_version": 1,
    "runner": {"name": "bench_runner", "version": "0.1.0", "executorch_version": "1.5.1"},
    "artifact": {"sha256": "ab" * 32, "path": "m.pte"},
    "config": {"threads": 1, "cpu_mask": "0x2", "warmup": 2, "iterations": 3},
    "load_ms": 1.5,
    "first_inference_ms": 2.0,
    "warmup_ms": [1.0, 1.1],
    "samples_ms": [1.0, 1.2, 0.9],
    "output": {"checksum": 0.25, "top1": 7},
    "device": {"cpu_start": 1, "cpu_end": 1, "affinity": [1]},
    "emulated": False,
}


def test_good_result_parses():
    result = RunnerResult.from_json(json.dumps(GOOD))
    assert SCHEMA_VERSION == 1
    assert result.samples_ms == (1.0, 1.2, 0.9)
    assert result.warmup_ms == (1.0, 1.1)
    assert result.first_inference_ms == 2.0
    assert result.threads == 1 and result.top1 == 7 and not result.emulated
    assert result.with_emulated(True).emulated


def _broken(mutate) -> dict:
    obj = copy.deepcopy(GOOD)
    mutate(obj)
    return obj


@pytest.mark.parametrize(
    "mutate, fragment",
    [
        (lambda o: o.pop("samples_ms"), "missing samples_ms"),
        (lambda o: o.update(schema_version=99), "schema_version 99"),
        (lambda o: o["artifact"].update(sha256="xyz"), "not a sha256"),
        (lambda o: o["config"].update(iterations=5), "truncated"),
        (lambda o: o.update(samples_ms=[]), "empty"),
        (lambda o: o.update(samples_ms=[1.0, -1.0, 2.0]), "samples_ms[1]"),
        (lambda o: o.update(samples_ms=[1.0, "x", 2.0]), "samples_ms[1]"),
        (lambda o: o["config"].update(threads=0), "threads"),
        (lambda o: o["output"].pop("top1"), "output.top1"),
        (lambda o: o.update(emulated="no"), "emulated"),
        (lambda o: o["runner"].pop("version"), "runner.version"),
        (lambda o: o["config"].update(threads=True), "boolean"),
    ],
)
def test_schema_problems_are_one_line(mutate, fragment):
    with pytest.raises(ResultSchemaError) as info:
        RunnerResult.from_json(_broken(mutate))
    message = str(info.value)
    assert fragment in message and "\n" not in message


def test_not_json():
    with pytest.raises(ResultSchemaError, match="not JSON"):
        RunnerResult.from_json('{"schema_version": 1, "runner"')
    with pytest.raises(ResultSchemaError, match="not a JSON object"):
        RunnerResult.from_json("[1, 2]")
