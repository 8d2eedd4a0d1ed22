"""The runner result JSON: one object per run, the same from the C++ runner, the Android app
and the iOS harness. `RunnerResult.from_json` validates it and names the first problem in one
line (ResultSchemaError), so a truncated or foreign result never reaches the store.

Schema version 1 (fields marked * are required):

    schema_version*      1
    runner*              {name*, version*, executorch_version*}
    artifact*            {sha256*, path}
    config*              {threads*, cpu_mask*, warmup*, iterations*, ...free-form extras}
    load_ms*             program + method load (XNNPACK init included)
    first_inference_ms*  the first forward, kept apart from warmups and samples
    warmup_ms            every warmup iteration (never used as a latency)
    samples_ms*          every measured iteration, in order (len == config.iterations)
    output*              {checksum*, top1*, dtype, shape, numel, abs_sum}
    device               what the runner could see itself (cpu_start, cpu_end, affinity, ...)
    emulated*            true when run under qemu: timings then mean nothing
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from bench.errors import ResultSchemaError

SCHEMA_VERSION = 1
SUPPORTED_SCHEMA_VERSIONS = (1,)


def _need(obj: dict[str, Any], key: str, kinds: type | tuple[type, ...], where: str) -> Any:
    if key not in obj:
        raise ResultSchemaError(f"runner result: missing {where}{key}")
    value = obj[key]
    if isinstance(value, bool) and bool not in (kinds if isinstance(kinds, tuple) else (kinds,)):
        raise ResultSchemaError(f"runner result: {where}{key} must not be a boolean")
    if not isinstance(value, kinds):
        raise ResultSchemaError(
            f"runner result: {where}{key} has type {type(value).__name__}, "
            f"expected {getattr(kinds, '__name__', kinds)}"
        )
    return value


def _ms(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ResultSchemaError(f"runner result: {where} is not a number")
    if not math.isfinite(value) or value < 0:
        raise ResultSchemaError(f"runner result: {where} = {value} is not a finite time >= 0")
    return float(value)


@dataclass(frozen=True)
class RunnerResult:
    schema_version: int
    runner_name: str
    runner_version: str
    executorch_version: str
    artifact_sha256: str
    artifact_path: str
    threads: int
    cpu_mask: str
    warmup: int
    iterations: int
    load_ms: float
    first_inference_ms: float
    samples_ms: tuple[float, ...]
    warmup_ms: tuple[float, ...]
    checksum: float
    top1: int
    emulated: bool
    config: dict[str, Any] = field(default_factory=dict)
    output: dict[str, Any] = field(default_factory=dict)
    device: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, text: str | bytes | dict[str, Any]) -> RunnerResult:
        """Parse and validate; raise ResultSchemaError naming the first problem."""
        if isinstance(text, dict):
            obj = text
        else:
            try:
                obj = json.loads(text)
            except (ValueError, UnicodeDecodeError) as exc:
                raise ResultSchemaError(f"runner result is not JSON: {exc}") from None
        if not isinstance(obj, dict):
            raise ResultSchemaError("runner result is not a JSON object")
        version = _need(obj, "schema_version", int, "")
        if version not in SUPPORTED_SCHEMA_VERSIONS:
            raise ResultSchemaError(
                f"runner result schema_version {version} is not supported "
                f"(this bench reads {SUPPORTED_SCHEMA_VERSIONS}); update the runner or bench"
            )
        runner = _need(obj, "runner", dict, "")
        artifact = _need(obj, "artifact", dict, "")
        config = _need(obj, "config", dict, "")
        output = _need(obj, "output", dict, "")
        sha = _need(artifact, "sha256", str, "artifact.")
        if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
            raise ResultSchemaError(f"runner result: artifact.sha256 {sha!r} is not a sha256")
        threads = _need(config, "threads", int, "config.")
        if threads < 1:
            raise ResultSchemaError(f"runner result: config.threads = {threads} must be >= 1")
        iterations = _need(config, "iterations", int, "config.")
        samples = _need(obj, "samples_ms", list, "")
        if not samples:
            raise ResultSchemaError("runner result: samples_ms is empty")
        if len(samples) != iterations:
            raise ResultSchemaError(
                f"runner result: samples_ms has {len(samples)} values but config.iterations "
                f"= {iterations} (truncated output?)"
            )
        samples_ms = tuple(_ms(v, f"samples_ms[{i}]") for i, v in enumerate(samples))
        warmups = obj.get("warmup_ms", [])
        if not isinstance(warmups, list):
            raise ResultSchemaError("runner result: warmup_ms is not a list")
        top1 = _need(output, "top1", int, "output.")
        checksum = _need(output, "checksum", (int, float), "output.")
        emulated = _need(obj, "emulated", bool, "")
        device = obj.get("device", {})
        if not isinstance(device, dict):
            raise ResultSchemaError("runner result: device is not an object")
        return cls(
            schema_version=version,
            runner_name=_need(runner, "name", str, "runner."),
            runner_version=_need(runner, "version", str, "runner."),
            executorch_version=_need(runner, "executorch_version", str, "runner."),
            artifact_sha256=sha,
            artifact_path=str(artifact.get("path", "")),
            threads=threads,
            cpu_mask=_need(config, "cpu_mask", str, "config."),
            warmup=_need(config, "warmup", int, "config."),
            iterations=iterations,
            load_ms=_ms(_need(obj, "load_ms", (int, float), ""), "load_ms"),
            first_inference_ms=_ms(
                _need(obj, "first_inference_ms", (int, float), ""), "first_inference_ms"
            ),
            samples_ms=samples_ms,
            warmup_ms=tuple(_ms(v, f"warmup_ms[{i}]") for i, v in enumerate(warmups)),
            checksum=float(checksum),
            top1=top1,
            emulated=emulated,
            config=dict(config),
            output=dict(output),
            device=dict(device),
            raw=obj,
        )

    def with_emulated(self, emulated: bool) -> RunnerResult:
        """The same result flagged as run under an emulator (the runner cannot always tell)."""
        raw = dict(self.raw, emulated=emulated)
        return RunnerResult.from_json(raw)

    def to_json(self) -> str:
        return json.dumps(self.raw, sort_keys=True)
