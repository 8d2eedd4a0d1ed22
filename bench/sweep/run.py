"""A sweep's work: export its points (the pipeline's cache), measure them (the one session loop
and store), and read every point's result back from the store.

    sweep = Sweep(target, settings, ui)
    results = sweep.run(points, quick=True)   # recipe -> [Result per grid point]

Exporting is `deploy.export.pipeline.export_many`: an already exported point is a cache hit
(its key is computed without building the model) and costs about nothing. Measuring is
`bench.session.run_session` with `skip_stored`: a point whose rounds are in the store is not
measured again, a session cut short by Ctrl-C resumes at its next round, and every finished
round is kept. Latencies and top-1s are read back from the store (`stored_estimate`,
`accuracy.accuracies`), so a rerun reports what the first run measured.
"""

from __future__ import annotations

import statistics
import sys
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from bench.errors import BenchError
from bench.rows import Outcome
from bench.runner.run import RunnerConfig
from bench.session import run_session
from bench.stats import RoundEstimate, round_estimate
from bench.store import ArtifactRecord, DeviceRecord, Store
from bench.sweep import plan
from bench.sweep.accuracy import accuracies
from bench.sweep.frontier import FAILED, INVALID, MEASURED, NOT_MEASURED, Result
from bench.sweep.grid import GridPoint, corners_and_diagonal
from bench.targets.base import Artifact, Measured, Target, Variant
from deploy.artifacts.manifest import MANIFEST_NAME, Manifest, ManifestEntry
from deploy.export.recipes import Recipe

Pair = tuple[GridPoint, str]  # (point, recipe name)


def stored_estimate(
    store: Store, device_id: str, artifact_sha256: str, config_key: str
) -> RoundEstimate | None:
    """The headline of the latest stored session of (device, artifact, config), from its ok
    rounds' samples; None when nothing with a latency is stored."""
    session, done = store.rounds_done(device_id, artifact_sha256, config_key)
    if not done:
        return None
    runs = store.runs(
        device_id=device_id, artifact_sha256=artifact_sha256, config_key=config_key, status="ok"
    )
    rounds = [store.samples(run.id) for run in runs if run.session_id == session]
    rounds = [samples for samples in rounds if samples]
    return round_estimate(rounds) if rounds else None


def device_gmacs(store: Store, device_id: str, recipe: str, last: int = 50) -> float | None:
    """The device's MAC rate (1e9 / s) on `recipe`: the median of MAdds / latency over its
    latest stored ok runs; None when there are none."""
    rates = []
    for run in store.runs(device_id=device_id, recipe=recipe, status="ok")[-last:]:
        samples = store.samples(run.id)
        if samples and run.madds:
            rates.append(run.madds / 1e6 / statistics.median(samples))  # MAdds(M) / ms = GMAC/s
    return statistics.median(rates) if rates else None


class Ui:
    """How a sweep reports progress: plain lines on stderr. `bench.sweep.cli` draws bars."""

    def say(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    def exporting(self, count: int) -> None:
        """`count` more exports are coming."""

    def export_event(self, event: Any) -> None:
        """A `deploy.export.pipeline.ProgressEvent`."""

    def measuring(self, rounds: int) -> None:
        """About `rounds` more rounds are coming."""

    def round_done(self) -> None:
        """One round (a runner process) finished."""

    def stage_done(self) -> None:
        """The last export / measure stage is over."""


class _Watched:
    """The target as the session sees it, plus what the sweep needs to know: the stored device
    id, the variant keys it hands out (to read its runs back) and a tick per finished round.
    Everything else is the target's own (attribute access falls through)."""

    def __init__(self, target: Target, on_round: Callable[[], None]) -> None:
        self._target = target
        self._on_round = on_round
        self.keys: list[str] = []
        self.device: DeviceRecord | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target, name)

    def open(self) -> DeviceRecord:
        self.device = self._target.open()
        return self.device

    def variants(self, config: RunnerConfig) -> list[Variant]:
        found = self._target.variants(config)
        self.keys += [v.key for v in found if v.key not in self.keys]
        return found

    def measure(self, artifact: Artifact, variant: Variant, label: str) -> Measured:
        try:
            return self._target.measure(artifact, variant, label)
        finally:
            self._on_round()


@dataclass
class Settings:
    """How to export and measure (the command line's options)."""

    recipes: Sequence[Recipe]
    out_dir: Path
    store_path: Path
    config: RunnerConfig
    rounds: int
    weights: str = "random"
    calibration_dir: Path | None = None
    skip_stored: bool = True


