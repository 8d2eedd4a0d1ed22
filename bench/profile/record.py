"""A profiling round's ETDump -> the ProfileRecord the store keeps (layers from the program)."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import Any

from bench.profile.etdump import read_etdump
from bench.profile.layers import MappedProfile, map_layers
from bench.profile.xnngraph import read_graph
from bench.results import RunnerResult
from bench.runner.run import RunnerConfig
from bench.store import ProfileRecord
from deploy.artifacts.hashing import sha256_file

#: measured iterations of a profiling round (every one leaves a sample per operator)
DEFAULT_ITERATIONS = 30


def profiling_config(config: RunnerConfig, iterations: int = DEFAULT_ITERATIONS) -> RunnerConfig:
    """The timed rounds' settings, but a fixed number of iterations and no time budget."""
    return dataclasses.replace(
        config,
        warmup=max(3, config.warmup),
        iterations=iterations,
        max_iterations=iterations,
        min_time_s=0.0,
        max_time_s=0.0,
        target_precision=0.0,
    )


def etdump_folder(store_path: Path) -> Path:
    """Where profiled ETDumps are kept, beside the store (named by their sha256)."""
    return Path(store_path).resolve().parent / "etdumps"


def build_profile(
    etdump: Path,
    pte: Path,
    *,
    device_id: str,
    artifact_sha256: str,
    provenance: str,
    session_id: str | None,
    config: RunnerConfig,
    result: RunnerResult | None = None,
    keep_in: Path | None = None,
) -> tuple[ProfileRecord, MappedProfile]:
    """Parse `etdump` against the XNNPACK graph of `pte`; keep a copy in `keep_in` if given."""
    dump = read_etdump(etdump, skip=1 + config.warmup)
    mapped = map_layers(read_graph(pte), dump)
    sha = sha256_file(etdump)
    detail: dict[str, Any] = {
        "execute_ms": mapped.execute_ms,
        "delegate_ms": mapped.delegate_ms,
        "ops_ms": mapped.ops_ms,
        "warmup": config.warmup,
        "skipped_iterations": dump.skipped,
        "time_resolution_us": 1.0,
        "source": "ETDump (XNNPACK operator profiling), a separate untimed round",
    }
    if result is not None:
        detail["runner"] = {"name": result.runner_name, "version": result.runner_version}
        detail["executorch_version"] = result.executorch_version
        detail["cpu_mask"] = result.cpu_mask
    if keep_in is not None:
        keep_in.mkdir(parents=True, exist_ok=True)
        kept = keep_in / f"{sha[:16]}.etdp"
        if not kept.exists():
            shutil.copyfile(etdump, kept)
        detail["etdump_file"] = str(kept)
    record = ProfileRecord(
        device_id=device_id,
        artifact_sha256=artifact_sha256,
        provenance=provenance,
        iterations=mapped.iterations,
        layers=mapped.layers,
        total_ms=mapped.execute_ms,
        session_id=session_id,
        etdump_sha256=sha,
        detail=detail,
    )
    return record, mapped
