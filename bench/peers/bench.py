"""`python -m bench bench-peers`: measure every runtime on every model, store, print the table.

One measurement = one process pinned with `taskset -c <core>`: the peers through
`python -m bench.peers._measure`, ours through bench_runner (bench.runner.run.run_host), all on
the same input file (a real held-out image). With `--rounds N` the whole sweep repeats N times,
models and runtimes interleaved, and the table pools every round's samples.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import statistics
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import options
from bench.errors import ArtifactError, BenchError, PeerError, ResultSchemaError, RunnerError
from bench.options import DEFAULT_MANIFEST, manifest_artifacts
from bench.peers import OUR_RUNTIMES, RUNTIMES
from bench.peers.prepare import PEERS_ROOT, PeerModels, prepare
from bench.peers.table import PeerRow, build_rows
from bench.results import RunnerResult
from bench.runner.run import RunnerConfig, run_host
from bench.store import DEFAULT_PATH, ArtifactRecord, RunRecord, Store
from bench.targets.base import Artifact
from bench.targets.host import allowed_cpus, default_core, host_device, host_facts
from deploy.artifacts.hashing import sha256_file

ORDER = ("ort-fp32", "et-fp32", "ort-int8", "et-int8", "eager-fp32")


@dataclass
class Measurement:
    model: str
    runtime: str
    run_id: int | None = None
    result: RunnerResult | None = None
    error: str = ""
    not_stored: str = ""  # the store stayed locked: why, where the run is kept, the fix

    @property
    def ok(self) -> bool:
        return self.result is not None


@dataclass
class PeerReport:
    rows: list[PeerRow]
    measurements: list[Measurement]
    peers: dict[str, PeerModels]
    runs: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)


def config_key(config: RunnerConfig, peer: PeerModels) -> str:
    """Comparable runs: same threads, same warmup, same input image."""
    return f"threads={config.threads};input=image:{peer.input_sha256[:12]};warmup={config.warmup}"


def peer_record(peer: PeerModels, runtime: str) -> ArtifactRecord:
    info = RUNTIMES[runtime]
    path = peer.file_for(runtime)
    return ArtifactRecord(
        sha256=sha256_file(path),
        model=peer.model,
        recipe=runtime,
        precision=info.precision,
        backend=info.engine,
        format=path.suffix,
        family=peer.family,
        width=peer.width,
        resolution=peer.resolution,
        input_shape=peer.input_shape,
        params=peer.params,
        madds=peer.madds,
        weights_source=peer.weights_source,
        file=str(path),
        size_bytes=path.stat().st_size,
        manifest={"peer": runtime, "calibration_count": peer.calibration_count},
    )


def _pin(core: int | None) -> list[str]:
    if core is None or shutil.which("taskset") is None:
        return []
    return ["taskset", "-c", str(core)]


def measure_peer(
    runtime: str,
    peer: PeerModels,
    config: RunnerConfig,
    *,
    core: int | None,
    timeout: float,
    python: str = sys.executable,
) -> RunnerResult:
    """One peer measurement in a fresh process; its runner result JSON, validated."""
    argv = [*_pin(core), python, "-m", "bench.peers._measure", "--runtime", runtime]
    argv += ["--file", str(peer.file_for(runtime)), "--input-file", str(peer.input_file)]
    argv += ["--shape", ",".join(str(s) for s in peer.input_shape)]
    argv += ["--warmup", str(config.warmup), "--iterations", str(config.iterations)]
    argv += ["--max-iterations", str(config.max_iterations)]
    argv += ["--min-time", repr(config.min_time_s), "--max-time", repr(config.max_time_s)]
    argv += ["--target-precision", repr(config.target_precision)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        raise PeerError(f"{runtime} on {peer.model} timed out after {timeout:g}s") from None
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        reason = next((ln for ln in reversed(lines) if "error" in ln.lower()), None)
        reason = reason or (lines[-1] if lines else f"exit {proc.returncode}")
        raise PeerError(f"{runtime} on {peer.model} failed: {reason.strip()[:300]}")
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        raise PeerError(f"{runtime} on {peer.model} printed no result")
    return RunnerResult.from_json(lines[-1])


def our_artifacts(
    manifest: Path, models: Iterable[str], runtimes: Iterable[str]
) -> tuple[dict[tuple[str, str], Artifact], dict[tuple[str, str], str]]:
    """(model, et-*) -> the manifest's valid artifact; the missing ones -> a reason."""
    found: dict[tuple[str, str], Artifact] = {}
    missing: dict[tuple[str, str], str] = {}
    models = list(models)
    for runtime in runtimes:
        recipe = RUNTIMES[runtime].recipe
        try:
            arts = manifest_artifacts(manifest, models, [recipe])
        except BenchError:
            arts = []
        by_model = {a.record.model: a for a in arts}
        for model in models:
            if model in by_model:
                found[(model, runtime)] = by_model[model]
            else:
                missing[(model, runtime)] = (
                    f"no valid {recipe} artifact for {model} in {manifest}; run "
                    f"`nox -s export -- --models {model} --recipes {recipe}`"
                )
    return found, missing