@dataclass
class State:
    """What the sweep learnt so far."""

    entries: dict[Pair, ManifestEntry] = field(default_factory=dict)  # valid exports
    invalid: dict[Pair, str] = field(default_factory=dict)  # why an export is not usable
    failed: dict[Pair, str] = field(default_factory=dict)  # measured, but no round succeeded
    planned: set[Pair] = field(default_factory=set)
    device: DeviceRecord | None = None
    provenance: str = ""
    config_key: str = ""
    outcomes: list[Outcome] = field(default_factory=list)
    stages: int = 0


class Sweep:
    """Export, measure and read back the points of a sweep on one target."""

    def __init__(self, target: Target, settings: Settings, ui: Ui | None = None) -> None:
        self.target = target
        self.settings = settings
        self.ui = ui or Ui()
        self.recipes = {recipe.name: recipe for recipe in settings.recipes}
        self.state = State()
        self._madds: dict[GridPoint, float] = {}

    # -- what is there already ------------------------------------------------------------------

    @property
    def manifest_path(self) -> Path:
        return Path(self.settings.out_dir) / MANIFEST_NAME

    def _manifest(self) -> Manifest:
        return Manifest.load(self.manifest_path)

    def cached(self, pairs: Iterable[Pair]) -> dict[Pair, ManifestEntry]:
        """The valid manifest entries made from exactly these inputs (the pipeline's cache key,
        computed without building a model; the files are verified when exported or measured)."""
        from deploy.export.cache import cache_key, toolchain_versions
        from deploy.export.validation import Thresholds

        manifest = self._manifest() if self.manifest_path.exists() else None
        if manifest is None:
            return {}
        by_key = {e.cache_key: e for e in manifest.entries if e.valid and e.cache_key}
        toolchain = toolchain_versions()
        thresholds = Thresholds().as_dict()
        found = {}
        for point, recipe in pairs:
            spec = point.spec(self.settings.weights)
            key = cache_key(
                spec, self.recipes[recipe], self.settings.calibration_dir, thresholds, toolchain
            )
            if key in by_key:
                found[(point, recipe)] = by_key[key]
        return found

    def madds_m(self, point: GridPoint) -> float:
        """MAdds (millions) of the point's architecture, counted as the papers count them."""
        if point not in self._madds:
            from deploy.models.counting import complexity
            from deploy.models.families import create_architecture

            module = create_architecture(point.family, point.width)
            self._madds[point] = complexity(module, point.resolution).madds_m
        return self._madds[point]

    def expected_identity(self) -> tuple[str, str] | None:
        """(device id, config key) the runs will be stored under, where known before connecting
        (this host); None for a phone or board (known once connected)."""
        from bench.targets.host import HostTarget, host_device

        if isinstance(self.target, HostTarget):
            return host_device().id, self.target.variants(self.settings.config)[0].key
        return None

    def estimate(self, pairs: Sequence[Pair]) -> plan.TimeEstimate:
        """The time estimate of bringing `pairs` to the sweep's rounds (see `bench.sweep.plan`)."""
        settings = self.settings
        cached = self.cached(pairs)
        identity = self.expected_identity()
        basis = []
        entries = self._manifest().entries if self.manifest_path.exists() else []
        export_s = plan.median_export_s(entries)
        for name, recipe in self.recipes.items():
            if name in export_s:
                basis.append(f"export {name}: {export_s[name]:.0f} s (median of earlier exports)")
            else:
                default = plan.DEFAULT_EXPORT_S.get(recipe.precision, 30.0)
                basis.append(f"export {name}: {default:.0f} s assumed (none exported here yet)")
        gmacs: dict[str, float] = {}
        stored: dict[Pair, int] = {}
        with Store.open(settings.store_path) as store:
            for name in self.recipes:
                rate = device_gmacs(store, identity[0], name) if identity else None
                if rate is not None:
                    gmacs[name] = rate
                    basis.append(f"{name}: {rate:.1f} GMAC/s from this device's stored runs")
                else:
                    basis.append(f"{name}: {plan.DEFAULT_GMACS:g} GMAC/s assumed")
            if identity is not None and settings.skip_stored:
                for pair, entry in cached.items():
                    stored[pair] = store.rounds_done(identity[0], entry.sha256, identity[1])[1]
        if identity is None:
            basis.append("stored rounds are known once the device is connected: none assumed")
        jobs = [
            plan.Job(
                point,
                recipe,
                self.recipes[recipe].precision,
                self.madds_m(point),
                exported=(point, recipe) in cached,
                rounds_stored=stored.get((point, recipe), 0),
            )
            for point, recipe in pairs
        ]
        return plan.estimate(jobs, settings.rounds, settings.config, export_s, gmacs, basis)

    # -- exporting and measuring ----------------------------------------------------------------

    def export(self, pairs: Sequence[Pair]) -> None:
        """Export every pair not exported yet (cache hits cost nothing); one point's lowering
        failure marks that point, the others go on."""
        from deploy.errors import ExportError, WeightsUnavailableError
        from deploy.export.pipeline import export_many

        todo = [pair for pair in pairs if pair not in self.state.entries]
        self.ui.exporting(len(todo))
        by_point: dict[GridPoint, list[str]] = {}
        for point, recipe in todo:
            by_point.setdefault(point, []).append(recipe)
        for point, recipes in by_point.items():
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore")  # the toolchain's chatter; ours still shows
                warnings.filterwarnings("default", module=r"(deploy|bench)(\.|$)")
                try:
                    outcomes = export_many(
                        [point.spec(self.settings.weights)],
                        [self.recipes[name] for name in recipes],
                        out_dir=self.settings.out_dir,
                        calibration_dir=self.settings.calibration_dir,
                        progress=self.ui.export_event,
                    )
                except (ExportError, WeightsUnavailableError) as exc:
                    for name in recipes:
                        self.state.invalid[(point, name)] = str(exc)
                        self.ui.say(f"error: {point.name} {name}: {exc}")
                    continue
            for outcome in outcomes:
                pair = (point, outcome.recipe.name)
                if outcome.valid:
                    self.state.entries[pair] = outcome.entry
                else:
                    failures = "; ".join(outcome.entry.fidelity.get("failures", []))
                    self.state.invalid[pair] = f"invalid export: {failures or 'validation failed'}"
                    self.ui.say(f"error: {point.name} {pair[1]}: {self.state.invalid[pair]}")

    def measure(self, pairs: Sequence[Pair]) -> None:
        """Measure the exported pairs in one session (rounds interleaved across them), skipping
        what the store has."""
        manifest = self._manifest()
        artifacts = [
            Artifact(ArtifactRecord.from_manifest_entry(entry), manifest.path_of(entry))
            for pair in pairs
            if (entry := self.state.entries.get(pair)) is not None
        ]
        if not artifacts:
            return
        settings = self.settings
        identity = self.expected_identity()
        rounds = len(artifacts) * settings.rounds
        if identity is not None and settings.skip_stored:
            device_id, key = identity
            with Store.open(settings.store_path) as store:
                done = [store.rounds_done(device_id, a.record.sha256, key)[1] for a in artifacts]
            rounds = sum(max(0, settings.rounds - n) for n in done)
        self.ui.measuring(rounds)
        if hasattr(self.target, "needed_bytes"):  # a phone or board checks its free space
            self.target.needed_bytes = sum(a.record.size_bytes or 0 for a in artifacts)
        watched = _Watched(self.target, self.ui.round_done)
        (outcome,) = run_session(
            [cast(Target, watched)],
            artifacts,
            settings.config,
            settings.store_path,
            rounds=settings.rounds,
            skip_stored=settings.skip_stored,
            say=self._say,
        )
        self.state.outcomes.append(outcome)
        if outcome.error and not outcome.rows:
            raise BenchError(outcome.error)
        state = self.state
        state.device = watched.device or state.device
        state.provenance = outcome.provenance or state.provenance
        state.config_key = watched.keys[0] if watched.keys else state.config_key
        by_name = {(point.name, recipe): (point, recipe) for point, recipe in pairs}
        for row in outcome.rows:
            pair = by_name.get((row.model, row.recipe))
            if pair is not None and row.status == "failed":
                state.failed[pair] = row.error or "failed"

    def _say(self, _label: str, message: str) -> None:
        """The session's progress lines (its plain "connecting" is left out)."""
        if message != "connecting":
            self.ui.say(message)

    # -- the whole sweep --------------------------------------------------------------------------

    def stage(self, pairs: Sequence[Pair]) -> None:
        """Export then measure `pairs` (one stage of a sweep)."""
        self.state.planned |= set(pairs)
        self.state.stages += 1
        self.export(pairs)
        self.measure(pairs)
        self.ui.stage_done()

    def first_pairs(self, points: Sequence[GridPoint], quick: bool) -> list[Pair]:
        """Full: every (point, recipe). Quick: the corners and diagonal of each family's grid
        among the points with a top-1 for the recipe."""
        if not quick:
            return [(p, r) for r in self.recipes for p in points]
        top1 = self.known_top1(points)
        pairs = []
        for recipe in self.recipes:
            with_top1 = [p for p in points if (p, recipe) in top1]
            pairs += [(p, recipe) for p in corners_and_diagonal(with_top1)] if with_top1 else []
        return pairs

    def known_top1(self, points: Sequence[GridPoint]) -> dict[Pair, float]:
        """The top-1 known before measuring: measured for an exported and evaluated artifact,
        else the papers'."""
        pairs = [(p, r) for r in self.recipes for p in points]
        entries = {**self.cached(p for p in pairs if p not in self.state.entries)}
        entries.update(self.state.entries)
        found = {}
        with Store.open(self.settings.store_path) as store:
            for name, recipe in self.recipes.items():
                shas = {p.name: e.sha256 for (p, r), e in entries.items() if r == name}
                known = accuracies(store, [p.name for p in points], recipe.precision, shas)
                found.update({(p, name): known[p.name].top1 for p in points if p.name in known})
        return found

    def run(
        self, points: Sequence[GridPoint], *, quick: bool, first: Sequence[Pair] | None = None
    ) -> dict[str, list[Result]]:
        """Measure the sweep (quick: seed, then refine until nothing could change the frontier)
        and return every point's result per recipe."""
        pairs = list(first) if first is not None else self.first_pairs(points, quick)
        while pairs:
            self.stage(pairs)
            if not quick:
                break
            results = self.results(points)
            pairs = []
            for recipe in self.recipes:
                top1 = {r.point: r.top1 for r in results[recipe] if r.top1 is not None}
                candidates = [p for p in points if p in top1]
                tried = [r for r in results[recipe] if (r.point, recipe) in self.state.planned]
                pairs += [(p, recipe) for p in plan.refinement(candidates, top1, tried)]
            if pairs:
                self.ui.say(
                    f"refining near the frontier: {len(pairs)} more point(s) x recipe: "
                    + ", ".join(f"{p.name} {r}" for p, r in pairs)
                )
        return self.results(points)

    def results(self, points: Sequence[GridPoint]) -> dict[str, list[Result]]:
        """Every point under every recipe, as the store has it now."""
        state = self.state
        unplanned = [(p, r) for r in self.recipes for p in points if (p, r) not in state.entries]
        entries = {**self.cached(unplanned), **state.entries}
        with Store.open(self.settings.store_path) as store:
            return collect(
                store,
                state.device.id if state.device is not None else "",
                state.config_key,
                points,
                list(self.recipes.values()),
                {pair: entry.sha256 for pair, entry in entries.items()},
                madds_m={pair: entry.madds / 1e6 for pair, entry in entries.items() if entry.madds},
                invalid=state.invalid,
                failed=state.failed,
                planned=state.planned,
                count_madds=self.madds_m,
            )


