"""`python -m bench bench-peers`: measure every runtime on every model, store, print the table.

The models' peer files are prepared (`bench.peers.prepare`), our artifacts taken from the
manifest and checked to be the same model (weights, input shape); then the one measuring loop
(`bench.session.run_session`) measures every (model, runtime) as its own artifact on this host's
pinned core (`bench.targets.peers.PeersTarget`): one process per round, ours through
bench_runner, the peers through `python -m bench.peers._measure`, all on the same input file (a
real held-out image). With `--rounds N` every artifact runs N times, the rounds interleaved across
models and runtimes (A B C A B C), each stored as its own run; the table pools every round's
samples (`PeerReport`, from the session's rows).
"""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import options
from bench.errors import BenchError, PeerError
from bench.options import DEFAULT_MANIFEST, manifest_artifacts
from bench.peers import ORDER, OUR_RUNTIMES, RUNTIMES
from bench.peers.prepare import PEERS_ROOT, PeerModels, prepare
from bench.report.peers import PeerRow, build_rows
from bench.rows import Outcome
from bench.runner.run import RunnerConfig
from bench.session import Say, plain_say, run_session
from bench.store import DEFAULT_PATH
from bench.targets.base import Artifact
from bench.targets.host import allowed_cpus, default_core, host_facts
from bench.targets.peers import PeerEntry, PeersTarget, peer_entry


@dataclass
class Measurement:
    """One (model, runtime) of a session: every ok round's samples, the runs stored for it."""

    model: str
    runtime: str
    rounds_ms: list[list[float]] = field(default_factory=list)
    run_ids: list[int] = field(default_factory=list)
    rounds_failed: int = 0
    error: str = ""
    not_stored: str = ""  # the store stayed locked: why, where the run is kept, the fix
    runner: str = ""  # "name version" of what produced it

    @property
    def ok(self) -> bool:
        """Every round ran and measured."""
        return bool(self.rounds_ms) and not self.rounds_failed

    @property
    def samples_ms(self) -> list[float]:
        """Every ok round's samples, pooled."""
        return [v for r in self.rounds_ms for v in r]


@dataclass
class PeerReport:
    rows: list[PeerRow]
    measurements: list[Measurement]
    peers: dict[str, PeerModels]
    runs: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def not_stored(self) -> list[str]:
        return [line for o in self.outcomes for line in o.not_stored]

    @property
    def failed(self) -> bool:
        return (
            any(o.failed for o in self.outcomes)
            or not all(m.ok for m in self.measurements)
            or any(r.errors for r in self.rows)
        )


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


def _quiet(_label: str, _message: str) -> None:
    pass


def bench_peers(
    specs: Sequence[Any],
    store_path: Path,
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
    say: Say = _quiet,
    log: Any = None,
) -> PeerReport:
    """Measure `runtimes` on `specs` (deploy.models.ModelSpec) with the session, return rows.

    Ours come from `artifacts` ((model, 'et-fp32'|'et-int8') -> Artifact) or else the
    manifest; a missing one is a row cell. Every (model, runtime) is measured `rounds` times,
    interleaved, each round stored in `store_path`; a failed round is a row cell too."""
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
    entries: list[PeerEntry] = []
    for model, peer in peers.items():
        for runtime in runtimes:
            if runtime not in OUR_RUNTIMES:
                entries.append(peer_entry(peer, runtime))
            elif (model, runtime) in found:
                art = found[(model, runtime)]
                _check_same_model(art, peer, runtime)
                entries.append(PeerEntry(model, runtime, art, peer))
    if runner is None and any(e.ours for e in entries):
        from bench.runner import build

        runner = build.build_host()
    # The config key names the input image, which the models of one resolution share (all of
    # the default ones): one session per input image, usually one in all.
    by_input: dict[str, list[PeerEntry]] = {}
    for entry in entries:
        by_input.setdefault(entry.peer.input_sha256, []).append(entry)
    outcomes, measurements = [], []
    for group in by_input.values():
        target = PeersTarget(group, core, runner, timeout)
        (outcome,) = run_session(
            [target],
            target.artifacts,
            config,
            store_path,
            rounds=rounds,
            skip_stored=False,
            say=say,
        )
        outcomes.append(outcome)
        measurements += _measurements(group, outcome, target.runners)
    return _report(measurements, peers, missing, outcomes)


def _measurements(
    entries: Sequence[PeerEntry], outcome: Outcome, runners: Mapping[tuple[str, str], str]
) -> list[Measurement]:
    """The session's rows as (model, runtime) measurements, in the order of `entries`."""
    rows = {(row.model, row.recipe): row for row in outcome.rows}
    out = []
    for entry in entries:
        m = Measurement(
            entry.model, entry.runtime, runner=runners.get((entry.model, entry.runtime), "")
        )
        row = rows.get((entry.artifact.record.model, entry.artifact.record.recipe))
        if row is None:  # the session stopped before it (a target error, Ctrl-C)
            m.error = outcome.error or "not measured"
        else:
            m.rounds_ms = [list(r) for r in row.rounds_ms]
            m.run_ids = list(row.run_ids)
            m.rounds_failed, m.error, m.not_stored = row.rounds_failed, row.error, row.not_stored
        out.append(m)
    return out


def _report(
    measurements: list[Measurement],
    peers: dict[str, PeerModels],
    missing: Mapping[tuple[str, str], str],
    outcomes: list[Outcome],
) -> PeerReport:
    samples: dict[tuple[str, str], list[float]] = {}
    errors: dict[tuple[str, str], str] = dict(missing)
    runs: dict[tuple[str, str], dict[str, Any]] = {}
    for m in measurements:
        key = (m.model, m.runtime)
        if not m.rounds_ms:
            errors[key] = m.error or "failed"
            continue
        samples[key] = m.samples_ms
        run_ids: list[int | str] = list(m.run_ids)
        if m.not_stored:  # a round the locked store did not take is kept aside
            measured = len(m.rounds_ms) + m.rounds_failed
            run_ids += ["NOT STORED"] * max(0, measured - len(m.run_ids))
        runs[key] = {"run_ids": run_ids, "runner": m.runner}
    madds = {name: peer.madds for name, peer in peers.items()}
    return PeerReport(build_rows(samples, madds, errors), measurements, peers, runs, outcomes)


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
    rounds = options.rounds(args)
    specs = parse_model_names(
        options.names(args.models) or list(DEFAULT_MODELS), weights=args.weights
    )
    config = options.runner_config(args)
    console = make_console()
    err = make_console(stderr=True)
    result = bench_peers(
        specs,
        args.store,
        config,
        runtimes=runtimes,
        manifest=args.manifest,
        rounds=rounds,
        core=core,
        timeout=args.timeout,
        images_folder=args.images,
        say=plain_say,
        log=err.print,
    )
    from bench.report.peers import render, render_details

    facts = host_facts(core)
    render(result.rows, facts, console)
    render_details(result.rows, result.runs, console)
    console.print(
        f"measured {dt.date.today().isoformat()}, {rounds} round(s), >= {args.iterations} "
        f"iterations per process; stored in {args.store} (peers: provenance peer)"
    )
    load, cpus = facts["loadavg"][0], facts.get("online_cpus") or 1
    if load > 0.5 * cpus:
        console.print(
            f"warning: this host is busy (load average {load:.1f} on {cpus} CPUs): the ratios "
            "are taken within one run, the absolute latencies will not repeat"
        )
    if unstored := len(result.not_stored):
        console.print(f"{unstored} run(s) NOT STORED in {args.store}: see the errors above")
    return 2 if result.failed else 0