def bench_peers(
    specs: Sequence[Any],
    store: Store,
    config: RunnerConfig,
    *,
    runtimes: Sequence[str] = ORDER,
    manifest: Path = DEFAULT_MANIFEST,
    artifacts: Mapping[tuple[str, str], Artifact] | None = None,
    rounds: int = 1,
    core: int | None = None,
    timeout: float | None = None,
    images_folder: Path | None = None,
    peers_root: Path = PEERS_ROOT,
    runner: Path | None = None,
    report: Callable[[Measurement], None] | None = None,
    log: Callable[[str], None] | None = None,
) -> PeerReport:
    """Measure `runtimes` on `specs` (deploy.models.ModelSpec), store every run, return rows.

    Ours come from `artifacts` ((model, 'et-fp32'|'et-int8') -> Artifact) or else the
    manifest. A failure of one measurement is a row cell, not the end of the run."""
    core = default_core() if core is None else core
    budget = timeout or (max(config.max_time_s, config.min_time_s) + 600.0)
    runtimes = [r for r in ORDER if r in runtimes]
    names = [s.name for s in specs]
    peers = {
        s.name: prepare(s, images_folder=images_folder, root=peers_root, log=log) for s in specs
    }
    ours = [r for r in runtimes if r in OUR_RUNTIMES]
    missing: dict[tuple[str, str], str] = {}
    if artifacts is None:
        found, missing = our_artifacts(manifest, names, ours) if ours else ({}, {})
    else:
        found = dict(artifacts)
        missing = {
            (m, r): f"no {r} artifact given" for m in names for r in ours if (m, r) not in found
        }
    if ours and any(k in found for k in [(m, r) for m in names for r in ours]):
        from bench.runner import build

        runner = runner or build.build_host()
    device = host_device()
    store.upsert_device(device)
    records: dict[tuple[str, str], ArtifactRecord] = {}
    for model, peer in peers.items():
        for runtime in runtimes:
            if runtime in OUR_RUNTIMES:
                if (model, runtime) in found:
                    art = found[(model, runtime)]
                    _check_same_model(art, peer, runtime)
                    records[(model, runtime)] = art.record
            else:
                records[(model, runtime)] = peer_record(peer, runtime)
    for record in records.values():
        store.upsert_artifact(record)

    samples: dict[tuple[str, str], list[float]] = {}
    errors: dict[tuple[str, str], str] = dict(missing)
    runs: dict[tuple[str, str], dict[str, Any]] = {}
    measurements: list[Measurement] = []
    for _ in range(rounds):
        for model, peer in peers.items():
            for runtime in runtimes:
                if (model, runtime) not in records:
                    continue
                m = _measure_one(
                    model,
                    runtime,
                    peer,
                    found,
                    config,
                    core,
                    budget,
                    runner,
                    store,
                    records[(model, runtime)],
                    device.id,
                )
                measurements.append(m)
                if m.result is not None:
                    samples.setdefault((model, runtime), []).extend(m.result.samples_ms)
                    info = runs.setdefault((model, runtime), {"run_ids": []})
                    info["run_ids"].append(m.run_id if m.run_id is not None else "NOT STORED")
                    info["runner"] = f"{m.result.runner_name} {m.result.runner_version}"
                else:
                    errors[(model, runtime)] = m.error
                if report is not None:
                    report(m)
    for key in samples:
        errors.pop(key, None)
    madds = {name: peers[name].madds for name in names}
    return PeerReport(build_rows(samples, madds, errors), measurements, peers, runs)


def _check_same_model(art: Artifact, peer: PeerModels, runtime: str) -> None:
    rec = art.record
    if rec.weights_source and rec.weights_source != peer.weights_source:
        raise PeerError(
            f"{rec.model} {runtime}: the artifact has {rec.weights_source} weights, the peers "
            f"{peer.weights_source}; pass the same --weights as the export"
        )
    if rec.input_shape and tuple(rec.input_shape) != peer.input_shape:
        raise PeerError(
            f"{rec.model} {runtime}: the artifact takes {list(rec.input_shape)}, the peers "
            f"{list(peer.input_shape)}"
        )