def collect(
    store: Store,
    device_id: str,
    config_key: str,
    points: Sequence[GridPoint],
    recipes: Sequence[Recipe],
    shas: Mapping[Pair, str],
    *,
    madds_m: Mapping[Pair, float] | None = None,
    invalid: Mapping[Pair, str] | None = None,
    failed: Mapping[Pair, str] | None = None,
    planned: Iterable[Pair] | None = None,
    count_madds: Callable[[GridPoint], float] | None = None,
) -> dict[str, list[Result]]:
    """recipe -> a Result per point: the latency of its artifact (`shas`) as stored for the
    device and config, its top-1 (measured for that artifact, else the papers'), and why it has
    no latency (`invalid` export, `failed` rounds, not tried by --quick: not in `planned`)."""
    invalid, failed = invalid or {}, failed or {}
    planned_pairs = set(planned) if planned is not None else None
    madds_m = madds_m or {}
    out: dict[str, list[Result]] = {}
    for recipe in recipes:
        rows = []
        named = {p.name: sha for (p, r), sha in shas.items() if r == recipe.name}
        placed_at = accuracies(store, [p.name for p in points], recipe.precision, named)
        for point in points:
            pair = (point, recipe.name)
            sha = shas.get(pair, "")
            estimate = None
            if sha and device_id and config_key:
                estimate = stored_estimate(store, device_id, sha, config_key)
            accuracy = placed_at.get(point.name)
            status, note = MEASURED, ""
            if pair in invalid:
                status, note = INVALID, invalid[pair]
            elif estimate is None and pair in failed:
                status, note = FAILED, failed[pair]
            elif estimate is None:
                status = NOT_MEASURED
                if planned_pairs is not None and pair not in planned_pairs:
                    note = "--quick: not tried" if accuracy else "--quick: no top-1"
            madds = madds_m.get(pair)
            if madds is None and count_madds is not None:
                madds = count_madds(point)
            rows.append(
                Result(
                    point,
                    recipe.name,
                    recipe.precision,
                    sha,
                    estimate,
                    accuracy,
                    status,
                    note,
                    madds,
                )
            )
        out[recipe.name] = rows
    return out
