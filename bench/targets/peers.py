"""This host's pinned core, measuring every runtime of the peer benchmark: our .pte artifacts in
bench_runner beside PyTorch eager and ONNX Runtime (`bench.peers`).

Each (model, runtime) is its own artifact with its own sha256: ours the manifest's .pte, the
peers' the file `bench.peers.prepare` made (the ONNX file or the eager state dict), recorded by
`peer_record`. One run = one process pinned with `taskset -c <core>`, all on the same input file
(a real held-out image): ours through bench_runner (`run_host(..., input_file=...)`), the peers
through `python -m bench.peers._measure` (`measure_peer`). The session interleaves the rounds
across every artifact (A B C A B C), so drift hits all runtimes alike.

Our runs are stored with provenance `host` (as bench-host stores them), the peers' with
provenance `peer` and the runtime's engine as the runner. Every artifact of one target runs on the
same input image: the config key (`config_key`) names it, so one target holds the models that
share an input (the command makes one per input).
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.errors import PeerError, RunnerError
from bench.peers import RUNTIMES
from bench.peers.prepare import PeerModels
from bench.results import RunnerResult
from bench.runner import build
from bench.runner.run import RunnerConfig, run_host
from bench.store import ArtifactRecord, DeviceRecord
from bench.targets.base import Artifact, Measured, Target, Variant
from bench.targets.host import default_core, host_device, host_facts
from deploy.artifacts.hashing import sha256_file

#: the Python distribution whose version a failed run of each engine is stored with
ENGINE_DISTRIBUTIONS = {
    "pytorch": "torch",
    "onnxruntime": "onnxruntime",
    "executorch": "executorch",
}


def config_key(config: RunnerConfig, peer: PeerModels) -> str:
    """Comparable runs: same threads, same warmup, same input image."""
    return f"threads={config.threads};input=image:{peer.input_sha256[:12]};warmup={config.warmup}"


def peer_record(peer: PeerModels, runtime: str) -> ArtifactRecord:
    """The identity of a peer runtime's file for one model (its own sha256 and path)."""
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


@dataclass(frozen=True)
class PeerEntry:
    """One (model, runtime) of the peer benchmark: the artifact the session measures and the
    prepared peer files of its model (whose input file every runtime is timed on)."""

    model: str
    runtime: str
    artifact: Artifact
    peer: PeerModels

    @property
    def ours(self) -> bool:
        return RUNTIMES[self.runtime].ours


def peer_entry(peer: PeerModels, runtime: str) -> PeerEntry:
    """A peer runtime's (model, runtime): the file `prepare` made, with its own identity."""
    return PeerEntry(
        peer.model, runtime, Artifact(peer_record(peer, runtime), peer.file_for(runtime)), peer
    )


def _key(artifact: Artifact) -> tuple[str, Path]:
    return artifact.record.sha256, artifact.path


class PeersTarget(Target):
    """This host's CPU, one pinned core, measuring our artifacts and the peer runtimes'."""

    provenance = "host"
    label = "host"

    def __init__(
        self,
        entries: Sequence[PeerEntry],
        core: int | None = None,
        runner: Path | None = None,
        timeout_s: float | None = None,
    ) -> None:
        self.entries = list(entries)
        self._by_key = {_key(e.artifact): e for e in self.entries}
        self.core = default_core() if core is None else core
        self.runner = runner
        self.timeout_s = timeout_s
        #: (model, runtime) -> "name version" of what produced its last ok run
        self.runners: dict[tuple[str, str], str] = {}

    @property
    def artifacts(self) -> list[Artifact]:
        """What the session measures, model by model, in the order of `entries`."""
        return [e.artifact for e in self.entries]

    def entry(self, artifact: Artifact) -> PeerEntry:
        try:
            return self._by_key[_key(artifact)]
        except KeyError:
            raise PeerError(
                f"{artifact.path} is not one of this peer benchmark's artifacts"
            ) from None

    def open(self) -> DeviceRecord:
        if self.runner is None and any(e.ours for e in self.entries):
            self.runner = build.build_host()
        record = host_device()
        self.name = record.name
        return record

    def variants(self, config: RunnerConfig) -> list[Variant]:
        inputs = {e.peer.input_sha256 for e in self.entries}
        if len(inputs) > 1:
            raise PeerError(
                f"one peer target runs one input image, these models have {len(inputs)}: "
                "make one target per input"
            )
        key = config_key(config, self.entries[0].peer) if self.entries else config.key()
        return [Variant(config, hex(1 << self.core), key)]

    def measure(self, artifact: Artifact, variant: Variant, label: str) -> Measured:
        entry = self.entry(artifact)
        config = variant.config
        budget = self.timeout_s or (max(config.max_time_s, config.min_time_s) + 600.0)
        facts = host_facts(self.core)
        if entry.ours:
            assert self.runner is not None, "open() first"
            result = run_host(
                self.runner,
                artifact.path,
                config,
                core=self.core,
                timeout=budget,
                input_file=entry.peer.input_file,
            )
        else:
            try:
                result = measure_peer(
                    entry.runtime, entry.peer, config, core=self.core, timeout=budget
                )
            except PeerError as exc:  # a failed run of this artifact, not the end of the session
                raise RunnerError(str(exc)) from None
        self.runners[(entry.model, entry.runtime)] = f"{result.runner_name} {result.runner_version}"
        machine = {**facts, "loadavg_after": list(os.getloadavg()), "runtime": entry.runtime}
        return Measured(result, machine)

    def provenance_for(self, artifact: Artifact) -> str:
        return "host" if self.entry(artifact).ours else "peer"

    def runner_for(self, artifact: Artifact) -> tuple[str, str]:
        engine = RUNTIMES[self.entry(artifact).runtime].engine
        try:
            version = importlib.metadata.version(ENGINE_DISTRIBUTIONS.get(engine, engine))
        except importlib.metadata.PackageNotFoundError:
            version = ""
        return engine, version

    def failed_machine(self) -> dict[str, Any]:
        return host_facts(self.core)