def _measure_one(
    model: str,
    runtime: str,
    peer: PeerModels,
    found: Mapping[tuple[str, str], Artifact],
    config: RunnerConfig,
    core: int,
    budget: float,
    runner: Path | None,
    store: Store,
    record: ArtifactRecord,
    device_id: str,
) -> Measurement:
    m = Measurement(model, runtime)
    started = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
    facts = host_facts(core)
    ours = runtime in OUR_RUNTIMES
    provenance = "host" if ours else "peer"
    try:
        if ours:
            assert runner is not None
            art = found[(model, runtime)]
            if sha256_file(art.path) != record.sha256:
                raise ArtifactError(f"{art.path} does not match the manifest's sha256; re-export")
            result = run_host(
                runner, art.path, config, core=core, timeout=budget, input_file=peer.input_file
            )
        else:
            result = measure_peer(runtime, peer, config, core=core, timeout=budget)
        if result.artifact_sha256 != record.sha256:
            raise ArtifactError(f"{runtime} read a different file than {record.file}")
        m.result = result
        m.run_id, m.not_stored = store.save_run(
            RunRecord.from_result(
                result,
                device_id=device_id,
                provenance=provenance,
                config_key=config_key(config, peer),
                started_at=started,
                machine={**facts, "loadavg_after": list(os.getloadavg()), "runtime": runtime},
            ),
            result.samples_ms,
            result.warmup_ms,
        )
    except (PeerError, ArtifactError, RunnerError, ResultSchemaError) as exc:
        m.error = str(exc)
        m.run_id, m.not_stored = store.save_run(
            RunRecord(
                device_id,
                record.sha256,
                provenance,
                config_key(config, peer),
                status="failed",
                error=m.error,
                runner_name=RUNTIMES[runtime].engine,
                threads=config.threads,
                core_mask=hex(1 << core),
                started_at=started,
                machine={**facts, "runtime": runtime},
            )
        )
    return m


# -- command ----------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--models", nargs="+", help="model names (default: export's defaults)")
    parser.add_argument("--weights", default="random", help="random | imagenet | checkpoint path")
    parser.add_argument(
        "--runtimes", nargs="+", help=f"subset of {', '.join(ORDER)} (default: all)"
    )
    parser.add_argument("--manifest", type=Path, default=DEFAULT_MANIFEST)
    parser.add_argument("--store", type=Path, default=DEFAULT_PATH)
    parser.add_argument("--images", type=Path, default=None, help="calibration/input images")
    options.add_measurement_arguments(parser, iterations=50, rounds=1)
    parser.add_argument("--core", type=int, default=None, help="CPU to pin to (default: last)")
    parser.add_argument("--timeout", type=float, default=None, help="seconds per process")


def run(args: argparse.Namespace) -> int:
    from deploy.console import make_console
    from deploy.export.pipeline import DEFAULT_MODELS
    from deploy.models import parse_model_names

    runtimes = options.names(args.runtimes) or list(ORDER)
    unknown = [r for r in runtimes if r not in RUNTIMES]
    if unknown:
        raise PeerError(f"unknown runtime(s) {', '.join(unknown)}; choose from {', '.join(ORDER)}")
    core = default_core() if args.core is None else args.core
    if core not in allowed_cpus():
        raise BenchError(f"--core {core} is not one of this process's CPUs {allowed_cpus()}")
    options.rounds(args)
    specs = parse_model_names(
        options.names(args.models) or list(DEFAULT_MODELS), weights=args.weights
    )
    config = options.runner_config(args)
    console = make_console()
    err = make_console(stderr=True)

    def report(m: Measurement) -> None:
        if m.result is not None:
            median = statistics.median(m.result.samples_ms)
            n = len(m.result.samples_ms)
            where = f"run {m.run_id}" if m.run_id is not None else "NOT STORED"
            err.print(f"{m.model} {m.runtime}: median {median:.2f} ms (n={n}, {where})")
        else:
            err.print(f"error: {m.model} {m.runtime}: {m.error}")
        if m.not_stored:
            err.print(f"error: {m.model} {m.runtime}: {m.not_stored}", markup=False, soft_wrap=True)

    with Store.open(args.store) as store:
        result = bench_peers(
            specs,
            store,
            config,
            runtimes=runtimes,
            manifest=args.manifest,
            rounds=args.rounds,
            core=core,
            timeout=args.timeout,
            images_folder=args.images,
            report=report,
            log=err.print,
        )
    from bench.peers.table import render, render_details

    facts = host_facts(core)
    render(result.rows, facts, console)
    render_details(result.rows, result.runs, console)
    console.print(
        f"measured {dt.date.today().isoformat()}, {args.rounds} round(s), >= {args.iterations} "
        f"iterations per process; stored in {args.store} (peers: provenance peer)"
    )
    load, cpus = facts["loadavg"][0], facts.get("online_cpus") or 1
    if load > 0.5 * cpus:
        console.print(
            f"warning: this host is busy (load average {load:.1f} on {cpus} CPUs): the ratios "
            "are taken within one run, the absolute latencies will not repeat"
        )
    unstored = sum(1 for m in result.measurements if m.not_stored)
    if unstored:
        console.print(f"{unstored} run(s) NOT STORED in {args.store}: see the errors above")
    return (
        0
        if all(m.ok and not m.not_stored for m in result.measurements)
        and not any(r.errors for r in result.rows)
        else 2
    )
